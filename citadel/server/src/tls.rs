//! Citadel's TLS: a server certificate swapped in place, client certificates optional and
//! checked against the current trust bundle, and the accepted connections handed to tonic.

use std::io;
use std::num::NonZeroUsize;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rigging_mesh_grpc_tls::{AcceptOptions, TlsConn};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, UnixTime};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Finished handshakes waiting for tonic; beyond this, accepting pauses. Workloads sign in at
/// startup and at half-life, far fewer at once than proxies reconnecting to Pilot. The handshake
/// timeout is the shared default.
const ACCEPT_BACKLOG: NonZeroUsize = NonZeroUsize::new(64).expect("64 is not zero");

/// The server certificate, replaced when it is renewed or the signer changes.
#[derive(Debug)]
pub(crate) struct SwappableCert(pub(crate) ArcSwap<CertifiedKey>);

impl ResolvesServerCert for SwappableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// Optional client authentication against a bundle that changes with root rotations.
#[derive(Debug)]
pub(crate) struct BundleClientVerifier(pub(crate) ArcSwap<Arc<dyn ClientCertVerifier>>);

impl BundleClientVerifier {
    /// A verifier over `roots`; clients without a certificate are let through (they must then
    /// present another credential in the request).
    pub(crate) fn build(
        roots: Vec<CertificateDer<'static>>,
    ) -> Result<Arc<dyn ClientCertVerifier>, rustls::Error> {
        let mut store = RootCertStore::empty();
        for root in roots {
            store.add(root)?;
        }
        WebPkiClientVerifier::builder_with_provider(Arc::new(store), provider())
            .allow_unauthenticated()
            .build()
            .map_err(|e| rustls::Error::General(e.to_string()))
    }
}

impl ClientCertVerifier for BundleClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // The hints borrow from the current verifier, which may be swapped; send none.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.0
            .load()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.load().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.load().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.load().supported_verify_schemes()
    }
}

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// TLS 1.3, ALPN h2 (gRPC), the swappable certificate and the optional client verifier.
pub(crate) fn server_config(
    cert: Arc<SwappableCert>,
    verifier: Arc<BundleClientVerifier>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Accepts Citadel's clients on `listener` over `config`; see [`rigging_mesh_grpc_tls::accept`].
pub(crate) fn accept(
    listener: TcpListener,
    config: Arc<ServerConfig>,
) -> mpsc::Receiver<io::Result<TlsConn>> {
    let options = AcceptOptions::new("citadel").backlog(ACCEPT_BACKLOG);
    rigging_mesh_grpc_tls::accept(listener, config, options)
}
