//! [`LocalSigner`]: certificates for a component that runs in Citadel's own process (Pilot
//! under `rig up`), issued straight from the running CA for one identity fixed at
//! construction, and renewed through the ordinary `Renewer`.

use std::sync::Arc;

use rigging_citadel_ca::{LeafTtl, TrustDomain};
use rigging_citadel_client::{
    BundleFuture, BundleSource, SignError, SignFuture, SignRequest, Signed, Signer,
};
use rigging_mesh_spiffe::SpiffeId;
use rustls_pki_types::CertificateDer;

use crate::auth::Clock;
use crate::dns::{self, DnsNames};
use crate::handle::AuthorityHandle;

/// Issues from the running CA for one [`SpiffeId`], with no credential: whoever holds it is
/// already inside Citadel's process, which chose the identity when it built the signer. The
/// CSR's key is certified after its signature is checked; everything else in it is ignored.
#[derive(Debug, Clone)]
pub struct LocalSigner {
    authority: AuthorityHandle,
    identity: SpiffeId,
    leaf_ttl: LeafTtl,
    clock: Arc<dyn Clock>,
    /// DNS SANs for the identity; none without it.
    dns_names: Option<Arc<dyn DnsNames>>,
}

/// Why a [`LocalSigner`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalSignerError {
    #[error("identity {identity} is not in the ca's trust domain {trust_domain}")]
    ForeignTrustDomain {
        identity: SpiffeId,
        trust_domain: TrustDomain,
    },
}

impl LocalSigner {
    /// A signer for `identity`, issuing leaves of `leaf_ttl` from whatever CA `authority`
    /// holds at each call (so it follows root rotations), at the time `clock` says.
    pub fn new(
        authority: AuthorityHandle,
        identity: SpiffeId,
        leaf_ttl: LeafTtl,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LocalSignerError> {
        let current = authority.current();
        if !identity.is_member_of(current.trust_domain()) {
            return Err(LocalSignerError::ForeignTrustDomain {
                identity,
                trust_domain: current.trust_domain().clone(),
            });
        }
        Ok(Self {
            authority,
            identity,
            leaf_ttl,
            clock,
            dns_names: None,
        })
    }

    /// Asks `hook` which DNS names each certificate carries besides the identity, with the
    /// same filtering as the gRPC service (reserved and invalid names are dropped).
    #[must_use]
    pub fn with_dns_names(mut self, hook: Arc<dyn DnsNames>) -> Self {
        self.dns_names = Some(hook);
        self
    }

    /// The identity every certificate of this signer carries.
    pub fn identity(&self) -> &SpiffeId {
        &self.identity
    }

    fn issue(&self, request: &SignRequest) -> Result<Signed, SignError> {
        if request.credential.is_some() {
            tracing::debug!(identity = %self.identity, "in-process sign ignores the credential it was given");
        }
        let dns_names = dns::names_for(self.dns_names.as_deref(), &self.identity);
        let authority = self.authority.current();
        let issued = authority
            .issue(
                &request.csr_der,
                &self.identity,
                &dns_names,
                self.leaf_ttl,
                self.clock.now(),
            )
            .map_err(|e| {
                tracing::warn!(identity = %self.identity, reason = %e, "in-process issuing failed");
                SignError::Local(Box::new(e))
            })?;
        tracing::info!(identity = %self.identity, ?dns_names, signer = %authority.signer_id(), "issued a certificate in process");
        Ok(Signed {
            chain: issued.chain,
            trust_bundle: authority.trust_bundle(),
        })
    }
}

impl Signer for LocalSigner {
    fn sign(&self, request: SignRequest) -> SignFuture<'_> {
        let result = self.issue(&request);
        Box::pin(async move { result })
    }

    fn needs_credential(&self) -> bool {
        false
    }
}

impl BundleSource for LocalSigner {
    fn trust_bundle(&self) -> BundleFuture<'_> {
        let roots: Vec<CertificateDer<'static>> = self.authority.trust_bundle();
        Box::pin(async move { Ok(roots) })
    }
}
