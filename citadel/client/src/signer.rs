//! The seam between the renewal loop and Citadel: a [`Signer`] turns a CSR and an optional
//! credential into a chain and a trust bundle. [`crate::GrpcSigner`] is the real one.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use rustls_pki_types::CertificateDer;

/// How a workload proves who it is on first issuance; renewal sends none and uses the current
/// certificate over mTLS instead. `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credential {
    /// A one-time bootstrap token, for VMs.
    BootstrapToken(String),
    /// A Nomad workload identity JWT.
    NomadWorkloadJwt(String),
    /// A Kubernetes service-account token.
    KubernetesSaToken(String),
}

/// One call to Citadel's `Sign`.
#[derive(Debug, Clone)]
pub struct SignRequest {
    /// The PKCS#10 CSR, DER.
    pub csr_der: Vec<u8>,
    /// `None` for renewal over mTLS.
    pub credential: Option<Credential>,
}

/// What Citadel answered: the chain (leaf first, without the root) and every root of the
/// trust bundle.
#[derive(Debug, Clone)]
pub struct Signed {
    pub chain: Vec<CertificateDer<'static>>,
    pub trust_bundle: Vec<CertificateDer<'static>>,
}

/// Why a `Sign` call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    #[error("citadel at {endpoint} is unreachable")]
    Unreachable {
        endpoint: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("citadel refused to sign: {code:?}")]
    Refused { code: tonic::Code },
    #[error("citadel's answer is invalid: {field} {problem}")]
    BadResponse {
        field: &'static str,
        problem: &'static str,
    },
    #[error("the issued certificate is not usable")]
    BadCertificate(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("no certificate to renew with and no credential configured")]
    NoCredential,
    #[error("cannot set up tls to citadel")]
    Setup(#[source] crate::grpc::GrpcSignerError),
    #[error("the in-process certificate authority did not issue")]
    Local(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Other(String),
}

/// The boxed future a [`Signer`] returns.
pub type SignFuture<'a> = Pin<Box<dyn Future<Output = Result<Signed, SignError>> + Send + 'a>>;

/// Something that signs CSRs: Citadel over gRPC, Citadel in the same process, or a fake in
/// tests.
pub trait Signer: Send + Sync + fmt::Debug {
    /// Sends one `Sign` request.
    fn sign(&self, request: SignRequest) -> SignFuture<'_>;

    /// Whether a first issuance (no valid certificate held) must carry a [`Credential`]. True
    /// for any signer across a process boundary; a signer inside Citadel's own process, bound
    /// to one identity when it was built, answers false.
    fn needs_credential(&self) -> bool {
        true
    }
}

impl Credential {
    fn kind(&self) -> &'static str {
        match self {
            Self::BootstrapToken(_) => "bootstrap_token",
            Self::NomadWorkloadJwt(_) => "nomad_workload_jwt",
            Self::KubernetesSaToken(_) => "kubernetes_sa_token",
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credential({}, <redacted>)", self.kind())
    }
}
