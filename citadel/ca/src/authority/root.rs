//! The roots an authority signs with: a CA certificate chain and its key, made, loaded and
//! printed as PEM.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use rigging_mesh_spiffe::TrustDomain;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::{CLOCK_SKEW_BACKDATE, ROOT_TTL, random_serial};
/// The number that names a root in the state folder (`roots/<n>.pem`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RootId(pub u32);

/// A CA certificate (root or intermediate) with its key, able to sign leaves.
pub struct SigningRoot {
    pub(super) id: RootId,
    /// The signing certificate first, then its issuers; the last one is the trust anchor.
    pub(super) chain: Vec<CertificateDer<'static>>,
    pub(super) key: KeyPair,
    /// The earliest notAfter along `chain`: no leaf may outlive it.
    pub(super) not_after: SystemTime,
}

/// Why a root could not be made, loaded or chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    #[error("generating the root key or certificate")]
    Generate(#[source] rcgen::Error),
    #[error("no certificate in the root's PEM")]
    NoCertificate,
    #[error("reading the root's PEM certificates")]
    Pem(#[source] rustls_pki_types::pem::Error),
    #[error("reading the root's private key")]
    Key(#[source] rcgen::Error),
    #[error("certificate {index} of the root's chain does not parse")]
    Parse { index: usize },
    #[error("the signing certificate is not a CA (basicConstraints cA is not true)")]
    NotCa,
    #[error("the private key does not belong to the signing certificate")]
    KeyMismatch,
    #[error("root {0} is not in the trust bundle")]
    Unknown(RootId),
    #[error("time {0:?} cannot be represented in a certificate")]
    Time(SystemTime),
    #[error("no randomness for the serial number: {0}")]
    Random(String),
}

impl fmt::Display for RootId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for RootId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(Self)
    }
}

impl fmt::Debug for SigningRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key is left out on purpose.
        f.debug_struct("SigningRoot")
            .field("id", &self.id)
            .field("chain_len", &self.chain.len())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl SigningRoot {
    /// A new self-signed ECDSA P-256 root for `trust_domain`, valid from `now` for [`ROOT_TTL`].
    pub fn generate(
        id: RootId,
        trust_domain: &TrustDomain,
        now: SystemTime,
    ) -> Result<Self, RootError> {
        let key =
            KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(RootError::Generate)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "Rigging");
        dn.push(
            DnType::CommonName,
            format!("Rigging Citadel root {id} for {trust_domain}"),
        );
        params.distinguished_name = dn;
        // Path length 0: roots sign leaves directly, never an intermediate.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let not_before = now.checked_sub(CLOCK_SKEW_BACKDATE).unwrap_or(now);
        let not_after = now.checked_add(ROOT_TTL).ok_or(RootError::Time(now))?;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.serial_number = Some(random_serial().map_err(RootError::Random)?);
        let cert = params.self_signed(&key).map_err(RootError::Generate)?;
        Ok(Self {
            id,
            chain: vec![cert.der().clone()],
            key,
            not_after,
        })
    }

    /// A given root or intermediate: `cert_pem` holds the signing certificate first, then
    /// optionally its issuers up to the root; `key_pem` the signing certificate's key.
    pub fn from_pem(id: RootId, cert_pem: &[u8], key_pem: &str) -> Result<Self, RootError> {
        let chain = CertificateDer::pem_slice_iter(cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(RootError::Pem)?;
        let key = KeyPair::from_pem(key_pem).map_err(RootError::Key)?;
        Self::from_parts(id, chain, key)
    }

    fn from_parts(
        id: RootId,
        chain: Vec<CertificateDer<'static>>,
        key: KeyPair,
    ) -> Result<Self, RootError> {
        let first = chain.first().ok_or(RootError::NoCertificate)?;
        let (_, signing) =
            X509Certificate::from_der(first).map_err(|_| RootError::Parse { index: 0 })?;
        if !signing.is_ca() {
            return Err(RootError::NotCa);
        }
        if signing.public_key().subject_public_key.data.as_ref()
            != rcgen::PublicKeyData::der_bytes(&key)
        {
            return Err(RootError::KeyMismatch);
        }
        let mut not_after: Option<SystemTime> = None;
        for (index, der) in chain.iter().enumerate() {
            let (_, cert) =
                X509Certificate::from_der(der).map_err(|_| RootError::Parse { index })?;
            let t = asn1_to_system(cert.validity().not_after.timestamp());
            not_after = Some(not_after.map_or(t, |n| n.min(t)));
        }
        Ok(Self {
            id,
            chain,
            key,
            not_after: not_after.ok_or(RootError::NoCertificate)?,
        })
    }

    /// The root's number.
    pub fn id(&self) -> RootId {
        self.id
    }

    /// The certificate that signs leaves.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }

    /// The signing certificate and its issuers.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The certificate workloads must trust: the last of the chain.
    pub fn trust_anchor(&self) -> &CertificateDer<'static> {
        // `from_parts` and `generate` never build an empty chain.
        &self.chain[self.chain.len() - 1]
    }

    /// The chain as PEM, for the state folder.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| pem_encode("CERTIFICATE", c))
            .collect()
    }

    /// The private key as PKCS#8 PEM, for the state folder (written with mode 0600).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

fn asn1_to_system(unix_seconds: i64) -> SystemTime {
    if unix_seconds >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(unix_seconds.unsigned_abs())
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(unix_seconds.unsigned_abs())
    }
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    /// PEM's line length (RFC 7468).
    const LINE: usize = 64;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(LINE) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
