//! TLS settings shared by gateways and the `mesh` entry: versions and cipher suites.

use crate::decode::{Fields, one_of, pick};
use crate::error::Diag;

/// A TLS protocol version, as Consul names them; ordered oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    /// Let the proxy choose.
    Auto,
    V1_0,
    V1_1,
    V1_2,
    V1_3,
}

const VERSIONS: &[(&str, Option<TlsVersion>)] = &[
    ("", None),
    ("TLS_AUTO", Some(TlsVersion::Auto)),
    ("TLSv1_0", Some(TlsVersion::V1_0)),
    ("TLSv1_1", Some(TlsVersion::V1_1)),
    ("TLSv1_2", Some(TlsVersion::V1_2)),
    ("TLSv1_3", Some(TlsVersion::V1_3)),
];

/// The cipher suites Consul lets users restrict TLS 1.2 and older connections to.
pub const CIPHER_SUITES: [&str; 14] = [
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
];

/// `TLSMinVersion`, `TLSMaxVersion` and `CipherSuites`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsParams {
    pub min_version: Option<TlsVersion>,
    pub max_version: Option<TlsVersion>,
    pub cipher_suites: Vec<String>,
}

/// The three TLS parameter fields of `f`, checked as Consul's `validateTLSConfig` does.
pub(crate) fn tls_params(d: &mut Diag, f: &Fields<'_>) -> TlsParams {
    let min_version = one_of(d, f, "TLSMinVersion", VERSIONS).flatten();
    let max_version = one_of(d, f, "TLSMaxVersion", VERSIONS).flatten();
    if let (Some(min), Some(max)) = (min_version, max_version)
        && min != TlsVersion::Auto
        && max != TlsVersion::Auto
        && min > max
    {
        d.err(
            &f.value_at("TLSMaxVersion"),
            "TLSMaxVersion: the maximum version is lower than TLSMinVersion",
        );
    }
    let cipher_suites = f.strings(d, "CipherSuites");
    let at = f.value_at("CipherSuites");
    if !cipher_suites.is_empty() && min_version == Some(TlsVersion::V1_3) {
        d.err(
            &at,
            "CipherSuites: only applies to TLS 1.2 and older, but TLSMinVersion is TLSv1_3",
        );
    }
    let options: Vec<(&str, ())> = CIPHER_SUITES.iter().map(|s| (*s, ())).collect();
    for s in &cipher_suites {
        pick(d, &at, "CipherSuites", s, &options);
    }
    TlsParams {
        min_version,
        max_version,
        cipher_suites,
    }
}
