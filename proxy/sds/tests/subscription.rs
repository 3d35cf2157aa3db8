//! The SDS client against the fake SDS server: first certificate, updates, NACKs, sharing and
//! reconnects.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_test_util::fake_sds::{FakeSds, SECRET_TYPE_URL};
use rigging_mesh_test_util::tls::self_signed_pem;
use rigging_proxy_sds::{Sds, SdsCertificate, SdsClusters, SdsError, parse_sds_cluster};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

const CLUSTER: &str = "sds-cluster";
const RESOURCE: &str = "www-cert";
/// How long a test waits for what should happen within a few reconnects.
const WAIT: Duration = Duration::from_secs(10);

fn sds_for(fake: &FakeSds) -> Sds {
    let flag = format!("{CLUSTER}={}", fake.addr());
    let clusters = SdsClusters::new([parse_sds_cluster(&flag).unwrap()]).unwrap();
    Sds::new(clusters, "gw-1".to_owned(), "ingress".to_owned())
}

fn der(chain_pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap()
}

async fn wait_version(cert: &SdsCertificate, version: &str) {
    let mut rx = cert.watch();
    let got = tokio::time::timeout(
        WAIT,
        rx.wait_for(|i| i.as_ref().is_some_and(|i| i.version() == version)),
    )
    .await;
    assert!(
        matches!(got, Ok(Ok(_))),
        "version {version} not installed in time; have {:?}",
        cert.version()
    );
}

async fn ready(cert: &SdsCertificate) -> Arc<rustls::sign::CertifiedKey> {
    tokio::time::timeout(WAIT, cert.wait_ready())
        .await
        .expect("no certificate in time")
        .unwrap()
}

#[tokio::test]
async fn the_first_certificate_arrives_and_is_acked() {
    let fake = FakeSds::start().await;
    let (chain, key) = self_signed_pem(&["www.example.com"]);
    let version = fake.set(RESOURCE, &chain, &key);
    let sds = sds_for(&fake);

    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    assert_eq!(ready(&cert).await.cert, der(&chain));
    assert!(cert.ready());
    assert_eq!(cert.current().unwrap().cert, der(&chain));
    assert_eq!(cert.version().as_deref(), Some(version.as_str()));

    let acks = fake.wait_acks(1).await;
    assert_eq!(acks[0].version, version);
    assert_eq!(acks[0].resource_names, [RESOURCE]);
    let first = &fake.requests()[0];
    let node = first.node.as_ref().expect("node on the first request");
    assert_eq!(
        (node.id.as_str(), node.cluster.as_str()),
        ("gw-1", "ingress")
    );
    assert_eq!(first.type_url, SECRET_TYPE_URL);
    assert_eq!(first.resource_names, [RESOURCE]);
    assert_eq!(
        (first.version_info.as_str(), first.response_nonce.as_str()),
        ("", "")
    );
    assert!(fake.nacks().is_empty());
}

#[tokio::test]
async fn a_secret_set_after_subscribing_arrives() {
    let fake = FakeSds::start().await;
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!cert.ready());
    assert!(cert.current().is_none());

    let (chain, key) = self_signed_pem(&["www.example.com"]);
    fake.set(RESOURCE, &chain, &key);
    assert_eq!(ready(&cert).await.cert, der(&chain));
}

#[tokio::test]
async fn a_pushed_certificate_replaces_the_old_one() {
    let fake = FakeSds::start().await;
    let (chain1, key1) = self_signed_pem(&["www.example.com"]);
    fake.set(RESOURCE, &chain1, &key1);
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    ready(&cert).await;
    // An answer to a response the server has since superseded would carry a stale nonce.
    fake.wait_acks(1).await;

    let (chain2, key2) = self_signed_pem(&["www.example.com"]);
    let v2 = fake.set(RESOURCE, &chain2, &key2);
    wait_version(&cert, &v2).await;
    assert_eq!(cert.current().unwrap().cert, der(&chain2));
    let acks = fake.wait_acks(2).await;
    assert_eq!(acks[1].version, v2);
    assert!(fake.nacks().is_empty());
}

#[tokio::test]
async fn a_broken_update_is_nacked_and_the_old_certificate_kept() {
    let fake = FakeSds::start().await;
    let (chain, key) = self_signed_pem(&["www.example.com"]);
    let v1 = fake.set(RESOURCE, &chain, &key);
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    ready(&cert).await;
    // An answer to a response the server has since superseded would carry a stale nonce.
    fake.wait_acks(1).await;

    // A key that does not match the certificate.
    let (other_chain, other_key) = self_signed_pem(&["www.example.com"]);
    fake.set(RESOURCE, &other_chain, &key);
    let nacks = fake.wait_nacks(1).await;
    assert_eq!(
        nacks[0].version, v1,
        "a NACK names the last accepted version"
    );
    let reason = nacks[0].error.as_deref().unwrap_or_default();
    assert!(
        reason.contains("does not match the certificate"),
        "{reason}"
    );

    // Bad PEM, then a secret of another name than the one asked for; one at a time, as
    // changes made together reach the client as one state of the world.
    fake.set(RESOURCE, "-----BEGIN CERTIFICATE-----\nnope", &key);
    fake.wait_nacks(2).await;
    let mut wrong_name = secret(&other_chain, &other_key);
    wrong_name.name = "other-cert".to_owned();
    fake.set_raw(RESOURCE, wrong_name);
    let nacks = fake.wait_nacks(3).await;
    assert!(
        nacks[1]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains("certificate_chain")
    );
    assert!(
        nacks[2]
            .error
            .as_deref()
            .unwrap_or_default()
            .contains(r#"no secret named "www-cert""#),
        "{nacks:?}"
    );
    assert_eq!(cert.current().unwrap().cert, der(&chain));
    assert_eq!(cert.version().as_deref(), Some(v1.as_str()));

    // A good one after the bad ones is taken.
    let v5 = fake.set(RESOURCE, &other_chain, &other_key);
    wait_version(&cert, &v5).await;
    assert_eq!(cert.current().unwrap().cert, der(&other_chain));
    assert_eq!(fake.wait_acks(2).await[1].version, v5);
}

fn secret(
    chain: &str,
    key: &str,
) -> envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::Secret {
    use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source::Specifier};
    use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
        Secret, TlsCertificate, secret,
    };
    let inline = |s: &str| {
        Some(DataSource {
            specifier: Some(Specifier::InlineString(s.to_owned())),
            ..Default::default()
        })
    };
    Secret {
        name: RESOURCE.to_owned(),
        r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
            certificate_chain: inline(chain),
            private_key: inline(key),
            ..Default::default()
        })),
    }
}

#[tokio::test]
async fn an_unknown_cluster_is_an_error_naming_the_known_ones() {
    let fake = FakeSds::start().await;
    let sds = sds_for(&fake);
    let err = sds.certificate("elsewhere", RESOURCE).unwrap_err();
    assert!(matches!(err, SdsError::UnknownCluster { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        r#"unknown SDS cluster "elsewhere"; known: sds-cluster"#
    );
    assert!(matches!(
        sds.certificate(CLUSTER, ""),
        Err(SdsError::EmptyResource { .. })
    ));
}

#[test]
fn asking_outside_a_runtime_is_an_error() {
    let clusters = SdsClusters::new([parse_sds_cluster("sds=127.0.0.1:1").unwrap()]).unwrap();
    let sds = Sds::new(clusters, "gw-1".to_owned(), "ingress".to_owned());
    assert!(matches!(
        sds.certificate("sds", RESOURCE),
        Err(SdsError::NoRuntime)
    ));
}

#[tokio::test]
async fn one_subscription_per_secret_is_shared() {
    let fake = FakeSds::start().await;
    let (chain, key) = self_signed_pem(&["www.example.com"]);
    fake.set(RESOURCE, &chain, &key);
    fake.set("api-cert", &chain, &key);
    let sds = sds_for(&fake);

    let a = sds.certificate(CLUSTER, RESOURCE).unwrap();
    let b = sds.clone().certificate(CLUSTER, RESOURCE).unwrap();
    let c = sds.certificate(CLUSTER, "api-cert").unwrap();
    for cert in [&a, &b, &c] {
        ready(cert).await;
    }
    fake.wait_acks(2).await;
    assert_eq!(fake.streams(), 2, "one stream per (cluster, resource)");
    assert_eq!(c.resource(), "api-cert");
}

#[tokio::test]
async fn a_subscription_ends_with_its_last_handle_and_restarts_from_its_certificate() {
    let fake = FakeSds::start().await;
    let (chain, key) = self_signed_pem(&["www.example.com"]);
    let v1 = fake.set(RESOURCE, &chain, &key);
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    let copy = cert.clone();
    ready(&cert).await;
    fake.wait_acks(1).await;

    drop(cert);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        fake.open_streams(),
        1,
        "a clone still holds the subscription"
    );
    drop(copy);
    fake.wait_open_streams(0).await;

    let again = sds.certificate(CLUSTER, RESOURCE).unwrap();
    assert!(again.ready(), "seeded with the last certificate");
    assert_eq!(again.version().as_deref(), Some(v1.as_str()));
    fake.wait_acks(2).await;
    assert_eq!(fake.streams(), 2);
    let resubscribe = &fake
        .requests()
        .into_iter()
        .filter(|r| r.node.is_some())
        .collect::<Vec<_>>()[1];
    assert_eq!(resubscribe.version_info, v1);
}

#[tokio::test]
async fn the_certificate_outlives_a_server_restart_and_follows_it() {
    let mut fake = FakeSds::start().await;
    let (chain1, key1) = self_signed_pem(&["www.example.com"]);
    let v1 = fake.set(RESOURCE, &chain1, &key1);
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    ready(&cert).await;
    // An answer to a response the server has since superseded would carry a stale nonce.
    fake.wait_acks(1).await;

    fake.stop();
    let (chain2, key2) = self_signed_pem(&["www.example.com"]);
    let v2 = fake.set(RESOURCE, &chain2, &key2);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cert.current().unwrap().cert,
        der(&chain1),
        "kept while the server is away"
    );

    fake.restart().await;
    wait_version(&cert, &v2).await;
    assert_eq!(cert.current().unwrap().cert, der(&chain2));
    assert!(fake.streams() >= 2);
    let resubscribe = fake
        .requests()
        .into_iter()
        .filter(|r| r.node.is_some())
        .nth(1)
        .expect("a second stream's first request");
    assert_eq!(
        resubscribe.version_info, v1,
        "a new stream says what the gateway has"
    );
}

#[tokio::test]
async fn a_server_down_at_first_is_reached_once_it_is_up() {
    let mut fake = FakeSds::start().await;
    let (chain, key) = self_signed_pem(&["www.example.com"]);
    fake.set(RESOURCE, &chain, &key);
    fake.stop();
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!cert.ready());

    fake.restart().await;
    assert_eq!(ready(&cert).await.cert, der(&chain));
}

#[tokio::test]
async fn waiting_ends_when_the_sds_client_is_dropped() {
    let fake = FakeSds::start().await;
    let sds = sds_for(&fake);
    let cert = sds.certificate(CLUSTER, RESOURCE).unwrap();
    drop(sds);
    let waited = tokio::time::timeout(WAIT, cert.wait_ready())
        .await
        .expect("wait_ready should end");
    assert!(
        matches!(waited, Err(SdsError::Stopped { .. })),
        "{waited:?}"
    );
}
