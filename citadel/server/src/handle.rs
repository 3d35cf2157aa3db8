//! A read-only handle on the running CA, for code in Citadel's process that issues or trusts
//! without going through gRPC.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rigging_citadel_ca::Authority;
use rustls_pki_types::CertificateDer;

/// The CA as the server holds it, following root rotations: every read sees the roots and the
/// signer Citadel uses at that moment. It cannot replace the CA; only the server's reload of
/// its state folder does (while [`crate::CitadelServer::serve`] runs).
#[derive(Debug, Clone)]
pub struct AuthorityHandle(Arc<ArcSwap<Authority>>);

impl AuthorityHandle {
    pub(crate) fn new(authority: Arc<ArcSwap<Authority>>) -> Self {
        Self(authority)
    }

    /// The CA now.
    pub fn current(&self) -> Arc<Authority> {
        self.0.load_full()
    }

    /// Every root of the trust bundle now, DER, in root order.
    pub fn trust_bundle(&self) -> Vec<CertificateDer<'static>> {
        self.0.load().trust_bundle()
    }
}
