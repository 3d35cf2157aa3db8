//! A terminating gateway end to end with the real `rig` binary: `rig up` with mTLS, a
//! `terminating-gateway` entry linking two services outside the mesh, `rig proxy --gateway
//! terminating --id egress`, and a sidecar whose application calls them:
//!
//! - `billing`, an HTTPS server (one-way TLS), reached with the entry's `CAFile` and `SNI`;
//! - `ledger`, a TCP server that requires a client certificate, reached with `CAFile`,
//!   `CertFile` and `KeyFile` (linked by the `*` wildcard);
//! - the caller's connections go to the gateway (mTLS, the service named in SNI), never to
//!   the services themselves; a client without a mesh certificate gets nothing from the
//!   gateway; and an entry whose `CAFile` does not sign the server fails the calls, which
//!   recover once the entry is fixed.
//!
//! The external servers run in the test process, on real TLS over loopback.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use http::Method;
use rigging_mesh_test_util::tls::{TestTls, test_tls};
use rigging_tests::{RigStack, eventually, free_port, loopback, request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const STARTUP: Duration = Duration::from_secs(30);
const PROPAGATION: Duration = Duration::from_secs(10);
const BILLING_NAME: &str = "billing.example.com";

/// What an external server saw: the SNI and whether a client certificate came.
#[derive(Debug, Default)]
struct Seen {
    server_names: Vec<Option<String>>,
    client_certificates: usize,
}

/// An HTTPS server answering a request with `200 billing`, then closing the connection, so
/// that every call makes a new one through the gateway (and so a new handshake with what
/// the entry says now).
async fn https_server(tls: &TestTls, seen: Arc<Mutex<Seen>>) -> anyhow::Result<SocketAddr> {
    serve(tls, seen, |mut s| async move {
        let mut buf = vec![0u8; 4096];
        let mut request = Vec::new();
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            request.extend_from_slice(&buf[..n]);
        }
        let body = "billing";
        let reply = format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\nx-served-by: billing-1\r\n\r\n{body}",
            body.len()
        );
        s.write_all(reply.as_bytes()).await?;
        s.shutdown().await
    })
    .await
}

/// A TLS server echoing what it reads.
async fn echo_server(tls: &TestTls, seen: Arc<Mutex<Seen>>) -> anyhow::Result<SocketAddr> {
    serve(tls, seen, |mut s| async move {
        let (mut r, mut w) = tokio::io::split(&mut s);
        tokio::io::copy(&mut r, &mut w).await?;
        Ok(())
    })
    .await
}

async fn serve<F, Fut>(
    tls: &TestTls,
    seen: Arc<Mutex<Seen>>,
    handle: F,
) -> anyhow::Result<SocketAddr>
where
    F: Fn(tokio_rustls::server::TlsStream<TcpStream>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::io::Result<()>> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = tls.acceptor.clone();
    let handle = Arc::new(handle);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen, handle) = (acceptor.clone(), seen.clone(), handle.clone());
            tokio::spawn(async move {
                let Ok(s) = acceptor.accept(tcp).await else {
                    return;
                };
                {
                    let conn = s.get_ref().1;
                    let mut seen = seen.lock().expect("lock");
                    seen.server_names
                        .push(conn.server_name().map(str::to_owned));
                    if conn.peer_certificates().is_some_and(|c| !c.is_empty()) {
                        seen.client_certificates += 1;
                    }
                }
                let _ = handle(s).await;
            });
        }
    });
    Ok(addr)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

fn egress_entry(billing_ca: &Path, partners: &Path) -> String {
    let p = |f: &str| partners.join(f).display().to_string();
    format!(
        r#"Kind = "terminating-gateway"
Name = "egress"
Services = [
  {{
    Name   = "billing"
    CAFile = "{billing_ca}"
    SNI    = "{BILLING_NAME}"
  }},
  {{
    Name     = "*"
    CAFile   = "{ca}"
    CertFile = "{cert}"
    KeyFile  = "{key}"
  }},
]
"#,
        billing_ca = billing_ca.display(),
        ca = p("ca.pem"),
        cert = p("client.pem"),
        key = p("client-key.pem"),
    )
}

const BILLING_HTTP: &str = r#"Kind = "service-defaults"
Name = "billing"
Protocol = "http"
"#;

/// One round trip through `ledger`'s local port.
async fn echo(addr: SocketAddr) -> anyhow::Result<String> {
    let mut s = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await??;
    s.write_all(b"ping").await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await??;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linked_services_are_reached_through_the_gateway() -> anyhow::Result<()> {
    let mut stack = RigStack::new("rigging-gateway-terminating-").await?;
    let dir = stack.dir().to_owned();
    let (registry, entries_dir, partners) = (
        dir.join("registry.hcl"),
        dir.join("entries"),
        dir.join("partners"),
    );
    std::fs::create_dir(&entries_dir)?;
    std::fs::create_dir(&partners)?;
    stack.show_on_failure(&registry);
    stack.show_on_failure(&entries_dir);

    let billing_tls = test_tls(&[BILLING_NAME], false);
    let ledger_tls = test_tls(&["127.0.0.1"], true);
    let other_ca = test_tls(&[BILLING_NAME], false).ca_pem;
    let billing_ca = dir.join("billing-ca.pem");
    write(&billing_ca, &billing_tls.ca_pem)?;
    write(&dir.join("other-ca.pem"), &other_ca)?;
    write(&partners.join("ca.pem"), &ledger_tls.ca_pem)?;
    write(&partners.join("client.pem"), &ledger_tls.client_cert_pem)?;
    write(&partners.join("client-key.pem"), &ledger_tls.client_key_pem)?;
    let (billing_seen, ledger_seen) = (Arc::default(), Arc::default());
    let billing = https_server(&billing_tls, Arc::clone(&billing_seen)).await?;
    let ledger = echo_server(&ledger_tls, Arc::clone(&ledger_seen)).await?;

    let (web_app, web_sidecar, gw, citadel) =
        (free_port(), free_port(), free_port(), loopback(free_port()));
    let (billing_local, ledger_local) = (free_port(), free_port());
    write(
        &registry,
        &format!(
            r#"service "web" {{
  protocol = "http"
  instance "web-1" {{
    address = "127.0.0.1"
    port    = {web_app}
    sidecar {{
      port = {web_sidecar}
      upstream "billing" {{ local_bind_port = {billing_local} }}
      upstream "ledger" {{ local_bind_port = {ledger_local} }}
    }}
  }}
}}

service "egress" {{
  instance "egress-1" {{
    address = "127.0.0.1"
    port    = {gw}
  }}
}}

service "billing" {{
  instance "billing-1" {{
    address = "127.0.0.1"
    port    = {billing_port}
  }}
}}

service "ledger" {{
  instance "ledger-1" {{
    address = "127.0.0.1"
    port    = {ledger_port}
  }}
}}
"#,
            billing_port = billing.port(),
            ledger_port = ledger.port(),
        ),
    )?;
    write(&entries_dir.join("billing.hcl"), BILLING_HTTP)?;
    write(
        &entries_dir.join("egress.hcl"),
        &egress_entry(&billing_ca, &partners),
    )?;

    let (xds, debug) = (stack.xds.to_string(), stack.debug.to_string());
    let (reg, ent, state) = (
        registry.display().to_string(),
        entries_dir.display().to_string(),
        dir.join("citadel").display().to_string(),
    );
    stack.spawn(
        "rig-up",
        &[
            "up",
            "--registry",
            &reg,
            "--config-entries",
            &ent,
            "--xds-addr",
            &xds,
            "--debug-addr",
            &debug,
            "--citadel-addr",
            &citadel.to_string(),
            "--citadel-state",
            &state,
        ],
    )?;
    let bundle = dir.join("citadel").join("trust-bundle.pem");
    eventually("rig up writes its trust bundle", STARTUP, async || {
        stack.check_running()?;
        let pem = std::fs::read_to_string(&bundle).unwrap_or_default();
        anyhow::ensure!(pem.contains("BEGIN CERTIFICATE"), "no bundle yet");
        Ok(())
    })
    .await?;
    let pilot = format!("http://{}", stack.xds);
    for (id, service, gateway) in [("web-1", "web", false), ("egress", "egress", true)] {
        let mut args: Vec<String> = ["proxy", "--id", id, "--pilot", &pilot, "--admin"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(loopback(free_port()).to_string());
        if gateway {
            args.extend(["--gateway".to_owned(), "terminating".to_owned()]);
        }
        args.extend(stack.bootstrap_identity(citadel, id, service).await?);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        stack.spawn(&format!("{id}-proxy"), &args)?;
    }

    let billing_addr = loopback(billing_local);
    let reply = eventually("billing answers through the gateway", STARTUP, async || {
        stack.check_running()?;
        let reply = request(billing_addr, Method::GET, "/invoices", &[], "", false).await?;
        anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
        Ok(reply)
    })
    .await?;
    assert_eq!(reply.body, "billing");
    assert_eq!(reply.header("x-served-by"), "billing-1");
    let sni = billing_seen.lock().expect("lock").server_names.clone();
    assert!(
        !sni.is_empty() && sni.iter().all(|s| s.as_deref() == Some(BILLING_NAME)),
        "the gateway sent the entry's SNI: {sni:?}"
    );

    let echoed = eventually("ledger echoes through the gateway", STARTUP, async || {
        echo(loopback(ledger_local)).await
    })
    .await?;
    assert_eq!(echoed, "ping");
    let certs = ledger_seen.lock().expect("lock").client_certificates;
    assert!(
        certs >= 1,
        "the gateway presented the entry's client certificate"
    );

    // Nothing without a mesh certificate: a plaintext client gets the connection closed.
    let mut raw = TcpStream::connect(loopback(gw)).await?;
    raw.write_all(b"GET / HTTP/1.1\r\nhost: billing\r\n\r\n")
        .await?;
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), raw.read_to_end(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "the gateway answered a plaintext client: {read:?} {:?}",
        String::from_utf8_lossy(&buf)
    );

    // A CAFile that does not sign billing's certificate fails the calls ...
    let wrong = egress_entry(&dir.join("other-ca.pem"), &partners);
    write(&entries_dir.join("egress.hcl"), &wrong)?;
    eventually("calls fail once the CA is wrong", PROPAGATION, async || {
        let reply = request(billing_addr, Method::GET, "/", &[], "", false).await;
        anyhow::ensure!(
            reply.as_ref().map_or(true, |r| r.status >= 500),
            "still {:?}",
            reply.map(|r| r.status)
        );
        Ok(())
    })
    .await?;
    // ... and they recover once it is fixed.
    write(
        &entries_dir.join("egress.hcl"),
        &egress_entry(&billing_ca, &partners),
    )?;
    eventually("calls recover", PROPAGATION, async || {
        let reply = request(billing_addr, Method::GET, "/", &[], "", false).await?;
        anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
        Ok(())
    })
    .await?;

    stack.check_running()?;
    stack.pass();
    Ok(())
}
