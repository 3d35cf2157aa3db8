//! The X.509-SVID rules for a leaf certificate, as a pure function of its DER and the time.
//!
//! Chain building and signatures are webpki's job (see `verifier`); this module checks what
//! the SPIFFE X.509-SVID specification adds on top for the leaf.

use rustls_pki_types::UnixTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::error::X509Error;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

use crate::id::{IdError, SpiffeId};

/// What an SVID leaf that passed the rules says.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Svid {
    /// The one SPIFFE ID in the URI SAN.
    pub id: SpiffeId,
    /// Start of the validity window, in seconds since the Unix epoch.
    pub not_before: u64,
    /// End of the validity window, in seconds since the Unix epoch.
    pub not_after: u64,
}

/// The X.509-SVID rule a leaf broke.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SvidError {
    #[error("svid leaf is not a well-formed x.509 certificate")]
    Malformed(#[source] X509Error),
    #[error("svid leaf has {len} bytes of trailing data after the certificate")]
    TrailingData { len: usize },
    #[error("svid leaf has no uri san; an svid carries exactly one spiffe id")]
    NoUriSan,
    #[error("svid leaf has {count} uri sans; an svid carries exactly one spiffe id")]
    MultipleUriSans { count: usize },
    #[error("svid leaf's uri san {uri:?} is not a valid spiffe id")]
    InvalidId {
        uri: String,
        #[source]
        source: IdError,
    },
    #[error("svid leaf is a ca certificate (basicConstraints cA=true)")]
    IsCa,
    #[error("svid leaf's keyUsage lacks digitalSignature")]
    MissingDigitalSignature,
    #[error("svid leaf's keyUsage has keyCertSign, which only a ca may have")]
    KeyCertSign,
    #[error("svid leaf's keyUsage has cRLSign, which only a ca may have")]
    CrlSign,
    #[error("svid leaf is not valid before {not_before} (unix seconds); now is {now}")]
    NotYetValid { not_before: u64, now: u64 },
    #[error("svid leaf expired at {not_after} (unix seconds); now is {now}")]
    Expired { not_after: u64, now: u64 },
}

/// Checks the X.509-SVID leaf rules on `leaf_der` at time `now`.
///
/// Exactly one URI SAN which is a valid SPIFFE ID; not a CA; keyUsage, if present, has
/// digitalSignature and neither keyCertSign nor cRLSign; `now` inside the validity window.
pub fn verify_svid(leaf_der: &[u8], now: UnixTime) -> Result<Svid, SvidError> {
    let cert = parse(leaf_der)?;
    let id = uri_san(&cert)?;
    let bc = cert.basic_constraints().map_err(SvidError::Malformed)?;
    if bc.is_some_and(|bc| bc.value.ca) {
        return Err(SvidError::IsCa);
    }
    if let Some(ku) = cert.key_usage().map_err(SvidError::Malformed)? {
        if !ku.value.digital_signature() {
            return Err(SvidError::MissingDigitalSignature);
        }
        if ku.value.key_cert_sign() {
            return Err(SvidError::KeyCertSign);
        }
        if ku.value.crl_sign() {
            return Err(SvidError::CrlSign);
        }
    }
    let validity = cert.validity();
    // Times before the epoch only make a certificate "not yet valid" never, so clamp at 0.
    let not_before = u64::try_from(validity.not_before.timestamp()).unwrap_or(0);
    let not_after = u64::try_from(validity.not_after.timestamp()).unwrap_or(0);
    let now = now.as_secs();
    if now < not_before {
        return Err(SvidError::NotYetValid { not_before, now });
    }
    if now > not_after {
        return Err(SvidError::Expired { not_after, now });
    }
    Ok(Svid {
        id,
        not_before,
        not_after,
    })
}

/// The SPIFFE ID of a leaf, if it has exactly one valid URI SAN; no other rule is checked.
///
/// For certificates a verifier already accepted, e.g. to name the peer after a handshake.
pub fn svid_id(leaf_der: &[u8]) -> Result<SpiffeId, SvidError> {
    uri_san(&parse(leaf_der)?)
}

fn parse(der: &[u8]) -> Result<X509Certificate<'_>, SvidError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| {
        SvidError::Malformed(match e {
            x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => e,
            x509_parser::nom::Err::Incomplete(_) => X509Error::InvalidCertificate,
        })
    })?;
    if !rest.is_empty() {
        return Err(SvidError::TrailingData { len: rest.len() });
    }
    Ok(cert)
}

fn uri_san(cert: &X509Certificate<'_>) -> Result<SpiffeId, SvidError> {
    let san = cert
        .subject_alternative_name()
        .map_err(SvidError::Malformed)?;
    let uris: Vec<&str> = san
        .iter()
        .flat_map(|san| san.value.general_names.iter())
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [] => Err(SvidError::NoUriSan),
        [uri] => SpiffeId::parse(uri).map_err(|source| SvidError::InvalidId {
            uri: (*uri).to_owned(),
            source,
        }),
        more => Err(SvidError::MultipleUriSans { count: more.len() }),
    }
}
