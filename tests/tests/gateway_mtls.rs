//! An ingress gateway in a secured mesh, end to end with the real `rig` binary: `rig up` with
//! mTLS (Citadel, xDS over mTLS, strict sidecars), the gateway proving itself to Citadel with
//! a bootstrap token for its own service `edge`, then plaintext HTTP from outside through the
//! gateway and mTLS from the gateway to `api`'s sidecar. A gateway holding another service's
//! certificate refuses to start.
//!
//! The test prints every process's log, the registry and the config entries when it fails.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use http::Method;
use rigging_tests::{
    RigStack, ensure_synced, eventually, free_port, loopback, pilot_syncz, request, request_host,
};

/// Time for the control plane to start, the proxies to get their certificates and their
/// first configuration.
const STARTUP: Duration = Duration::from_secs(30);
/// Node id of the gateway `edge` bound on loopback.
const EDGE_NODE: &str = "ingress-gateway~127.0.0.1~edge";

fn entries(port: u16) -> String {
    format!(
        r#"Kind = "ingress-gateway"
Name = "edge"
Listeners = [
  {{
    Port     = {port}
    Protocol = "http"
    Services = [ {{ Name = "api", Hosts = ["api.example.com"] }} ]
  }},
]
"#
    )
}

const API_HTTP: &str = r#"Kind = "service-defaults"
Name = "api"
Protocol = "http"
"#;

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_reaches_strict_sidecars_with_its_own_identity() -> anyhow::Result<()> {
    let mut stack = RigStack::new("rigging-gateway-mtls-").await?;
    let dir = stack.dir().to_owned();
    let (registry, entries_dir) = (dir.join("registry.hcl"), dir.join("entries"));
    std::fs::create_dir(&entries_dir)?;
    stack.show_on_failure(&registry);
    stack.show_on_failure(&entries_dir);
    let (app, sidecar, http, citadel) =
        (free_port(), free_port(), free_port(), loopback(free_port()));
    write(&entries_dir.join("api.hcl"), API_HTTP)?;
    write(&entries_dir.join("edge.hcl"), &entries(http))?;
    write(
        &registry,
        &format!(
            "service \"api\" {{\n  protocol = \"http\"\n\n  instance \"api-1\" {{\n    \
             address = \"127.0.0.1\"\n    port    = {app}\n    sidecar {{ port = {sidecar} }}\n  }}\n}}\n"
        ),
    )?;

    let up = [
        "up".to_owned(),
        "--registry".to_owned(),
        registry.display().to_string(),
        "--config-entries".to_owned(),
        entries_dir.display().to_string(),
        "--xds-addr".to_owned(),
        stack.xds.to_string(),
        "--debug-addr".to_owned(),
        stack.debug.to_string(),
        "--citadel-addr".to_owned(),
        citadel.to_string(),
        "--citadel-state".to_owned(),
        dir.join("citadel").display().to_string(),
    ];
    stack.spawn("rig-up", &strs(&up))?;
    let bundle = dir.join("citadel").join("trust-bundle.pem");
    eventually("rig up writes its trust bundle", STARTUP, async || {
        stack.check_running()?;
        let pem = std::fs::read_to_string(&bundle).unwrap_or_default();
        anyhow::ensure!(pem.contains("BEGIN CERTIFICATE"), "no bundle yet");
        Ok(())
    })
    .await?;

    let listen = loopback(app).to_string();
    stack.spawn(
        "api-1-app",
        &[
            "example-app",
            "--kind",
            "http",
            "--service",
            "api",
            "--app-version",
            "v1",
            "--instance",
            "api-1",
            "--listen",
            &listen,
        ],
    )?;
    let pilot = format!("http://{}", stack.xds);
    let admins = [
        ("api-1", loopback(free_port()), "api"),
        ("edge", loopback(free_port()), "edge"),
    ];
    for (id, admin, service) in admins {
        let mut args = vec![
            "proxy".to_owned(),
            "--id".to_owned(),
            id.to_owned(),
            "--pilot".to_owned(),
            pilot.clone(),
            "--admin".to_owned(),
            admin.to_string(),
        ];
        if id == "edge" {
            args.extend(["--gateway".to_owned(), "ingress".to_owned()]);
        }
        args.extend(stack.bootstrap_identity(citadel, id, service).await?);
        stack.spawn(&format!("{id}-proxy"), &strs(&args))?;
    }
    eventually("both proxies ready and synced", STARTUP, async || {
        stack.check_running()?;
        for (id, admin, _) in admins {
            let reply = request(admin, Method::GET, "/ready", &[], "", false).await?;
            anyhow::ensure!(reply.status == 200, "{id}: {} {}", reply.status, reply.body);
        }
        let syncz = pilot_syncz(stack.debug).await?;
        ensure_synced(&syncz, "api-1")?;
        ensure_synced(&syncz, EDGE_NODE)
    })
    .await?;
    let syncz = pilot_syncz(stack.debug).await?;
    let edge = syncz["proxies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["proxy"] == EDGE_NODE))
        .context("the gateway in /debug/syncz")?;
    assert_eq!(
        edge["spiffe_id"], "spiffe://rigging.local/ns/default/dc/dc1/svc/edge",
        "{edge}"
    );

    let gateway = loopback(http);
    let reply = eventually("api answers through the gateway", STARTUP, async || {
        let reply = request_host(gateway, "api.example.com", Method::GET, "/", &[]).await?;
        anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
        Ok(reply)
    })
    .await?;
    assert_eq!(reply.header("x-served-by"), "api-1");
    let reply = request_host(gateway, "other.example.com", Method::GET, "/", &[]).await?;
    assert_eq!(reply.status, 404, "{}", reply.body);

    // a gateway with api's certificate is not edge
    let mut args = vec![
        "proxy".to_owned(),
        "--gateway".to_owned(),
        "ingress".to_owned(),
        "--id".to_owned(),
        "edge".to_owned(),
        "--pilot".to_owned(),
        pilot.clone(),
        "--admin".to_owned(),
        loopback(free_port()).to_string(),
        "--gateway-bind".to_owned(),
        "127.0.0.2".to_owned(),
    ];
    args.extend(stack.bootstrap_identity(citadel, "impostor", "api").await?);
    stack.spawn("impostor-proxy", &strs(&args))?;
    let log = dir.join("impostor-proxy.log");
    eventually("the impostor refuses to start", STARTUP, async || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        anyhow::ensure!(
            text.contains("a gateway's identity is its own service edge"),
            "not yet: {text}"
        );
        Ok(())
    })
    .await?;
    stack.kill("impostor-proxy");

    stack.check_running()?;
    stack.pass();
    Ok(())
}
