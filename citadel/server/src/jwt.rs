//! JWT authenticators: Nomad workload identities and Kubernetes service-account tokens, both
//! verified against their issuer's JWKS, then mapped to a service identity.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use rigging_mesh_spiffe::SpiffeId;
use serde::Deserialize;

use crate::auth::{AuthError, Authenticator, Clock, Credential, CredentialKind, IdentityLayout};
use crate::jwks::JwksSource;

/// Clock skew tolerated on `exp` and `nbf`: issuers and Citadel do not share a clock.
pub const DEFAULT_JWT_LEEWAY: Duration = Duration::from_secs(60);

/// Only asymmetric signatures: `none` proves nothing, and HS* would need a shared secret that
/// the JWKS cannot carry (and invites key-confusion attacks).
const ALLOWED_ALGORITHMS: &[(&str, Algorithm)] = &[
    ("RS256", Algorithm::RS256),
    ("RS384", Algorithm::RS384),
    ("RS512", Algorithm::RS512),
    ("PS256", Algorithm::PS256),
    ("PS384", Algorithm::PS384),
    ("PS512", Algorithm::PS512),
    ("ES256", Algorithm::ES256),
    ("ES384", Algorithm::ES384),
    ("EdDSA", Algorithm::EdDSA),
];

/// Which issuer's claims a token carries, and so how it names a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClaimsMapping {
    /// Nomad workload identity: `nomad_namespace` → namespace, and the service from
    /// `nomad_service` (a service identity) or, for a task identity, from the task of the
    /// proxy Nomad would have run in its place: `nomad_task` = `connect-proxy-<service>`,
    /// `connect-ingress-<service>` or `connect-terminating-<service>` (the names of the
    /// tasks `rig nomad inject` writes, and of Nomad's own Envoy tasks). Nomad gives tasks
    /// only task identities, so that is how an injected proxy proves itself; any other task
    /// identity names no service and is refused.
    Nomad,
    /// Kubernetes projected service-account token: `kubernetes.io.namespace` → namespace,
    /// `kubernetes.io.serviceaccount.name` → service.
    Kubernetes,
}

/// What a JWT must say to be accepted.
#[derive(Debug, Clone)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
    pub mapping: ClaimsMapping,
}

/// Verifies JWTs against a JWKS and maps their claims to an identity.
#[derive(Debug)]
pub struct JwtAuthenticator {
    config: JwtConfig,
    jwks: JwksSource,
    layout: IdentityLayout,
    clock: Arc<dyn Clock>,
}

#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Claims {
    exp: u64,
    nbf: Option<u64>,
    nomad_namespace: Option<String>,
    nomad_service: Option<String>,
    nomad_task: Option<String>,
    #[serde(rename = "kubernetes.io")]
    kubernetes: Option<KubernetesClaims>,
}

#[derive(Debug, Deserialize)]
struct KubernetesClaims {
    namespace: Option<String>,
    serviceaccount: Option<NamedObject>,
}

#[derive(Debug, Deserialize)]
struct NamedObject {
    name: Option<String>,
}

impl JwtAuthenticator {
    /// An authenticator for tokens `config` describes, keys from `jwks`.
    pub fn new(
        config: JwtConfig,
        jwks: JwksSource,
        layout: IdentityLayout,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            config,
            jwks,
            layout,
            clock,
        }
    }

    async fn check(&self, token: &str) -> Result<SpiffeId, AuthError> {
        let header = header_of(token)?;
        let alg = ALLOWED_ALGORITHMS
            .iter()
            .find(|(name, _)| *name == header.alg)
            .map(|(_, alg)| *alg)
            .ok_or_else(|| AuthError::AlgorithmNotAllowed(header.alg.clone()))?;
        let kid = header.kid.ok_or(AuthError::NoKeyId)?;
        let jwk = self
            .jwks
            .key(&kid)
            .await
            .map_err(|e| AuthError::Jwks(e.to_string()))?
            .ok_or_else(|| AuthError::UnknownKey { kid: kid.clone() })?;
        if let Some(key_alg) = jwk.common.key_algorithm
            && format!("{key_alg:?}") != header.alg
        {
            return Err(AuthError::AlgorithmNotAllowed(format!(
                "{} with a key for {key_alg:?}",
                header.alg
            )));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| AuthError::Jwks(e.to_string()))?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&self.config.issuer]);
        validation.set_audience(&[&self.config.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        // Time is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map_err(|e| AuthError::Jwt(e.to_string()))?
            .claims;
        self.check_time(&claims)?;
        self.identity(&claims)
    }

    fn check_time(&self, claims: &Claims) -> Result<(), AuthError> {
        let now = self
            .clock
            .now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let leeway = self.config.leeway.as_secs();
        if now >= claims.exp.saturating_add(leeway) {
            return Err(AuthError::Expired {
                exp: claims.exp,
                now,
            });
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(leeway) < nbf
        {
            return Err(AuthError::NotYetValid { nbf, now });
        }
        Ok(())
    }

    fn identity(&self, claims: &Claims) -> Result<SpiffeId, AuthError> {
        let (namespace, service) = match self.config.mapping {
            ClaimsMapping::Nomad => (
                claims
                    .nomad_namespace
                    .as_deref()
                    .ok_or(AuthError::MissingClaim("nomad_namespace"))?,
                claims
                    .nomad_service
                    .as_deref()
                    .or_else(|| claims.nomad_task.as_deref().and_then(proxy_task_service))
                    .ok_or(AuthError::MissingClaim(
                        "nomad_service (or nomad_task of a connect-proxy-<service> task)",
                    ))?,
            ),
            ClaimsMapping::Kubernetes => {
                let k8s = claims
                    .kubernetes
                    .as_ref()
                    .ok_or(AuthError::MissingClaim("kubernetes.io"))?;
                (
                    k8s.namespace
                        .as_deref()
                        .ok_or(AuthError::MissingClaim("kubernetes.io.namespace"))?,
                    k8s.serviceaccount
                        .as_ref()
                        .and_then(|s| s.name.as_deref())
                        .ok_or(AuthError::MissingClaim("kubernetes.io.serviceaccount.name"))?,
                )
            }
        };
        self.layout.service_id(namespace, service)
    }
}

impl Authenticator for JwtAuthenticator {
    fn kind(&self) -> CredentialKind {
        match self.config.mapping {
            ClaimsMapping::Nomad => CredentialKind::NomadWorkloadJwt,
            ClaimsMapping::Kubernetes => CredentialKind::KubernetesSaToken,
        }
    }

    fn name(&self) -> &'static str {
        match self.config.mapping {
            ClaimsMapping::Nomad => "nomad-jwt",
            ClaimsMapping::Kubernetes => "kubernetes-jwt",
        }
    }

    fn authenticate<'a>(
        &'a self,
        credential: &'a Credential<'a>,
    ) -> BoxFuture<'a, Result<SpiffeId, AuthError>> {
        Box::pin(async move {
            match (credential, self.config.mapping) {
                (Credential::NomadWorkloadJwt(t), ClaimsMapping::Nomad)
                | (Credential::KubernetesSaToken(t), ClaimsMapping::Kubernetes) => {
                    self.check(t).await
                }
                (other, _) => Err(AuthError::NotConfigured(other.kind())),
            }
        })
    }
}

/// Task name prefixes of the proxies Nomad runs for a service: a sidecar and the gateways.
const PROXY_TASK_PREFIXES: [&str; 3] =
    ["connect-proxy-", "connect-ingress-", "connect-terminating-"];

/// The service whose proxy task is named `task`, if it is one.
fn proxy_task_service(task: &str) -> Option<&str> {
    PROXY_TASK_PREFIXES
        .iter()
        .find_map(|p| task.strip_prefix(p))
        .filter(|s| !s.is_empty())
}

/// The JOSE header, read by hand so that `alg: none` and unknown algorithms are named in the
/// log rather than lost in a parse error.
fn header_of(token: &str) -> Result<Header, AuthError> {
    let encoded = token
        .split('.')
        .next()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| AuthError::Malformed("jwt has no header".into()))?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::Malformed("jwt header is not base64url".into()))?;
    serde_json::from_slice(&json).map_err(|e| AuthError::Malformed(format!("jwt header: {e}")))
}
