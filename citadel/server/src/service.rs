//! The `rigging.citadel.v1.Citadel` gRPC service.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use rigging_citadel_ca::{Authority, LeafTtl};
use rigging_mesh_api::citadel::v1::citadel_server::Citadel;
use rigging_mesh_api::citadel::v1::sign_request::Credential as ProtoCredential;
use rigging_mesh_api::citadel::v1::{
    SignRequest, SignResponse, TrustBundleRequest, TrustBundleResponse,
};
use rigging_mesh_grpc_tls::PeerInfo;
use tonic::{Request, Response, Status};

use crate::auth::{AuthError, Authenticator, Clock, Credential, CredentialKind};
use crate::dns::{self, DnsNames};

/// The gRPC service.
#[derive(Debug, Clone)]
pub(crate) struct CitadelService {
    pub(crate) authority: Arc<ArcSwap<Authority>>,
    pub(crate) authenticators: Arc<HashMap<CredentialKind, Arc<dyn Authenticator>>>,
    pub(crate) leaf_ttl: LeafTtl,
    pub(crate) clock: Arc<dyn Clock>,
    /// DNS SANs by identity; none without it.
    pub(crate) dns_names: Option<Arc<dyn DnsNames>>,
}

/// The one answer to every refused Sign: no detail for the caller, the reason goes to the log.
fn unauthenticated() -> Status {
    Status::unauthenticated("unauthenticated")
}

impl CitadelService {
    async fn authenticate(
        &self,
        credential: &Credential<'_>,
    ) -> Result<(&'static str, rigging_mesh_spiffe::SpiffeId), (&'static str, AuthError)> {
        let Some(auth) = self.authenticators.get(&credential.kind()) else {
            return Err(("none", AuthError::NotConfigured(credential.kind())));
        };
        auth.authenticate(credential)
            .await
            .map(|id| (auth.name(), id))
            .map_err(|e| (auth.name(), e))
    }
}

#[tonic::async_trait]
impl Citadel for CitadelService {
    async fn sign(&self, request: Request<SignRequest>) -> Result<Response<SignResponse>, Status> {
        let peer = request.extensions().get::<PeerInfo>().cloned();
        let remote = peer.as_ref().and_then(|p| p.remote);
        let request = request.into_inner();
        // A bad CSR is refused before a one-time token is spent on it.
        if let Err(e) = rigging_citadel_ca::check_csr(&request.csr_der) {
            tracing::warn!(authenticator = "csr", reason = %e, ?remote, "refused a sign request");
            return Err(unauthenticated());
        }
        let chain;
        let credential = match &request.credential {
            Some(ProtoCredential::BootstrapToken(t)) => Credential::BootstrapToken(t),
            Some(ProtoCredential::NomadWorkloadJwt(t)) => Credential::NomadWorkloadJwt(t),
            Some(ProtoCredential::KubernetesSaToken(t)) => Credential::KubernetesSaToken(t),
            None => match peer.and_then(|p| p.chain) {
                Some(c) => {
                    chain = c;
                    Credential::PeerCertificate(&chain)
                }
                None => {
                    tracing::warn!(authenticator = "none", reason = %AuthError::NoCredential, ?remote, "refused a sign request");
                    return Err(unauthenticated());
                }
            },
        };
        let (authenticator, identity) = match self.authenticate(&credential).await {
            Ok(ok) => ok,
            Err((authenticator, reason)) => {
                tracing::warn!(authenticator, reason = %reason, ?remote, "refused a sign request");
                return Err(unauthenticated());
            }
        };
        let dns_names = dns::names_for(self.dns_names.as_deref(), &identity);
        let authority = self.authority.load();
        let issued = authority
            .issue(
                &request.csr_der,
                &identity,
                &dns_names,
                self.leaf_ttl,
                self.clock.now(),
            )
            .map_err(|e| {
                tracing::warn!(authenticator, reason = %e, %identity, "issuing failed");
                unauthenticated()
            })?;
        tracing::info!(authenticator, %identity, ?dns_names, ?remote, "issued a certificate");
        let expires_unix_seconds = issued
            .not_after
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Ok(Response::new(SignResponse {
            chain_der: issued.chain.into_iter().map(|c| c.to_vec()).collect(),
            trust_bundle_der: authority
                .trust_bundle()
                .into_iter()
                .map(|c| c.to_vec())
                .collect(),
            expires_unix_seconds,
        }))
    }

    async fn trust_bundle(
        &self,
        _request: Request<TrustBundleRequest>,
    ) -> Result<Response<TrustBundleResponse>, Status> {
        let authority = self.authority.load();
        Ok(Response::new(TrustBundleResponse {
            trust_bundle_der: authority
                .trust_bundle()
                .into_iter()
                .map(|c| c.to_vec())
                .collect(),
        }))
    }
}
