//! The certificates of the HAProxy and nginx two-hop contenders: a throwaway CA and two leaves,
//! ECDSA P-256 like the mesh's SVIDs, written as PEM files into the run's temporary folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};

/// The name the inbound hop's certificate holds and the outbound hop checks (SNI and SAN).
pub const SERVER_NAME: &str = "bench-upstream";
/// The name in the outbound hop's client certificate.
const CLIENT_NAME: &str = "bench-client";

/// Where the PEM files are.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate both hops trust.
    pub ca: PathBuf,
    pub server: Leaf,
    pub client: Leaf,
}

/// One leaf's files: certificate, key, and both in one file (HAProxy's `crt`).
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub combined: PathBuf,
}

impl Pki {
    /// Makes a CA, a server leaf for [`SERVER_NAME`] and a client leaf, into `dir`.
    pub fn create(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.distinguished_name
            .push(DnType::CommonName, "rig-bench two-hop CA");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key)?;
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem())?;
        let issuer = Issuer::new(ca, ca_key);
        Ok(Self {
            ca: ca_file,
            server: leaf(dir, "server", SERVER_NAME, &issuer)?,
            client: leaf(dir, "client", CLIENT_NAME, &issuer)?,
        })
    }
}

/// A leaf for `name` (DNS SAN and common name), for both server and client authentication.
fn leaf(dir: &Path, file: &str, name: &str, issuer: &Issuer<'_, KeyPair>) -> anyhow::Result<Leaf> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::new(vec![name.to_owned()])?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let cert = params.signed_by(&key, issuer)?.pem();
    let key = key.serialize_pem();
    let paths = Leaf {
        cert: dir.join(format!("{file}.crt")),
        key: dir.join(format!("{file}.key")),
        combined: dir.join(format!("{file}.pem")),
    };
    std::fs::write(&paths.cert, &cert)?;
    std::fs::write(&paths.key, &key)?;
    std::fs::write(&paths.combined, format!("{cert}{key}"))?;
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_and_two_leaves_as_pem() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::create(dir.path()).unwrap();
        for f in [&pki.ca, &pki.server.cert, &pki.client.cert] {
            let text = std::fs::read_to_string(f).unwrap();
            assert!(text.starts_with("-----BEGIN CERTIFICATE-----"), "{f:?}");
        }
        let combined = std::fs::read_to_string(&pki.server.combined).unwrap();
        assert!(combined.contains("CERTIFICATE") && combined.contains("PRIVATE KEY"));
    }
}
