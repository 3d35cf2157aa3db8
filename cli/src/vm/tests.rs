//! `rig proxy --service-def` against the fake Consul agent: which proxy runs, what
//! --register leaves at the agent while it runs and after, and how failures read.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use clap::Parser;
use rigging_mesh_service_definition::{AgentClient, AgentConfig};
use rigging_mesh_test_util::fake_consul::FakeConsul;
use rigging_proxy_app::{Proxy, ProxyOptions};
use serde_json::{Map, Value};

use super::*;

const WEB: &str = r#"
service {
  name = "web"
  id   = "web-1"
  port = 8080
  connect {
    sidecar_service {
      proxy {
        upstreams = [{ destination_name = "api", local_bind_port = 9191 }]
      }
    }
  }
}
"#;

const API: &str =
    r#"{"service": {"name": "api", "port": 9000, "connect": {"sidecar_service": {}}}}"#;

#[derive(Debug, clap::Parser)]
struct Cli {
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    vm: VmArgs,
}

/// `Session::resolve` for `rig proxy <args>`.
async fn session(args: &[&str]) -> anyhow::Result<Session> {
    let cli = Cli::try_parse_from(std::iter::once("proxy").chain(args.iter().copied()))?;
    Session::resolve(&cli.vm, cli.id.as_deref(), false).await
}

/// `text` written to `<dir>/<name>`, as a string argument.
fn file(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn agent_services(fake: &FakeConsul) -> Map<String, Value> {
    let client = AgentClient::new(&AgentConfig::new(fake.url())).unwrap();
    client.services().await.unwrap()
}

#[tokio::test]
async fn vm_register_runs_registered_and_deregisters_on_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let web = file(dir.path(), "web.hcl", WEB);
    let fake = FakeConsul::start().await;
    // Another service of the agent holds 21000: the sidecar gets 21001, as Consul would pick.
    let other = AgentClient::new(&AgentConfig::new(fake.url())).unwrap();
    let body = ServiceRegistration {
        name: "legacy".to_owned(),
        port: Some(21000),
        ..ServiceRegistration::default()
    };
    other.register(&body, None).await.unwrap();

    let url = fake.url();
    let s = session(&["--service-def", &web, "--register", "--consul", &url])
        .await
        .unwrap();
    assert_eq!(s.proxy_id, "web-1-sidecar-proxy");
    assert_eq!(s.service(), Some("web"));
    assert_eq!(s.plan.as_ref().map(|p| p.sidecar_port), Some(21001));

    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let seen = Mutex::new(None);
    let shutdown = async {
        started_rx.await.unwrap();
        *seen.lock().unwrap() = Some(agent_services(&fake).await);
    };
    let start = |id: String, service: Option<String>| async move {
        assert_eq!(
            (id.as_str(), service.as_deref()),
            ("web-1-sidecar-proxy", Some("web"))
        );
        let mut opts = ProxyOptions::new(id, "");
        opts.admin_addr = "127.0.0.1:0".parse()?;
        let proxy = Proxy::start(opts).await?;
        started_tx.send(()).ok();
        Ok(proxy)
    };
    let code = s.run_until(start, shutdown).await.unwrap();
    assert_eq!(code, ExitCode::SUCCESS);

    // while it ran: the service and its sidecar, with Consul's defaults
    let running = seen.into_inner().unwrap().unwrap();
    assert_eq!(running["web-1"]["Port"], 8080);
    let sidecar = &running["web-1-sidecar-proxy"];
    assert_eq!(sidecar["Kind"], "connect-proxy");
    assert_eq!(sidecar["Service"], "web-sidecar-proxy");
    assert_eq!(sidecar["Port"], 21001);
    assert_eq!(sidecar["Proxy"]["DestinationServiceID"], "web-1");
    assert_eq!(sidecar["Proxy"]["LocalServiceAddress"], "127.0.0.1");
    assert_eq!(sidecar["Proxy"]["LocalServicePort"], 8080);
    assert_eq!(sidecar["Proxy"]["Upstreams"][0]["DestinationName"], "api");
    assert_eq!(sidecar["Proxy"]["Upstreams"][0]["LocalBindPort"], 9191);
    // after shutdown: both gone, the other service untouched
    let after = agent_services(&fake).await;
    assert_eq!(after.keys().collect::<Vec<_>>(), ["legacy"], "{after:?}");
}

#[tokio::test]
async fn vm_proxy_that_fails_to_start_is_deregistered() {
    let dir = tempfile::tempdir().unwrap();
    let web = file(dir.path(), "web.hcl", WEB);
    let fake = FakeConsul::start().await;
    let url = fake.url();
    let s = session(&["--service-def", &web, "--register", "--consul", &url])
        .await
        .unwrap();
    let start = |_: String, _: Option<String>| async {
        anyhow::bail!("no certificate");
    };
    let err = s
        .run_until(start, std::future::pending())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "no certificate");
    assert!(agent_services(&fake).await.is_empty());
}

#[tokio::test]
async fn vm_bad_token_is_refused_with_consuls_status_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let web = file(dir.path(), "web.hcl", WEB);
    let fake = FakeConsul::start().await;
    fake.require_token(Some("right"));
    let url = fake.url();
    let args = [
        "--service-def",
        &web,
        "--register",
        "--consul",
        &url,
        "--consul-token",
        "wrong",
    ];
    let err = session(&args).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("403") && text.contains("ACL not found"),
        "{text}"
    );

    // With the right token, a registration Consul refuses still names status and body.
    let args = [
        "--service-def",
        &web,
        "--register",
        "--consul",
        &url,
        "--consul-token",
        "right",
    ];
    let s = session(&args).await.unwrap();
    fake.set_failing(true);
    let start = |_: String, _: Option<String>| async { anyhow::bail!("not reached") };
    let err = s
        .run_until(start, std::future::pending())
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("registering \"web\"")
            && text.contains("500")
            && text.contains("No cluster leader"),
        "{text}"
    );
}

#[tokio::test]
async fn vm_broken_corpus_file_is_a_located_error() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let corpus = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    };
    let broken = corpus.join("consul-services/docs-proxy-registration-complete.hcl");
    if !broken.is_file() {
        eprintln!("skipped: {} is absent", broken.display());
        return;
    }
    let err = session(&["--service-def", &broken.display().to_string()])
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("docs-proxy-registration-complete.hcl:4:9")
            && text.contains("is never closed"),
        "{text}"
    );
}

#[tokio::test]
async fn vm_service_picks_one_of_several_and_id_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (web, api) = (
        file(dir.path(), "web.hcl", WEB),
        file(dir.path(), "api.json", API),
    );
    let err = session(&["--service-def", &web, "--service-def", &api])
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("2 sidecars")
            && text.contains("web (service ID web-1, proxy web-1-sidecar-proxy)")
            && text.contains("api (service ID api, proxy api-sidecar-proxy)")
            && text.contains("--service"),
        "{text}"
    );
    let s = session(&[
        "--service-def",
        &web,
        "--service-def",
        &api,
        "--service",
        "api",
    ])
    .await
    .unwrap();
    assert_eq!(s.proxy_id, "api-sidecar-proxy");
    // ports are planned over every file: web's sidecar took 21000
    assert_eq!(s.plan.as_ref().map(|p| p.sidecar_port), Some(21001));
    let err = session(&["--service-def", &web, "--service", "db"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no sidecar for it"), "{err}");

    let ok = session(&["--service-def", &web, "--id", "web-1-sidecar-proxy"]).await;
    assert_eq!(ok.unwrap().proxy_id, "web-1-sidecar-proxy");
    let err = session(&["--service-def", &web, "--id", "web-1"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("drop --id"), "{err}");
    let err = session(&[]).await.unwrap_err();
    assert!(err.to_string().contains("--id, or --service-def"), "{err}");
    assert_eq!(session(&["--id", "w"]).await.unwrap().proxy_id, "w");
    // --register only with definitions
    assert!(session(&["--id", "w", "--register"]).await.is_err());
}

#[tokio::test]
async fn vm_example_web_hcl_parses_and_plans() {
    let path: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/vm/web.hcl");
    let s = session(&["--service-def", &path.display().to_string()])
        .await
        .unwrap();
    assert_eq!(s.proxy_id, "web-vm1-sidecar-proxy");
    let plan = s.plan.as_ref().unwrap();
    assert_eq!(plan.sidecar_port, 21000);
    assert_eq!(
        plan.local_app.socket_addr(),
        Some("127.0.0.1:8080".parse().unwrap())
    );
    let ups: Vec<_> = plan
        .upstreams
        .iter()
        .map(|u| (u.destination_name.as_str(), u.bind.socket_addr()))
        .collect();
    assert_eq!(
        ups,
        [
            ("api", Some("127.0.0.1:9191".parse().unwrap())),
            ("payments", Some("127.0.0.1:9292".parse().unwrap()))
        ]
    );
}
