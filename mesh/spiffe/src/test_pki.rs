//! A throwaway PKI for tests: roots and SVID leaves made with rcgen, including the broken
//! shapes the verifiers must refuse. Never for production: keys live in plain memory.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, SignatureAlgorithm,
};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// How far test certificates reach either side of now by default.
pub const DEFAULT_TEST_VALIDITY: Duration = Duration::from_secs(3600);

/// A self-signed root that signs leaves.
#[derive(Debug)]
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert: CertificateDer<'static>,
}

/// What to put in a leaf; [`LeafSpec::svid`] is a valid SVID, the other methods break it.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    uris: Vec<String>,
    ca: bool,
    key_usages: Vec<KeyUsagePurpose>,
    not_before: SystemTime,
    not_after: SystemTime,
    alg: &'static SignatureAlgorithm,
}

/// A leaf with its chain (leaf first, no root) and its private key.
#[derive(Debug)]
pub struct TestLeaf {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl TestCa {
    /// A new root named `name`, ECDSA P-256.
    pub fn new(name: &str) -> Result<Self, rcgen::Error> {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let (nb, na) = window(
            SystemTime::now() - DEFAULT_TEST_VALIDITY * 24,
            SystemTime::now() + DEFAULT_TEST_VALIDITY * 24,
        )?;
        params.not_before = nb;
        params.not_after = na;
        let cert = params.self_signed(&key)?.der().clone();
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert,
        })
    }

    /// The root certificate.
    pub fn root(&self) -> CertificateDer<'static> {
        self.cert.clone()
    }

    /// A leaf as `spec` says, signed by this root.
    pub fn leaf(&self, spec: &LeafSpec) -> Result<TestLeaf, rcgen::Error> {
        let key = KeyPair::generate_for(spec.alg)?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        for uri in &spec.uris {
            params
                .subject_alt_names
                .push(SanType::URI(uri.clone().try_into()?));
        }
        params.is_ca = if spec.ca {
            IsCa::Ca(BasicConstraints::Unconstrained)
        } else {
            IsCa::ExplicitNoCa
        };
        params.key_usages = spec.key_usages.clone();
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        (params.not_before, params.not_after) = window(spec.not_before, spec.not_after)?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(TestLeaf {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }
}

impl TestCa {
    /// Signs a CSR (DER) as an SVID for `id`, valid in `[not_before, not_after]`, ignoring what
    /// the CSR asks for except its key, as Citadel does.
    pub fn sign_csr(
        &self,
        csr_der: &[u8],
        id: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> Result<CertificateDer<'static>, rcgen::Error> {
        let csr = rcgen::CertificateSigningRequestParams::from_der(&csr_der.to_vec().into())?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.subject_alt_names = vec![SanType::URI(id.to_owned().try_into()?)];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        (params.not_before, params.not_after) = window(not_before, not_after)?;
        Ok(params
            .signed_by(&csr.public_key, &self.issuer)?
            .der()
            .clone())
    }
}

impl LeafSpec {
    /// A valid SVID for `id`: one URI SAN, cA=false, digitalSignature, valid around now.
    pub fn svid(id: &str) -> Self {
        let now = SystemTime::now();
        Self {
            uris: vec![id.to_owned()],
            ca: false,
            key_usages: vec![KeyUsagePurpose::DigitalSignature],
            not_before: now - DEFAULT_TEST_VALIDITY,
            not_after: now + DEFAULT_TEST_VALIDITY,
            alg: &rcgen::PKCS_ECDSA_P256_SHA256,
        }
    }

    /// Adds another URI SAN.
    pub fn extra_uri(mut self, uri: &str) -> Self {
        self.uris.push(uri.to_owned());
        self
    }

    /// Marks the leaf a CA (with keyCertSign, as a CA has).
    pub fn ca(mut self) -> Self {
        self.ca = true;
        self.key_usages.push(KeyUsagePurpose::KeyCertSign);
        self
    }

    /// Replaces the key usages.
    pub fn key_usages(mut self, usages: Vec<KeyUsagePurpose>) -> Self {
        self.key_usages = usages;
        self
    }

    /// Sets the validity window.
    pub fn validity(mut self, not_before: SystemTime, not_after: SystemTime) -> Self {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    /// Sets the leaf key's algorithm.
    pub fn alg(mut self, alg: &'static SignatureAlgorithm) -> Self {
        self.alg = alg;
        self
    }
}

impl TestLeaf {
    /// The leaf as rustls serves it, with the `ring` provider.
    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, rustls::Error> {
        let key = rustls::crypto::ring::sign::any_supported_type(&self.key)?;
        Ok(Arc::new(CertifiedKey::new(self.chain.clone(), key)))
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        &self.chain[0]
    }
}

fn window(
    not_before: SystemTime,
    not_after: SystemTime,
) -> Result<(time::OffsetDateTime, time::OffsetDateTime), rcgen::Error> {
    let at = |t: SystemTime| {
        let secs = t
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        time::OffsetDateTime::from_unix_timestamp(secs).map_err(|_| rcgen::Error::Time)
    };
    Ok((at(not_before)?, at(not_after)?))
}
