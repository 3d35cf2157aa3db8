//! Conformance over the Nomad jobs in the shared corpus: every job parses as Nomad's HCL2
//! parser would; renders to HCL and to API JSON and back without change; validation passes
//! or fails exactly where Nomad would refuse the job.
//!
//! The `jobspec-test-fixtures-*` files were written for the HCL1 parser. Each was checked
//! here: all of them are also valid HCL2 (plain blocks and attributes, `meta { test-key = … }`
//! uses identifiers with dashes, which HCL2 allows), so Nomad 1.x's jobspec2 parses all of
//! them and so do we. None is expected to fail parsing. They are parser fixtures, not
//! runnable jobs, though: several lack the bridge network or the port labels a Connect job
//! needs, and [`EXPECTED_INVALID`] lists the rule each breaks.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rigging_nomad_jobspec::{Job, Variables, parse, parse_json};

/// `$RIGGING_CORPUS` (relative to the workspace root), or `../shared/corpus` from there.
fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    };
    if dir.join("nomad").is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus folder {} is absent", dir.display());
        None
    }
}

fn files(corpus: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(corpus.join("nomad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Files Nomad parses but refuses on submit, and a word from the first error we report.
/// All are HCL1-era parser fixtures: a group with Connect but no `network { mode = "bridge" }`,
/// or an expose path whose listener port label the group does not define.
const EXPECTED_INVALID: &[(&str, &str)] = &[
    (
        "jobspec-test-fixtures-tg-service-check-expose.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-sidecar_disablecheck.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-sidecar_meta.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-sidecar_task-name.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-proxy-expose.hcl",
        "exactly one network block",
    ),
];

fn read(path: &Path) -> Job {
    let text = std::fs::read_to_string(path).unwrap();
    parse(path, &text, &Variables::new()).unwrap_or_else(|e| panic!("{}: {e}", name(path)))
}

#[test]
fn every_corpus_job_parses_renders_and_round_trips() {
    let Some(corpus) = corpus() else { return };
    let files = files(&corpus);
    assert!(
        files.len() >= 20,
        "expected the Nomad corpus, found {} files",
        files.len()
    );
    for path in &files {
        let job = read(path);
        let n = name(path);

        // HCL: render, parse the rendering, render again: identical text, identical job
        let hcl = job.to_hcl();
        let again = parse("rendered.hcl", &hcl, &Variables::new())
            .unwrap_or_else(|e| panic!("{n}: rendered HCL does not parse: {e}\n{hcl}"));
        assert_eq!(again.to_hcl(), hcl, "{n}: HCL rendering is not stable");
        assert_eq!(
            again.to_api_json(),
            job.to_api_json(),
            "{n}: HCL round trip changed the job"
        );

        // JSON: render, parse the rendering, render again: identical
        let json = job.to_api_json();
        let from_json = parse_json("rendered.json", &json.to_string())
            .unwrap_or_else(|e| panic!("{n}: rendered JSON does not parse: {e}"));
        assert_eq!(
            from_json.to_api_json(),
            json,
            "{n}: JSON round trip changed the job"
        );
        let via_json_hcl = from_json.to_hcl();
        let back = parse("via-json.hcl", &via_json_hcl, &Variables::new()).unwrap();
        assert_eq!(
            back.to_hcl(),
            via_json_hcl,
            "{n}: HCL of a JSON job is not stable"
        );

        let verdict = match (
            job.validate(),
            EXPECTED_INVALID.iter().find(|(f, _)| *f == n),
        ) {
            (Ok(()), None) => "valid".to_owned(),
            (Err(e), Some((_, word))) => {
                assert!(
                    e.to_string().contains(word),
                    "{n}: expected {word:?} in\n{e}"
                );
                assert!(
                    e.errors
                        .iter()
                        .all(|x| x.location.is_some() || n.ends_with(".json")),
                    "{n}: unlocated error {e}"
                );
                format!("invalid as expected: {}", e.errors[0])
            }
            (Ok(()), Some(_)) => panic!("{n}: expected a validation error"),
            (Err(e), None) => panic!("{n}: unexpected validation errors:\n{e}"),
        };
        println!(
            "{n}: parsed, {} group(s), HCL and JSON round trips stable; {verdict}",
            job.groups().len()
        );
    }
}

/// Removes `null` members, recursively: what a parser that drops them must give back.
fn without_nulls(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(o) => serde_json::Value::Object(
            o.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.iter().map(without_nulls).collect())
        }
        other => other.clone(),
    }
}

#[test]
fn api_json_job_comes_back_field_for_field() {
    let Some(corpus) = corpus() else { return };
    let path = corpus.join("nomad/plain-command-testdata-example-short.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let input: serde_json::Value = serde_json::from_str(&text).unwrap();
    let job = read(&path);
    assert_eq!(job.id(), "example");
    assert_eq!(job.datacenters(), ["dc1"]);
    let g = job.group("cache").unwrap();
    let net = &g.networks()[0];
    assert_eq!(net.ports()[0].label(), "db");
    assert_eq!(net.ports()[0].to(), Some(6379));
    let t = g.task("redis").unwrap();
    assert_eq!(t.resources(), (Some(500), Some(256)));
    assert_eq!(without_nulls(&job.to_api_json()), without_nulls(&input));
}

#[test]
fn runtime_placeholders_survive_parse_and_render() {
    let Some(corpus) = corpus() else { return };
    let job = read(&corpus.join("nomad/command-asset-connect.nomad.hcl"));
    let task = job.group("dashboard").unwrap().task("dashboard").unwrap();
    let url = task
        .env()
        .into_iter()
        .find(|(k, _)| *k == "COUNTING_SERVICE_URL")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        url.as_str(),
        Some("http://${NOMAD_UPSTREAM_ADDR_count_api}")
    );
    assert!(
        job.to_hcl()
            .contains("\"http://${NOMAD_UPSTREAM_ADDR_count_api}\"")
    );

    let job = read(&corpus.join("nomad/e2e-consul-input-namespaces-connect_terminating.nomad"));
    let api = job.to_api_json();
    assert_eq!(
        api["Job"]["Constraints"][0]["LTarget"],
        "${attr.kernel.name}"
    );
    let env = &api["Job"]["TaskGroups"][5]["Tasks"][0]["Env"];
    assert_eq!(
        env["COUNTING_SERVICE_URL"],
        "http://${NOMAD_UPSTREAM_ADDR_count_api-z}"
    );
}
