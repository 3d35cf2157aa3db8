//! An ingress gateway serving TLS to clients outside the mesh, end to end with the real `rig`
//! binary and real curl: `rig up` with Citadel and an `ingress-gateway` entry whose listener
//! has `TLS { Enabled = true }`. Citadel issues the gateway's certificate with the
//! listener's hosts as DNS names; curl, trusting only the mesh's bundle, checks the name and
//! gets through over HTTP/1.1 and h2, and a plaintext client is refused. A listener pinned to
//! TLS 1.3 refuses TLS 1.2. Adding a host to the entry makes the gateway renew its
//! certificate, and the new host works without a restart.
//!
//! The test prints every process's log, the registry and the config entries when it fails.

use std::time::Duration;

use http::Method;
use rigging_tests::{
    RigStack, curl, eventually, free_port, loopback, request, start_secured_edge, write,
};

/// Time for the control plane to start, the proxies to get their certificates and their
/// first configuration.
const STARTUP: Duration = Duration::from_secs(30);

fn edge_entry(http: u16, strict: u16, hosts: &[&str]) -> String {
    let hosts: Vec<String> = hosts.iter().map(|h| format!("{h:?}")).collect();
    format!(
        r#"Kind = "ingress-gateway"
Name = "edge"
TLS {{
  Enabled = true
}}
Listeners = [
  {{
    Port     = {http}
    Protocol = "http"
    Services = [ {{ Name = "api", Hosts = [{}] }} ]
  }},
  {{
    Port     = {strict}
    Protocol = "http"
    TLS      = {{ TLSMinVersion = "TLSv1_3" }}
    Services = [ {{ Name = "api", Hosts = ["strict.example.com"] }} ]
  }},
]
"#,
        hosts.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_serves_tls_with_a_certificate_for_its_hosts() -> anyhow::Result<()> {
    let mut stack = RigStack::new("rigging-gateway-tls-").await?;
    let (https, strict) = (free_port(), free_port());
    let mesh = start_secured_edge(
        &mut stack,
        &edge_entry(https, strict, &["api.example.com"]),
        &[],
    )
    .await?;
    let (bundle, edge) = (&mesh.bundle, mesh.entries_dir.join("edge.hcl"));
    let gateway = loopback(https);
    eventually(
        "api answers over TLS through the gateway",
        STARTUP,
        async || {
            curl(bundle, "api.example.com", gateway, &["--http1.1"])
                .await?
                .ensure("200 1.1")
        },
    )
    .await?;
    let h2 = curl(bundle, "api.example.com", gateway, &["--http2"]).await?;
    h2.ensure("200 2")?;
    assert!(h2.stdout.contains("x-served-by: api-1"), "{}", h2.stdout);
    let tls12 = curl(bundle, "api.example.com", gateway, &["--tls-max", "1.2"]).await?;
    tls12.ensure("200 2")?;

    // The certificate names the hosts and nothing else.
    let other = curl(bundle, "www.example.com", gateway, &[]).await?;
    assert!(
        !other.ok
            && other
                .stderr
                .contains("no alternative certificate subject name matches"),
        "{}{}",
        other.stdout,
        other.stderr
    );
    // A plaintext client is refused, not served.
    let plain = request(gateway, Method::GET, "/", &[], "", false).await;
    assert!(plain.is_err(), "plaintext got an answer: {plain:?}");
    // The second listener takes TLS 1.3 only.
    let pinned = loopback(strict);
    curl(bundle, "strict.example.com", pinned, &[])
        .await?
        .ensure("200 2")?;
    let old = curl(bundle, "strict.example.com", pinned, &["--tls-max", "1.2"]).await?;
    assert!(!old.ok, "TLS 1.2 accepted: {}", old.stdout);

    // A new host: the gateway gets a certificate naming it, without a restart.
    write(
        &edge,
        &edge_entry(https, strict, &["api.example.com", "www.example.com"]),
    )?;
    eventually(
        "the new host is served with a valid certificate",
        STARTUP,
        async || {
            curl(bundle, "www.example.com", gateway, &[])
                .await?
                .ensure("200 2")
        },
    )
    .await?;
    curl(bundle, "api.example.com", gateway, &[])
        .await?
        .ensure("200 2")?;

    stack.check_running()?;
    stack.pass();
    Ok(())
}
