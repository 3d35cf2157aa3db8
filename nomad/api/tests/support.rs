//! Shared by the integration tests: a client for a fake, and jobs to submit.
#![allow(dead_code)]

use rigging_mesh_test_util::fake_nomad::FakeNomad;
use rigging_nomad_api::{Job, NomadClient};
use serde_json::json;

/// A client configured from these variables only.
pub fn client_with(vars: &[(&str, &str)]) -> NomadClient {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    NomadClient::from_env(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
        .expect("client")
}

/// A client of `fake` with no token, namespace or region.
pub fn client(fake: &FakeNomad) -> NomadClient {
    client_with(&[("NOMAD_ADDR", &fake.url())])
}

/// Job `web`: one group `web` of `count` with task `app` running `image` under docker.
pub fn web_job(count: u64, image: &str) -> Job {
    Job::from_value(json!({
        "ID": "web", "Name": "web", "Type": "service", "Datacenters": ["dc1"],
        "TaskGroups": [{
            "Name": "web", "Count": count,
            "Tasks": [{
                "Name": "app", "Driver": "docker",
                "Config": {"image": image, "ports": ["http"]},
                "Env": {"MODE": "prod"},
                "Resources": {"CPU": 100, "MemoryMB": 128},
            }],
        }],
    }))
    .expect("a job")
}

/// The corpus job `plain-command-testdata-example-short.json`, or `None` (with a message)
/// when the corpus is not there.
pub fn corpus_job() -> Option<Job> {
    let root = std::env::var("RIGGING_CORPUS").unwrap_or_else(|_| "../shared/corpus".to_owned());
    // cargo runs tests in the crate's folder; the default is relative to the workspace root
    let candidates = [
        std::path::PathBuf::from(&root),
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .join(&root),
    ];
    for dir in candidates {
        let path = dir.join("nomad/plain-command-testdata-example-short.json");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Some(Job::from_json(&text).expect("the corpus job is a job"));
        }
    }
    eprintln!("skipped: corpus not found under {root} (set RIGGING_CORPUS)");
    None
}
