//! Outbound mTLS: origination to the expected SPIFFE ID, over HTTP and TCP, between two proxies.

use http::StatusCode;
use rigging_mesh_spiffe::test_pki::TestCa;
use rigging_proxy_config::{
    ClusterEndpoints, ClusterTls, InboundTlsMode, LbPolicy, ProxyConfig, UpstreamProtocol,
    UpstreamTls,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{id, inbound_config, mesh, metric, metrics, mtls_proxy, outbound_config};
use crate::proxy::support::*;

#[tokio::test]
async fn outbound_originates_mtls_and_checks_the_destination_identity() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("api-app").await;
    let server = mtls_proxy(mesh(&ca, "api")).await;
    server
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let inbound = server.listener_addr("in").unwrap();

    let caller = mtls_proxy(mesh(&ca, "web")).await;
    caller
        .apply_config(outbound_config(inbound, "api"))
        .unwrap();
    let url = format!("http://{}", caller.listener_addr("out").unwrap());
    let client = h1_client();
    for _ in 0..3 {
        let (resp, _) = get(&client, format!("{url}/x")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header(&resp, "x-seen-xfcc"),
            format!("By={};URI={}", id("api"), id("web"))
        );
    }

    // Expecting another identity: the handshake fails before a byte of the request is sent.
    caller.apply_config(outbound_config(inbound, "db")).unwrap();
    let (resp, _) = get(&client, format!("{url}/x")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-rigging-error"), "connect_failed");
    let text = metrics(&caller).await;
    assert!(
        metric(&text, "rig_upstream_tls_failures_total{cluster=\"svc\"}") >= 1,
        "{text}"
    );
    caller.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_through_mtls_both_ways() {
    let ca = TestCa::new("mesh").unwrap();
    let echo_addr = tcp_echo().await;
    let server = mtls_proxy(mesh(&ca, "db")).await;
    server
        .apply_config(inbound_config(InboundTlsMode::Strict, echo_addr, false))
        .unwrap();
    let inbound = server.listener_addr("in").unwrap();

    let caller = mtls_proxy(mesh(&ca, "web")).await;
    let mut config = ProxyConfig::default();
    config
        .listeners
        .insert("out".into(), tcp_listener("out", "db"));
    let mut db = cluster("db", UpstreamProtocol::Http1, LbPolicy::RoundRobin);
    db.tls = Some(ClusterTls::Mesh(UpstreamTls {
        expected_ids: vec![id("db")],
        sni: "db".into(),
        alpn: vec![],
    }));
    config.clusters.insert("db".into(), db);
    config.endpoints.insert(
        "db".into(),
        ClusterEndpoints {
            cluster: "db".into(),
            endpoints: vec![endpoint(inbound)],
        },
    );
    caller.apply_config(config).unwrap();
    let mut conn = TcpStream::connect(caller.listener_addr("out").unwrap())
        .await
        .unwrap();
    conn.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    // Plaintext straight to the strict TCP port is refused.
    let mut raw = TcpStream::connect(inbound).await.unwrap();
    raw.write_all(b"ping").await.unwrap();
    let mut out = Vec::new();
    let _ = raw.read_to_end(&mut out).await;
    assert!(out.is_empty());
    caller.shutdown().await;
    server.shutdown().await;
}
