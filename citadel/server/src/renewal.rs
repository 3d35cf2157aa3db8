//! Renewal: the caller's mTLS client certificate — chained to a root still in the bundle,
//! still valid, a well-formed SVID of our trust domain — entitles it to the same identity.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use futures::future::BoxFuture;
use rigging_citadel_ca::Authority;
use rigging_mesh_spiffe::{SpiffeId, verify_svid};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::auth::{AuthError, Authenticator, Clock, Credential, CredentialKind};

/// Re-verifies the client certificate at Sign time against the current bundle: a root dropped
/// since the handshake no longer vouches for it.
#[derive(Debug)]
pub struct RenewalAuthenticator {
    authority: Arc<ArcSwap<Authority>>,
    clock: Arc<dyn Clock>,
}

impl RenewalAuthenticator {
    /// Renewal against the roots of `authority`, whichever it holds at the time.
    pub fn new(authority: Arc<ArcSwap<Authority>>, clock: Arc<dyn Clock>) -> Self {
        Self { authority, clock }
    }

    fn check(&self, chain: &[CertificateDer<'static>]) -> Result<SpiffeId, AuthError> {
        let (leaf, intermediates) = chain
            .split_first()
            .ok_or_else(|| AuthError::Certificate("empty chain".into()))?;
        let authority = self.authority.load();
        let now = self
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| AuthError::Certificate("clock before 1970".into()))?;
        let now = UnixTime::since_unix_epoch(now);
        let mut roots = RootCertStore::empty();
        for root in authority.trust_bundle() {
            roots
                .add(root)
                .map_err(|e| AuthError::Certificate(format!("trust bundle: {e}")))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .map_err(|e| AuthError::Certificate(format!("verifier: {e}")))?;
        verifier
            .verify_client_cert(leaf, intermediates, now)
            .map_err(|e| AuthError::Certificate(e.to_string()))?;
        let svid = verify_svid(leaf, now).map_err(|e| AuthError::Certificate(e.to_string()))?;
        if !svid.id.is_member_of(authority.trust_domain()) {
            return Err(AuthError::ForeignTrustDomain {
                identity: svid.id.to_string(),
                trust_domain: authority.trust_domain().to_string(),
            });
        }
        Ok(svid.id)
    }
}

impl Authenticator for RenewalAuthenticator {
    fn kind(&self) -> CredentialKind {
        CredentialKind::PeerCertificate
    }

    fn name(&self) -> &'static str {
        "renewal"
    }

    fn authenticate<'a>(
        &'a self,
        credential: &'a Credential<'a>,
    ) -> BoxFuture<'a, Result<SpiffeId, AuthError>> {
        Box::pin(async move {
            match credential {
                Credential::PeerCertificate(chain) => self.check(chain),
                other => Err(AuthError::NotConfigured(other.kind())),
            }
        })
    }
}
