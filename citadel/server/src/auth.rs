//! The authenticator seam: a credential in, the SPIFFE ID it entitles out.

use std::fmt;
use std::time::SystemTime;

use futures::future::BoxFuture;
use rigging_mesh_spiffe::{IdError, SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;

/// The namespace of identities whose credential names none (bootstrap tokens by default).
pub const DEFAULT_NAMESPACE: &str = "default";

/// The time, injected so that expiry checks are testable.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now.
    fn now(&self) -> SystemTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// Which kind of credential a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialKind {
    BootstrapToken,
    NomadWorkloadJwt,
    KubernetesSaToken,
    /// Renewal: the caller's verified mTLS client certificate.
    PeerCertificate,
}

/// A credential as it arrived.
#[non_exhaustive]
pub enum Credential<'a> {
    BootstrapToken(&'a str),
    NomadWorkloadJwt(&'a str),
    KubernetesSaToken(&'a str),
    /// The client certificate chain the TLS handshake accepted, leaf first.
    PeerCertificate(&'a [CertificateDer<'static>]),
}

/// How service names become SPIFFE IDs: Consul's layout in one trust domain and datacenter.
#[derive(Debug, Clone)]
pub struct IdentityLayout {
    pub trust_domain: TrustDomain,
    pub datacenter: String,
}

/// Why a credential was refused. Logged, never sent to the caller.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    #[error("no credential and no client certificate")]
    NoCredential,
    #[error("no authenticator is configured for {0:?} credentials")]
    NotConfigured(CredentialKind),
    #[error("malformed credential: {0}")]
    Malformed(String),
    #[error("unknown or already used bootstrap token")]
    UnknownToken,
    #[error("bootstrap token expired")]
    TokenExpired,
    #[error("token store: {0}")]
    Store(String),
    #[error("jwt algorithm {0} is not allowed")]
    AlgorithmNotAllowed(String),
    #[error("jwt has no key id (kid)")]
    NoKeyId,
    #[error("no key {kid:?} in the jwks, even after a refresh")]
    UnknownKey { kid: String },
    #[error("jwks: {0}")]
    Jwks(String),
    #[error("jwt rejected: {0}")]
    Jwt(String),
    #[error("jwt expired at {exp} (unix seconds), now {now}")]
    Expired { exp: u64, now: u64 },
    #[error("jwt not valid before {nbf} (unix seconds), now {now}")]
    NotYetValid { nbf: u64, now: u64 },
    #[error("jwt claim {0} is missing")]
    MissingClaim(&'static str),
    #[error("client certificate refused: {0}")]
    Certificate(String),
    #[error("{identity} is not in trust domain {trust_domain}")]
    ForeignTrustDomain {
        identity: String,
        trust_domain: String,
    },
    #[error("identity for service {service:?} in namespace {namespace:?}")]
    BadIdentity {
        namespace: String,
        service: String,
        #[source]
        source: IdError,
    },
}

/// Maps one kind of credential to the SPIFFE ID it entitles.
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// The credential kind this authenticator reads.
    fn kind(&self) -> CredentialKind;
    /// A short name for logs.
    fn name(&self) -> &'static str;
    /// The identity `credential` proves, or why it proves none.
    fn authenticate<'a>(
        &'a self,
        credential: &'a Credential<'a>,
    ) -> BoxFuture<'a, Result<SpiffeId, AuthError>>;
}

impl IdentityLayout {
    /// `spiffe://<td>/ns/<namespace>/dc/<dc>/svc/<service>`.
    pub fn service_id(&self, namespace: &str, service: &str) -> Result<SpiffeId, AuthError> {
        SpiffeId::service(&self.trust_domain, namespace, &self.datacenter, service).map_err(
            |source| AuthError::BadIdentity {
                namespace: namespace.to_owned(),
                service: service.to_owned(),
                source,
            },
        )
    }
}

impl Credential<'_> {
    /// Its kind.
    pub fn kind(&self) -> CredentialKind {
        match self {
            Self::BootstrapToken(_) => CredentialKind::BootstrapToken,
            Self::NomadWorkloadJwt(_) => CredentialKind::NomadWorkloadJwt,
            Self::KubernetesSaToken(_) => CredentialKind::KubernetesSaToken,
            Self::PeerCertificate(_) => CredentialKind::PeerCertificate,
        }
    }
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets stay out of logs.
        write!(f, "Credential({:?})", self.kind())
    }
}
