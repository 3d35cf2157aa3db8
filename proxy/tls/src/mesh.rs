//! [`MeshTls`]: the rustls configs of one proxy, over its [`CertStore`].

use std::sync::Arc;
use std::time::Duration;

use rigging_citadel_client::CertStore;
use rigging_mesh_spiffe::{
    ExpectedPeer, SpiffeId, SvidClientVerifier, SvidServerVerifier, TrustDomain,
};
use rustls::server::NoServerSessionStorage;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::UnixTime;
use tokio::sync::Notify;

/// A peer that has not finished its handshake by then is dropped: a mesh handshake is a few
/// milliseconds on a LAN, and a slow one holds a socket and a task.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a TLS config cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("no spiffe id to expect from the server")]
    NoExpectedId,
    #[error("expected server identity {0:?} is not a spiffe id")]
    BadExpectedId(String),
    #[error("sni {0:?} is not a valid server name")]
    BadSni(String),
    #[error(
        "the configuration asks for mTLS and this proxy runs without Citadel (no workload certificate)"
    )]
    NotConfigured,
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("no TLS version to accept")]
    NoVersion,
    #[error("cipher suite {0:?} is not one the proxy implements")]
    CipherSuite(String),
    #[error("rustls refused the configuration")]
    Rustls(#[from] rustls::Error),
}

/// The mesh TLS of one proxy: the workload certificate (renewed in place by Citadel's client)
/// and the trust domain its peers must belong to.
///
/// Configs are built when a configuration is applied, never per connection; they read the
/// current certificate and trust bundle on every handshake, so a renewal or a root rotation
/// reaches new connections at once and leaves established ones alone.
#[derive(Debug)]
pub struct MeshTls {
    store: Arc<CertStore>,
    trust_domain: TrustDomain,
    renew: Option<Arc<Notify>>,
}

impl MeshTls {
    /// Mesh TLS over `store`, accepting peers of `trust_domain`.
    pub fn new(store: Arc<CertStore>, trust_domain: TrustDomain) -> Self {
        Self {
            store,
            trust_domain,
            renew: None,
        }
    }

    /// `renew` is notified when the certificate should be renewed now: the renewer of
    /// `store` waits on it (`Renewer::renew_on`).
    #[must_use]
    pub fn with_renewal(mut self, renew: Arc<Notify>) -> Self {
        self.renew = Some(renew);
        self
    }

    /// Asks for a new certificate now, when a renewer listens: an ingress gateway does when
    /// the hosts of its TLS listeners change, since Citadel names them in the certificate.
    pub fn renew_now(&self) {
        if let Some(renew) = &self.renew {
            renew.notify_one();
        }
    }

    /// The certificate store (for status and readiness).
    pub fn store(&self) -> &Arc<CertStore> {
        &self.store
    }

    /// The trust domain peers must belong to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// This proxy's identity, once a certificate is held.
    pub fn identity(&self) -> Option<SpiffeId> {
        self.store.identity()
    }

    /// Whether a certificate is held and still valid: before that, the proxy cannot take or
    /// make a mesh connection and is not ready.
    pub fn ready(&self) -> bool {
        let now = UnixTime::now().as_secs();
        self.store.svid().is_some_and(|s| s.not_after > now)
    }

    /// The config of an inbound mTLS listener: our SVID, a client SVID of the trust domain
    /// required, `alpn` accepted (most preferred first).
    ///
    /// Session resumption is off: a resumed session skips the client verifier, and the mesh
    /// wants every connection checked against the current bundle and certificate rules.
    pub fn server_config(&self, alpn: &[String]) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier = Arc::new(SvidClientVerifier::new(
            self.store.bundle().clone(),
            self.trust_domain.clone(),
        ));
        let mut config = rigging_mesh_spiffe::config::server_config(verifier, self.store.clone())?;
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Arc::new(config))
    }

    /// The config of outbound mTLS to a destination that must present one of `expected`;
    /// `alpn` offered (most preferred first).
    pub fn client_config(
        &self,
        expected: &[String],
        alpn: &[String],
    ) -> Result<Arc<ClientConfig>, TlsError> {
        let ids = expected
            .iter()
            .map(|s| SpiffeId::parse(s).map_err(|_| TlsError::BadExpectedId(s.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let peer = match ids.len() {
            0 => return Err(TlsError::NoExpectedId),
            1 => ExpectedPeer::Id(ids.into_iter().next().ok_or(TlsError::NoExpectedId)?),
            _ => ExpectedPeer::AnyOf(ids),
        };
        let verifier = Arc::new(SvidServerVerifier::new(self.store.bundle().clone(), peer));
        let mut config = rigging_mesh_spiffe::config::client_config(verifier, self.store.clone())?;
        config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
        Ok(Arc::new(config))
    }
}
