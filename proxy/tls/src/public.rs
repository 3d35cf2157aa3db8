//! TLS to clients outside the mesh, on an ingress gateway's TLS listeners: the gateway's
//! workload certificate (issued by Citadel with the listener's hosts as DNS names) or one
//! from an SDS server, no client certificate, TLS 1.2 and/or 1.3, and optionally a chosen
//! list of TLS 1.2 cipher suites.

use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{CipherSuite, ServerConfig, SupportedCipherSuite};

use crate::TlsError;

/// What a public TLS listener accepts.
#[derive(Debug, Clone, Copy)]
pub struct PublicParams<'a> {
    pub tls12: bool,
    pub tls13: bool,
    /// TLS 1.2 suites by Envoy's (OpenSSL's) names, most preferred first; empty is rustls'
    /// defaults.
    pub cipher_suites: &'a [String],
}

/// Envoy's names of the TLS 1.2 suites rustls implements.
const SUITES: [(&str, CipherSuite); 6] = [
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "ECDHE-RSA-AES128-GCM-SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "ECDHE-RSA-AES256-GCM-SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "ECDHE-RSA-CHACHA20-POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// The config of a public TLS listener: the certificate `certs` resolves (the workload
/// certificate, or one from SDS), no client certificate asked for, `alpn` accepted (most
/// preferred first).
pub fn public_server_config(
    certs: Arc<dyn ResolvesServerCert>,
    alpn: &[String],
    params: PublicParams<'_>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if params.tls13 {
        versions.push(&rustls::version::TLS13);
    }
    if params.tls12 {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(TlsError::NoVersion);
    }
    let provider = provider(params.cipher_suites)?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&versions)?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

/// Certificates chosen by the client's SNI: the first entry naming it (exactly, or by a
/// `*.` wildcard one label deep, case aside), else the default; no certificate (a failed
/// handshake) when neither applies.
#[derive(Debug, Default)]
pub struct SniCertificates {
    pub default: Option<Arc<dyn ResolvesServerCert>>,
    pub by_server_name: Vec<(Vec<String>, Arc<dyn ResolvesServerCert>)>,
}

impl SniCertificates {
    /// Envoy's order: an exact name first, then a wildcard (one label deep, so at most one
    /// wildcard pattern can match), then the default.
    fn pick(&self, sni: Option<&str>) -> Option<&Arc<dyn ResolvesServerCert>> {
        let named = |wildcard: bool| {
            let sni = sni?;
            self.by_server_name
                .iter()
                .find(|(names, _)| {
                    names
                        .iter()
                        .any(|n| n.starts_with("*.") == wildcard && name_matches(n, sni))
                })
                .map(|(_, certs)| certs)
        };
        named(false)
            .or_else(|| named(true))
            .or(self.default.as_ref())
    }
}

impl ResolvesServerCert for SniCertificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.pick(hello.server_name())?.resolve(hello)
    }
}

/// Whether server name pattern `pattern` (a host, or `*.` and a domain) matches `sni`.
fn name_matches(pattern: &str, sni: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(domain) => sni
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(domain)),
        None => pattern.eq_ignore_ascii_case(sni),
    }
}

/// The mesh's provider with its TLS 1.2 suites narrowed to `names`, in that order (TLS 1.3
/// suites are kept: they are not configurable).
fn provider(names: &[String]) -> Result<CryptoProvider, TlsError> {
    let mut provider = rigging_mesh_spiffe::config::provider().as_ref().clone();
    if names.is_empty() {
        return Ok(provider);
    }
    let all = std::mem::take(&mut provider.cipher_suites);
    let find = |suite: CipherSuite| all.iter().find(|s| s.suite() == suite).copied();
    let mut chosen: Vec<SupportedCipherSuite> = all
        .iter()
        .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
        .copied()
        .collect();
    for name in names {
        let suite = SUITES
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| find(*s))
            .ok_or_else(|| TlsError::CipherSuite(name.clone()))?;
        chosen.push(suite);
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::server::{ClientHello, ResolvesServerCert};
    use rustls::sign::CertifiedKey;

    use super::{SniCertificates, name_matches};

    /// A resolver telling which entry was picked (by pointer), resolving nothing.
    #[derive(Debug)]
    struct Tag;

    impl ResolvesServerCert for Tag {
        fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
            None
        }
    }

    /// An exact name wins over a wildcard, whichever comes first; other names get the default.
    #[test]
    fn exact_names_before_wildcards() {
        let (wild, exact, default): (
            Arc<dyn ResolvesServerCert>,
            Arc<dyn ResolvesServerCert>,
            Arc<dyn ResolvesServerCert>,
        ) = (Arc::new(Tag), Arc::new(Tag), Arc::new(Tag));
        for flipped in [false, true] {
            let mut entries = vec![
                (vec!["*.example.com".to_owned()], Arc::clone(&wild)),
                (vec!["api.example.com".to_owned()], Arc::clone(&exact)),
            ];
            if flipped {
                entries.reverse();
            }
            let certs = SniCertificates {
                default: Some(Arc::clone(&default)),
                by_server_name: entries,
            };
            let picked = |sni| certs.pick(sni).map(Arc::as_ptr);
            assert_eq!(picked(Some("api.example.com")), Some(Arc::as_ptr(&exact)));
            assert_eq!(picked(Some("www.example.com")), Some(Arc::as_ptr(&wild)));
            assert_eq!(picked(Some("example.org")), Some(Arc::as_ptr(&default)));
            assert_eq!(picked(None), Some(Arc::as_ptr(&default)));
        }
    }

    #[test]
    fn server_names_match_exactly_or_one_label_under_a_wildcard() {
        assert!(name_matches("www.example.com", "WWW.example.com"));
        assert!(!name_matches("www.example.com", "example.com"));
        assert!(name_matches("*.example.com", "api.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.example.com", ".example.com"));
    }
}
