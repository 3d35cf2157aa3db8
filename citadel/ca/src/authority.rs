//! The authority: its roots, which one signs, and issuing leaf SVIDs. Pure: time is a parameter.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SerialNumber,
};
use rigging_mesh_spiffe::{SpiffeId, TrustDomain};
use rustls_pki_types::CertificateDer;

use crate::csr::{CsrError, CsrKey};
use crate::dns::{DnsNameError, dns_sans};

mod root;

pub use root::{RootError, RootId, SigningRoot};

/// Leaf lifetime when nothing else is configured: short, so a leaked key is useful for a day at
/// most, and renewal at half-life leaves twelve hours to ride out a Citadel outage.
pub const DEFAULT_LEAF_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// The longest leaf Citadel will issue, whatever the configuration says: a week bounds the
/// damage of a stolen key, since SVIDs are not revoked.
pub const MAX_LEAF_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// The shortest leaf: ten seconds, so end-to-end tests can watch rotation and expiry happen.
/// Renewal at half-life then means a `Sign` every five seconds per workload: fine for tests and
/// demos, too much for a large mesh, where the 24 h default belongs.
pub const MIN_LEAF_TTL: Duration = Duration::from_secs(10);
/// How far notBefore is set in the past, so that a peer whose clock runs a little behind
/// Citadel's does not refuse a fresh certificate as "not yet valid".
pub const CLOCK_SKEW_BACKDATE: Duration = Duration::from_secs(5 * 60);
/// Lifetime of a root Citadel creates: long, because replacing one is the three-step rotation.
pub const ROOT_TTL: Duration = Duration::from_secs(10 * 365 * 24 * 60 * 60);
/// Serial numbers are 16 random bytes (RFC 5280 allows up to 20; CA/B asks for 64 random bits).
const SERIAL_BYTES: usize = 16;

/// A leaf lifetime within [`MIN_LEAF_TTL`]..=[`MAX_LEAF_TTL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafTtl(Duration);

/// Every root of the trust domain, and the one that signs.
#[derive(Debug)]
pub struct Authority {
    trust_domain: TrustDomain,
    roots: BTreeMap<RootId, SigningRoot>,
    signer: RootId,
}

/// A signed leaf and what the caller needs to use it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IssuedCert {
    /// Leaf first, then intermediates; never the trust anchor.
    pub chain: Vec<CertificateDer<'static>>,
    pub identity: SpiffeId,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub serial: Vec<u8>,
}

/// Why a leaf was not issued.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    #[error("refused the csr")]
    Csr(#[from] CsrError),
    #[error("identity {identity} is not in this authority's trust domain {trust_domain}")]
    ForeignTrustDomain {
        identity: SpiffeId,
        trust_domain: TrustDomain,
    },
    #[error("dns name {name:?} cannot go in a certificate")]
    DnsName {
        name: String,
        #[source]
        source: DnsNameError,
    },
    #[error("leaf ttl {0:?} is outside {MIN_LEAF_TTL:?}..={MAX_LEAF_TTL:?}")]
    TtlOutOfRange(Duration),
    #[error("the signer expires before the leaf could start")]
    SignerExpired,
    #[error("time {0:?} cannot be represented in a certificate")]
    Time(SystemTime),
    #[error("no randomness for the serial number: {0}")]
    Random(String),
    #[error("signing the leaf for {identity}")]
    Sign {
        identity: String,
        #[source]
        source: rcgen::Error,
    },
}

impl LeafTtl {
    /// A validated leaf lifetime.
    pub fn new(ttl: Duration) -> Result<Self, IssueError> {
        if (MIN_LEAF_TTL..=MAX_LEAF_TTL).contains(&ttl) {
            Ok(Self(ttl))
        } else {
            Err(IssueError::TtlOutOfRange(ttl))
        }
    }

    /// The lifetime.
    pub fn get(self) -> Duration {
        self.0
    }
}

impl Default for LeafTtl {
    fn default() -> Self {
        Self(DEFAULT_LEAF_TTL)
    }
}

impl Authority {
    /// An authority over `roots`, signing with `signer`.
    pub fn new(
        trust_domain: TrustDomain,
        roots: Vec<SigningRoot>,
        signer: RootId,
    ) -> Result<Self, RootError> {
        let roots: BTreeMap<_, _> = roots.into_iter().map(|r| (r.id, r)).collect();
        if !roots.contains_key(&signer) {
            return Err(RootError::Unknown(signer));
        }
        Ok(Self {
            trust_domain,
            roots,
            signer,
        })
    }

    /// The trust domain every issued identity must belong to.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The root that signs new leaves.
    pub fn signer_id(&self) -> RootId {
        self.signer
    }

    /// Every root, in id order.
    pub fn roots(&self) -> impl Iterator<Item = &SigningRoot> {
        self.roots.values()
    }

    /// The trust bundle: each root's trust anchor, once, in id order.
    pub fn trust_bundle(&self) -> Vec<CertificateDer<'static>> {
        let mut out: Vec<CertificateDer<'static>> = Vec::new();
        for root in self.roots.values() {
            let anchor = root.trust_anchor();
            if !out.contains(anchor) {
                out.push(anchor.clone());
            }
        }
        out
    }

    fn signer(&self) -> &SigningRoot {
        // `new` checks the signer is among the roots, and nothing removes it after.
        &self.roots[&self.signer]
    }

    /// Issues a leaf SVID for `identity` to the key in `csr_der`.
    ///
    /// The CSR's signature must verify; everything else it asks for (subject, SANs, key usage,
    /// basic constraints) is ignored. The leaf carries one URI SAN, `identity`, then one DNS
    /// SAN for each of `dns_names` (in order, a name repeated in any case only once): names the
    /// caller decided for this identity, never ones taken from the CSR. Each must pass
    /// [`check_dns_name`](crate::check_dns_name), or nothing is issued.
    pub fn issue(
        &self,
        csr_der: &[u8],
        identity: &SpiffeId,
        dns_names: &[String],
        ttl: LeafTtl,
        now: SystemTime,
    ) -> Result<IssuedCert, IssueError> {
        if !identity.is_member_of(&self.trust_domain) {
            return Err(IssueError::ForeignTrustDomain {
                identity: identity.clone(),
                trust_domain: self.trust_domain.clone(),
            });
        }
        let dns_sans = dns_sans(dns_names)?;
        let key = CsrKey::from_der(csr_der)?;
        let mut params = self.leaf_params(ttl, now)?;
        let uri = identity
            .as_str()
            .try_into()
            .map_err(|source| IssueError::Sign {
                identity: identity.to_string(),
                source,
            })?;
        params.subject_alt_names = vec![SanType::URI(uri)];
        params.subject_alt_names.extend(dns_sans);
        params.key_usages = if key.is_rsa() {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        } else {
            vec![KeyUsagePurpose::DigitalSignature]
        };
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let signed = self.sign(&params, &key, identity.as_str())?;
        Ok(IssuedCert {
            chain: signed,
            identity: identity.clone(),
            not_before: params.not_before.into(),
            not_after: params.not_after.into(),
            serial: params
                .serial_number
                .as_ref()
                .map(|s| s.to_bytes())
                .unwrap_or_default(),
        })
    }

    /// Citadel's own TLS server certificate: a fresh key, DNS and IP SANs, serverAuth only.
    /// Not an SVID: workloads check it by name against the trust bundle.
    pub fn issue_server_cert(
        &self,
        dns_names: &[&str],
        ips: &[std::net::IpAddr],
        ttl: LeafTtl,
        now: SystemTime,
    ) -> Result<(Vec<CertificateDer<'static>>, KeyPair, SystemTime), IssueError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|source| {
            IssueError::Sign {
                identity: "citadel".to_owned(),
                source,
            }
        })?;
        let mut params = self.leaf_params(ttl, now)?;
        let mut dn = DistinguishedName::new();
        dn.push(
            DnType::CommonName,
            dns_names.first().copied().unwrap_or("citadel"),
        );
        params.distinguished_name = dn;
        for name in dns_names {
            let name = (*name).try_into().map_err(|source| IssueError::Sign {
                identity: (*name).to_owned(),
                source,
            })?;
            params.subject_alt_names.push(SanType::DnsName(name));
        }
        params
            .subject_alt_names
            .extend(ips.iter().map(|ip| SanType::IpAddress(*ip)));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let chain = self.sign(&params, &key, "citadel")?;
        Ok((chain, key, params.not_after.into()))
    }

    /// The parts every leaf shares: validity, serial, cA=false, AKI; an empty subject.
    fn leaf_params(&self, ttl: LeafTtl, now: SystemTime) -> Result<CertificateParams, IssueError> {
        let signer = self.signer();
        let not_before = now.checked_sub(CLOCK_SKEW_BACKDATE).unwrap_or(now);
        let not_after = now
            .checked_add(ttl.get())
            .ok_or(IssueError::Time(now))?
            .min(signer.not_after);
        if not_after <= now {
            return Err(IssueError::SignerExpired);
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params.is_ca = IsCa::ExplicitNoCa;
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before.into();
        params.not_after = not_after.into();
        params.serial_number = Some(random_serial().map_err(IssueError::Random)?);
        Ok(params)
    }

    fn sign(
        &self,
        params: &CertificateParams,
        key: &impl rcgen::PublicKeyData,
        what: &str,
    ) -> Result<Vec<CertificateDer<'static>>, IssueError> {
        let signer = self.signer();
        let err = |source| IssueError::Sign {
            identity: what.to_owned(),
            source,
        };
        let issuer = Issuer::from_ca_cert_der(signer.certificate(), &signer.key).map_err(err)?;
        let leaf = params.signed_by(key, &issuer).map_err(err)?;
        let mut chain = vec![leaf.der().clone()];
        // Intermediates go along; the trust anchor does not, the peer already has it.
        chain.extend(signer.chain[..signer.chain.len() - 1].iter().cloned());
        Ok(chain)
    }
}

/// A positive random serial: the top bit is cleared so the DER INTEGER needs no sign byte.
fn random_serial() -> Result<SerialNumber, String> {
    let mut bytes = [0u8; SERIAL_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| e.to_string())?;
    bytes[0] &= 0x7f;
    // A leading zero byte would shorten the encoding; keep the serial its full length.
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}
