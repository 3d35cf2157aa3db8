//! Inbound mTLS: a strict listener hands the caller's identity to the application and refuses
//! bad peers, a permissive one also takes plaintext, and mTLS needs a certificate source.

use std::time::{Duration, SystemTime};

use rcgen::KeyUsagePurpose;
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa};
use rigging_proxy_config::InboundTlsMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{client, id, inbound_config, mesh, metric, metrics, mtls_proxy, plain_get, tls_get};
use crate::proxy::support::*;

#[tokio::test]
async fn strict_inbound_hands_the_callers_identity_to_the_app() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("app").await;
    let proxy = mtls_proxy(mesh(&ca, "api")).await;
    proxy
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let addr = proxy.listener_addr("in").unwrap();

    let resp = tls_get(addr, client(&ca, Some(&LeafSpec::svid(&id("web"))), &ca))
        .await
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let xfcc = format!("x-seen-xfcc: By={};URI={}", id("api"), id("web"));
    assert!(resp.contains(&xfcc), "{resp}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn strict_inbound_refuses_bad_peers_and_nothing_reaches_the_app() {
    let ca = TestCa::new("mesh").unwrap();
    let stranger = TestCa::new("stranger").unwrap();
    let app = echo("app").await;
    let proxy = mtls_proxy(mesh(&ca, "api")).await;
    proxy
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let addr = proxy.listener_addr("in").unwrap();
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let web = id("web");
    let cases: Vec<(&str, Option<LeafSpec>, &TestCa)> = vec![
        (
            "two uri sans",
            Some(LeafSpec::svid(&web).extra_uri(&id("db"))),
            &ca,
        ),
        (
            "ca certificate as leaf",
            Some(LeafSpec::svid(&web).ca()),
            &ca,
        ),
        (
            "keyCertSign on a leaf",
            Some(LeafSpec::svid(&web).key_usages(vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ])),
            &ca,
        ),
        (
            "wrong trust domain",
            Some(LeafSpec::svid(
                "spiffe://other.test/ns/default/dc/dc1/svc/web",
            )),
            &ca,
        ),
        (
            "expired",
            Some(LeafSpec::svid(&web).validity(now - 2 * hour, now - hour)),
            &ca,
        ),
        (
            "not yet valid",
            Some(LeafSpec::svid(&web).validity(now + hour, now + 2 * hour)),
            &ca,
        ),
        ("unknown root", Some(LeafSpec::svid(&web)), &stranger),
        ("no client certificate", None, &ca),
    ];
    for (what, spec, leaf_ca) in &cases {
        let result = tls_get(addr, client(&ca, spec.as_ref(), leaf_ca)).await;
        match result {
            Err(_) => {}
            Ok(resp) => assert!(
                !resp.starts_with("HTTP/1.1"),
                "{what}: the request got an answer: {resp}"
            ),
        }
    }
    let resp = plain_get(addr).await;
    assert!(resp.is_empty(), "plaintext got an answer: {resp}");
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
    // The same client with a good certificate gets through: the refusals were about the peers.
    let ok = tls_get(addr, client(&ca, Some(&LeafSpec::svid(&web)), &ca))
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    let text = metrics(&proxy).await;
    let refused = metric(
        &text,
        "rig_downstream_tls_handshake_failures_total{listener=\"in\"}",
    );
    assert_eq!(refused, cases.len() as u64 + 1, "{text}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn permissive_inbound_takes_mtls_and_plaintext() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("app").await;
    let proxy = mtls_proxy(mesh(&ca, "api")).await;
    proxy
        .apply_config(inbound_config(InboundTlsMode::Permissive, app.addr, true))
        .unwrap();
    let addr = proxy.listener_addr("in").unwrap();

    let tls = tls_get(addr, client(&ca, Some(&LeafSpec::svid(&id("web"))), &ca))
        .await
        .unwrap();
    assert!(tls.starts_with("HTTP/1.1 200"), "{tls}");
    assert!(tls.contains(&format!("URI={}", id("web"))), "{tls}");

    // Plaintext is served, and a forged caller header does not reach the app.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!(
            "GET / HTTP/1.1\r\nhost: api\r\nx-forwarded-client-cert: URI={}\r\nconnection: close\r\n\r\n",
            id("admin")
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut plain = String::new();
    tcp.read_to_string(&mut plain).await.unwrap();
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(plain.contains("x-seen-xfcc: \r\n"), "{plain}");
    let text = metrics(&proxy).await;
    assert_eq!(
        metric(
            &text,
            "rig_downstream_plaintext_connections_total{listener=\"in\"}"
        ),
        1
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn mtls_config_without_a_certificate_source_is_rejected() {
    let app = echo("app").await;
    let plain = proxy().await;
    let err = plain
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap_err();
    assert!(err.to_string().contains("mTLS"), "{err}");
    assert!(plain.listener_addr("in").is_none());
    plain.shutdown().await;
}
