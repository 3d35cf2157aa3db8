//! An ingress gateway in a secured mesh, end to end with the real `rig` binary: `rig up` with
//! mTLS (Citadel, xDS over mTLS, strict sidecars), the gateway proving itself to Citadel with
//! a bootstrap token for its own service `edge`, then plaintext HTTP from outside through the
//! gateway and mTLS from the gateway to `api`'s sidecar. A gateway holding another service's
//! certificate refuses to start.
//!
//! The test prints every process's log, the registry and the config entries when it fails.

use std::time::Duration;

use anyhow::Context;
use http::Method;
use rigging_tests::{
    RigStack, ensure_synced, eventually, free_port, loopback, pilot_syncz, request_host,
    start_secured_edge, strs,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_reaches_strict_sidecars_with_its_own_identity() -> anyhow::Result<()> {
    let mut stack = RigStack::new("rigging-gateway-mtls-").await?;
    let http = free_port();
    let mesh = start_secured_edge(&mut stack, &entries(http), &[]).await?;
    let (dir, citadel, pilot) = (stack.dir().to_owned(), mesh.citadel, mesh.pilot.clone());
    eventually("both proxies synced", STARTUP, async || {
        stack.check_running()?;
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
