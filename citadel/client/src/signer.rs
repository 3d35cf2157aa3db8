//! The seam between the renewal loop and Citadel: a [`Signer`] turns a CSR and an optional
//! credential into a chain and a trust bundle. [`crate::GrpcSigner`] is the real one.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
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

/// Where the credential of a first issuance (or of one after an expiry) comes from.
pub trait CredentialSource: Send + Sync + fmt::Debug {
    /// The credential to present now.
    fn credential(&self) -> Result<Credential, SignError>;
}

/// A fixed credential.
impl CredentialSource for Credential {
    fn credential(&self) -> Result<Credential, SignError> {
        Ok(self.clone())
    }
}

/// A credential kept in a file, read again at every use: Nomad rewrites a task's workload
/// identity file when it renews it, Kubernetes rotates projected service-account tokens, and
/// a VM's operator replaces a spent bootstrap token.
#[derive(Debug, Clone)]
pub struct CredentialFile {
    path: PathBuf,
    kind: fn(String) -> Credential,
}

impl CredentialFile {
    /// `kind` makes the credential from the file's trimmed text, e.g.
    /// `Credential::NomadWorkloadJwt`.
    pub fn new(path: impl Into<PathBuf>, kind: fn(String) -> Credential) -> Self {
        Self {
            path: path.into(),
            kind,
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CredentialSource for CredentialFile {
    fn credential(&self) -> Result<Credential, SignError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| {
            SignError::Other(format!(
                "cannot read the credential in {}: {e}",
                self.path.display()
            ))
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(SignError::Other(format!(
                "the credential file {} is empty",
                self.path.display()
            )));
        }
        Ok((self.kind)(token.to_owned()))
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_credential_file_is_read_at_every_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let source = CredentialFile::new(&path, Credential::NomadWorkloadJwt);
        assert!(source.credential().is_err(), "a missing file is an error");
        std::fs::write(&path, "first\n").unwrap();
        assert_eq!(
            source.credential().unwrap(),
            Credential::NomadWorkloadJwt("first".into())
        );
        std::fs::write(&path, "second").unwrap();
        assert_eq!(
            source.credential().unwrap(),
            Credential::NomadWorkloadJwt("second".into())
        );
        std::fs::write(&path, "  \n").unwrap();
        assert!(source.credential().is_err(), "an empty file is an error");
    }
}
