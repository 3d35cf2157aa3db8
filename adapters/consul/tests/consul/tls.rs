//! HTTPS to Consul with a CA file.

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rigging_adapters_consul::ConsulRegistry;
use rigging_adapters_core::Registry;
use rigging_mesh_test_util::fake_consul::{FakeConsul, instance};

use super::*;

/// A CA (its PEM) and a `localhost` server certificate (chain DER, key DER) it signed.
fn pki() -> (String, Vec<Vec<u8>>, Vec<u8>) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).expect("ca cert");
    let ca_pem = ca.pem();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().expect("server key");
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &issuer)
        .expect("server cert");
    (ca_pem, vec![cert.der().to_vec()], key.serialize_der())
}

#[tokio::test]
async fn https_with_a_ca_file() {
    let (ca_pem, chain, key) = pki();
    let fake = FakeConsul::start_tls(chain, key).await;
    fake.register(instance("n1", "10.0.0.1", "web", "web-1", "", 8080));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("consul-ca.pem");
    std::fs::write(&ca_file, ca_pem).expect("write ca");

    let reg = ConsulRegistry::start(config(&fake).with_ca_file(&ca_file)).expect("start");
    let mut rx = reg.subscribe();
    until(&mut rx, "synced over https", |s| {
        instances(s, "web") == ["web-1"]
    })
    .await;

    // without the CA, the certificate is not trusted, and that is what health says
    let untrusting = ConsulRegistry::start(config(&fake)).expect("start");
    let h = until_health(&untrusting, "the tls failure", |h| h.is_stale()).await;
    let error = h.last_error.unwrap_or_default();
    assert!(
        error.contains("cannot reach Consul at https://localhost:"),
        "{error}"
    );
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    assert_eq!(untrusting.version(), 0);

    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").expect("write");
    assert!(ConsulRegistry::start(config(&fake).with_ca_file(&junk)).is_err());
}
