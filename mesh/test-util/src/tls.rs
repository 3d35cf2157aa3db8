//! A throwaway PKI for TLS servers in tests: a fresh CA, a server certificate for the names
//! asked, and a client certificate the same CA signs; or a lone self-signed certificate.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio_rustls::TlsAcceptor;

/// A TLS server's side and the PEM files a client needs to trust it or to prove itself.
pub struct TestTls {
    pub acceptor: TlsAcceptor,
    pub ca_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl std::fmt::Debug for TestTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestTls").finish_non_exhaustive()
    }
}

/// A TLS acceptor (TLS 1.2 and 1.3) with a certificate for `names`, signed by a fresh CA that
/// also signs a client certificate; with `verify_clients`, the acceptor requires one.
pub fn test_tls(names: &[&str], verify_clients: bool) -> TestTls {
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
    let (leaf, leaf_key) = issue(names);
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

/// A self-signed certificate for `names` and its private key, both PEM: what a gateway
/// serves in tests, e.g. from a fake SDS server.
pub fn self_signed_pem(names: &[&str]) -> (String, String) {
    let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(names)
        .expect("params")
        .self_signed(&key)
        .expect("certificate");
    (cert.pem(), key.serialize_pem())
}
