//! The workload's private key: generated in this process, used to sign CSRs and TLS handshakes,
//! never written, printed or sent anywhere.

use std::fmt;
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256, PublicKeyData, SanType};
use rigging_mesh_spiffe::SpiffeId;
use rustls::sign::SigningKey;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A fresh ECDSA P-256 key. It has no `Clone`, no serialization and a `Debug` that shows only
/// the algorithm; the only way out is a rustls signer that keeps it in memory.
pub struct WorkloadKey {
    key: KeyPair,
    signer: Arc<dyn SigningKey>,
}

/// Why a key or CSR could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("generating the workload key failed")]
    Generate(#[source] rcgen::Error),
    #[error("loading the workload key into rustls failed")]
    Signer(#[source] rustls::Error),
    #[error("building the certificate signing request failed")]
    Csr(#[source] rcgen::Error),
}

impl WorkloadKey {
    /// Generates a new P-256 key in this process.
    pub fn generate() -> Result<Self, KeyError> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(KeyError::Generate)?;
        // rustls takes keys as PKCS#8 DER; the encoding lives only for this call.
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = rustls::crypto::ring::sign::any_ecdsa_type(&der).map_err(KeyError::Signer)?;
        Ok(Self { key, signer })
    }

    /// A PKCS#10 CSR (DER) for this key. `requested` goes in as a URI SAN for information only:
    /// Citadel takes the identity from the credential, never from the CSR.
    pub fn csr(&self, requested: Option<&SpiffeId>) -> Result<Vec<u8>, KeyError> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(KeyError::Csr)?;
        if let Some(id) = requested {
            let uri = id.to_string().try_into().map_err(KeyError::Csr)?;
            params.subject_alt_names.push(SanType::URI(uri));
        }
        let csr = params.serialize_request(&self.key).map_err(KeyError::Csr)?;
        Ok(csr.der().to_vec())
    }

    /// The public key, SubjectPublicKeyInfo DER, to match against an issued certificate.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.subject_public_key_info()
    }

    /// The rustls signer for this key.
    pub(crate) fn signer(&self) -> Arc<dyn SigningKey> {
        self.signer.clone()
    }
}

impl fmt::Debug for WorkloadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkloadKey")
            .field("algorithm", &"ECDSA P-256")
            .finish_non_exhaustive()
    }
}
