//! Certificate renewal: new handshakes get the new certificate, open connections carry on.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa};
use rigging_proxy_config::InboundTlsMode;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::{
    client, id, inbound_config, issue, mesh, metric, metrics, mtls_proxy, outbound_config,
};
use crate::proxy::support::*;

#[tokio::test]
async fn renewal_reaches_new_connections_and_leaves_open_ones_alone() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("api-app").await;
    let server_mesh = mesh(&ca, "api");
    let server = mtls_proxy(server_mesh.clone()).await;
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
    let (resp, _) = get(&client, format!("{url}/a")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let before = server_mesh.store().svid().unwrap();

    let old_leaf = served_leaf(inbound, client_for_web(&ca)).await;

    issue(&ca, server_mesh.store(), "api", Duration::from_secs(7200));
    let after = server_mesh.store().svid().unwrap();
    assert_ne!(before.not_after, after.not_after);
    // The pooled connection, opened with the old certificate, keeps carrying requests ...
    let downstream_before = metric(
        &metrics(&server).await,
        "rig_downstream_connections_total{listener=\"in\"}",
    );
    for _ in 0..5 {
        let (resp, _) = get(&client, format!("{url}/b")).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let downstream_after = metric(
        &metrics(&server).await,
        "rig_downstream_connections_total{listener=\"in\"}",
    );
    assert_eq!(
        downstream_before, downstream_after,
        "no new connection was needed"
    );
    // ... and a new handshake gets the new one.
    let new_leaf = served_leaf(inbound, client_for_web(&ca)).await;
    assert_ne!(old_leaf, new_leaf);
    let current = server_mesh.store().certified_key().unwrap();
    assert_eq!(new_leaf, current.cert[0]);
    caller.shutdown().await;
    server.shutdown().await;
}

/// The leaf certificate the server at `addr` presents.
async fn served_leaf(
    addr: SocketAddr,
    mut config: ClientConfig,
) -> rustls_pki_types::CertificateDer<'static> {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("api").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

fn client_for_web(ca: &TestCa) -> ClientConfig {
    client(ca, Some(&LeafSpec::svid(&id("web"))), ca)
}
