//! The TLS parameters of a public TLS listener (an ingress gateway's, to clients outside the
//! mesh): TLS 1.2 or 1.3, and TLS 1.2 cipher suites among those the proxy implements.

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    TlsParameters, tls_parameters::TlsProtocol,
};

use super::super::common::{Ctx, join, reject_set};
use crate::error::ConfigError;
use crate::types::{PublicTls, TlsVersion};

/// TLS 1.2 cipher suites the proxy offers, by Envoy's (OpenSSL's) names: ECDHE key exchange
/// with an AEAD cipher.
pub const PUBLIC_CIPHER_SUITES: [&str; 6] = [
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-CHACHA20-POLY1305",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-CHACHA20-POLY1305",
];

/// Converts the `tls_params` at `path`; absent means Envoy's defaults, TLS 1.2 to 1.3.
pub(super) fn params(
    ctx: Ctx<'_>,
    path: &str,
    params: Option<TlsParameters>,
) -> Result<PublicTls, ConfigError> {
    let Some(TlsParameters {
        tls_minimum_protocol_version,
        tls_maximum_protocol_version,
        cipher_suites,
        ecdh_curves,
        signature_algorithms,
        compliance_policies,
    }) = params
    else {
        return Ok(PublicTls {
            min_version: TlsVersion::V1_2,
            max_version: TlsVersion::V1_3,
            cipher_suites: Vec::new(),
        });
    };
    reject_set!(
        ctx,
        path,
        ecdh_curves,
        signature_algorithms,
        compliance_policies,
    );
    let min_version = version(
        ctx,
        path,
        "tls_minimum_protocol_version",
        tls_minimum_protocol_version,
        TlsVersion::V1_2,
    )?;
    let max_version = version(
        ctx,
        path,
        "tls_maximum_protocol_version",
        tls_maximum_protocol_version,
        TlsVersion::V1_3,
    )?;
    if min_version > max_version {
        return Err(ctx.invalid(
            join(path, "tls_maximum_protocol_version"),
            "lower than tls_minimum_protocol_version",
        ));
    }
    for (i, suite) in cipher_suites.iter().enumerate() {
        let field = format!("{}[{i}]", join(path, "cipher_suites"));
        if !PUBLIC_CIPHER_SUITES.contains(&suite.as_str()) {
            return Err(ctx.unsupported(
                field,
                format!(
                    "cipher suite {suite:?} (only {})",
                    PUBLIC_CIPHER_SUITES.join(", ")
                ),
            ));
        }
        if cipher_suites[..i].contains(suite) {
            return Err(ctx.invalid(field, format!("{suite:?} is listed twice")));
        }
    }
    Ok(PublicTls {
        min_version,
        max_version,
        cipher_suites,
    })
}

/// One version field: TLS 1.2 or 1.3, or `TLS_AUTO` for `auto`.
fn version(
    ctx: Ctx<'_>,
    path: &str,
    field: &str,
    value: i32,
    auto: TlsVersion,
) -> Result<TlsVersion, ConfigError> {
    let field = join(path, field);
    match TlsProtocol::try_from(value) {
        Ok(TlsProtocol::TlsAuto) => Ok(auto),
        Ok(TlsProtocol::TlSv12) => Ok(TlsVersion::V1_2),
        Ok(TlsProtocol::TlSv13) => Ok(TlsVersion::V1_3),
        Ok(other) => Err(ctx.unsupported(
            field,
            format!(
                "version {} (only TLSv1_2, TLSv1_3 or TLS_AUTO)",
                other.as_str_name()
            ),
        )),
        Err(_) => Err(ctx.invalid(field, format!("unknown value {value}"))),
    }
}
