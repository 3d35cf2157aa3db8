//! An SDS certificate as a rustls server's certificate resolver: handshakes present the latest
//! secret, and fail before the first one.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_test_util::fake_sds::FakeSds;
use rigging_mesh_test_util::tls::self_signed_pem;
use rigging_proxy_sds::{Sds, SdsCertificate, SdsClusters, parse_sds_cluster};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};

const WAIT: Duration = Duration::from_secs(10);

/// Handshakes with a server resolving through `cert`, trusting `ca_pem`; returns the leaf the
/// server presented.
async fn handshake(
    cert: &SdsCertificate,
    ca_pem: &str,
) -> Result<CertificateDer<'static>, std::io::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(cert.clone()));
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap())
        .unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (a, b) = tokio::io::duplex(64 * 1024);
    let accept = TlsAcceptor::from(Arc::new(server)).accept(a);
    let name = ServerName::try_from("www.example.com").unwrap();
    let connect = TlsConnector::from(Arc::new(client)).connect(name, b);
    let (accepted, connected) = tokio::join!(accept, connect);
    let tls = connected?;
    accepted?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    Ok(leaf)
}

#[tokio::test]
async fn handshakes_present_the_latest_sds_certificate() {
    let fake = FakeSds::start().await;
    let flag = format!("sds-cluster={}", fake.url());
    let clusters = SdsClusters::new([parse_sds_cluster(&flag).unwrap()]).unwrap();
    let sds = Sds::new(clusters, "gw-1".to_owned(), "ingress".to_owned());
    let cert = sds.certificate("sds-cluster", "www-cert").unwrap();

    let (chain1, key1) = self_signed_pem(&["www.example.com"]);
    assert!(
        handshake(&cert, &chain1).await.is_err(),
        "no certificate yet: the handshake is refused"
    );

    fake.set("www-cert", &chain1, &key1);
    tokio::time::timeout(WAIT, cert.wait_ready())
        .await
        .unwrap()
        .unwrap();
    let leaf = handshake(&cert, &chain1).await.unwrap();
    assert_eq!(
        leaf,
        CertificateDer::from_pem_slice(chain1.as_bytes()).unwrap()
    );

    let (chain2, key2) = self_signed_pem(&["www.example.com"]);
    let v2 = fake.set("www-cert", &chain2, &key2);
    let mut rx = cert.watch();
    tokio::time::timeout(
        WAIT,
        rx.wait_for(|i| i.as_ref().is_some_and(|i| i.version() == v2)),
    )
    .await
    .unwrap()
    .unwrap();
    let leaf = handshake(&cert, &chain2).await.unwrap();
    assert_eq!(
        leaf,
        CertificateDer::from_pem_slice(chain2.as_bytes()).unwrap()
    );
}
