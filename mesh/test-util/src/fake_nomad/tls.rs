//! The TLS side of an HTTPS fake: a fresh CA, a server certificate and a client certificate.

use std::sync::Arc;

use tokio_rustls::TlsAcceptor;

/// The TLS side of an HTTPS fake.
pub(super) struct TestTls {
    pub(super) acceptor: TlsAcceptor,
    pub(super) ca_pem: String,
    pub(super) client_cert_pem: String,
    pub(super) client_key_pem: String,
}

/// A TLS acceptor for 127.0.0.1 and localhost, signed by a fresh CA that also signs a client
/// certificate; with `verify_clients`, the acceptor requires one.
pub(super) fn test_tls(verify_clients: bool) -> TestTls {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let issue = |names: &[&str]| {
        let key = KeyPair::generate().expect("key");
        let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        (cert, key)
    };
    let (leaf, leaf_key) = issue(&["127.0.0.1", "localhost"]);
    let (client, client_key) = issue(&["rigging-client"]);
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("tls versions");
    let builder = if verify_clients {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("ca root");
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(vec![leaf.der().clone()], key)
        .expect("server config");
    TestTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca.pem(),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}
