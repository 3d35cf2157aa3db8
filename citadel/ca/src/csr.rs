//! The one thing Citadel takes from a CSR: its public key, after checking the CSR's signature
//! proves possession of the private key. Subject, SANs and every requested extension are ignored.

use rcgen::{PublicKeyData, SignatureAlgorithm};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::der_parser::oid::Oid;
use x509_parser::prelude::FromDer;

/// Why a CSR was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrError {
    #[error("csr is not a DER PKCS#10 certification request")]
    Malformed,
    #[error("csr has {0} trailing bytes after the request")]
    TrailingBytes(usize),
    #[error("csr signature does not verify with its own public key")]
    BadSignature,
    #[error("csr public key algorithm {0} is not supported (ECDSA P-256/P-384, Ed25519, RSA)")]
    UnsupportedKey(String),
}

/// Checks that `der` is a CSR whose signature verifies and whose key Citadel can certify,
/// without issuing anything: lets a caller refuse a bad CSR before it spends a one-time credential.
pub fn check_csr(der: &[u8]) -> Result<(), CsrError> {
    CsrKey::from_der(der).map(drop)
}

/// A CSR's verified public key, in the shape rcgen signs.
#[derive(Debug)]
pub(crate) struct CsrKey {
    raw: Vec<u8>,
    alg: &'static SignatureAlgorithm,
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_ED25519: &str = "1.3.101.112";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

impl CsrKey {
    /// Parses `der`, checks its self-signature, and keeps only the public key.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, CsrError> {
        let (rest, csr) =
            X509CertificationRequest::from_der(der).map_err(|_| CsrError::Malformed)?;
        if !rest.is_empty() {
            return Err(CsrError::TrailingBytes(rest.len()));
        }
        csr.verify_signature().map_err(|_| CsrError::BadSignature)?;
        let spki = &csr.certification_request_info.subject_pki;
        let alg_oid = spki.algorithm.algorithm.to_id_string();
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.as_oid().ok())
            .map(|o: Oid<'_>| o.to_id_string());
        let alg: &'static SignatureAlgorithm = match (alg_oid.as_str(), curve.as_deref()) {
            (OID_EC_PUBLIC_KEY, Some(OID_P256)) => &rcgen::PKCS_ECDSA_P256_SHA256,
            (OID_EC_PUBLIC_KEY, Some(OID_P384)) => &rcgen::PKCS_ECDSA_P384_SHA384,
            (OID_ED25519, _) => &rcgen::PKCS_ED25519,
            (OID_RSA, _) => &rcgen::PKCS_RSA_SHA256,
            (other, curve) => {
                return Err(CsrError::UnsupportedKey(match curve {
                    Some(c) => format!("{other} ({c})"),
                    None => other.to_owned(),
                }));
            }
        };
        Ok(Self {
            raw: spki.subject_public_key.data.to_vec(),
            alg,
        })
    }

    /// RSA keys may also encipher (TLS 1.2 RSA key exchange); EC and Ed25519 keys only sign.
    pub(crate) fn is_rsa(&self) -> bool {
        self.alg == &rcgen::PKCS_RSA_SHA256
    }
}

impl PublicKeyData for CsrKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}
