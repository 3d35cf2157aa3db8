//! The TLS parameters of a public TLS listener (an ingress gateway's, to clients outside the
//! mesh): TLS 1.2 or 1.3, TLS 1.2 cipher suites among those the proxy implements, and the
//! certificate: the workload's or one from an SDS server.

use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, ApiVersion, ConfigSource, GrpcService, api_config_source::ApiType,
    config_source::ConfigSourceSpecifier, grpc_service,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    SdsSecretConfig, TlsParameters, tls_parameters::TlsProtocol,
};

use super::super::common::{Ctx, join, reject_set};
use crate::error::ConfigError;
use crate::types::{PublicCertificate, PublicTls, TlsVersion};

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

/// Converts the `tls_params` at `path` (absent means Envoy's defaults, TLS 1.2 to 1.3) of
/// a listener presenting `certificate`.
pub(super) fn params(
    ctx: Ctx<'_>,
    path: &str,
    params: Option<TlsParameters>,
    certificate: PublicCertificate,
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
            certificate: Some(certificate),
            by_server_name: Vec::new(),
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
        certificate: Some(certificate),
        by_server_name: Vec::new(),
    })
}

/// A certificate from an SDS server, in the one shape Consul and Pilot emit: `name` the
/// resource, `sds_config.api_config_source` gRPC (v3) to one `envoy_grpc` cluster.
#[allow(deprecated)]
pub(super) fn sds_certificate(
    ctx: Ctx<'_>,
    path: &str,
    secret: SdsSecretConfig,
) -> Result<PublicCertificate, ConfigError> {
    let SdsSecretConfig { name, sds_config } = secret;
    if name.is_empty() {
        return Err(ctx.missing(join(path, "name")));
    }
    let path = join(path, "sds_config");
    let ConfigSource {
        authorities,
        initial_fetch_timeout,
        resource_api_version,
        config_source_specifier,
    } = sds_config.ok_or_else(|| ctx.missing(&path))?;
    reject_set!(ctx, path, authorities, initial_fetch_timeout);
    if resource_api_version != ApiVersion::V3 as i32 {
        return Err(ctx.unsupported(
            join(&path, "resource_api_version"),
            "resource API version (only V3)",
        ));
    }
    let api = match config_source_specifier {
        Some(ConfigSourceSpecifier::ApiConfigSource(api)) => api,
        Some(_) => {
            return Err(ctx.unsupported(
                path,
                "secret source (only api_config_source, gRPC to an SDS cluster)",
            ));
        }
        None => return Err(ctx.missing(join(&path, "api_config_source"))),
    };
    let path = join(&path, "api_config_source");
    let ApiConfigSource {
        api_type,
        transport_api_version,
        cluster_names,
        grpc_services,
        refresh_delay,
        request_timeout,
        rate_limit_settings,
        set_node_on_first_message_only,
        config_validators,
    } = api;
    reject_set!(
        ctx,
        path,
        cluster_names,
        refresh_delay,
        request_timeout,
        rate_limit_settings,
        set_node_on_first_message_only,
        config_validators,
    );
    if api_type != ApiType::Grpc as i32 {
        return Err(ctx.unsupported(join(&path, "api_type"), "API type (only GRPC)"));
    }
    if transport_api_version != ApiVersion::V3 as i32 {
        return Err(ctx.unsupported(
            join(&path, "transport_api_version"),
            "transport API version (only V3)",
        ));
    }
    let field = join(&path, "grpc_services");
    let service = match <[GrpcService; 1]>::try_from(grpc_services) {
        Ok([s]) => s,
        Err(v) if v.is_empty() => return Err(ctx.missing(field)),
        Err(v) => {
            return Err(ctx.unsupported(field, format!("{} gRPC services (only one)", v.len())));
        }
    };
    let path = format!("{field}[0]");
    let GrpcService {
        timeout: _,
        initial_metadata,
        retry_policy,
        target_specifier,
    } = service;
    reject_set!(ctx, path, initial_metadata, retry_policy);
    let cluster = match target_specifier {
        Some(grpc_service::TargetSpecifier::EnvoyGrpc(g)) => {
            let grpc_service::EnvoyGrpc {
                cluster_name,
                authority,
                retry_policy,
                max_receive_message_length,
                skip_envoy_headers,
            } = g;
            let path = join(&path, "envoy_grpc");
            reject_set!(
                ctx,
                path,
                authority,
                retry_policy,
                max_receive_message_length,
                skip_envoy_headers,
            );
            if cluster_name.is_empty() {
                return Err(ctx.missing(join(&path, "cluster_name")));
            }
            cluster_name
        }
        Some(grpc_service::TargetSpecifier::GoogleGrpc(_)) => {
            return Err(ctx.unsupported(join(&path, "google_grpc"), "target (only envoy_grpc)"));
        }
        None => return Err(ctx.missing(join(&path, "envoy_grpc"))),
    };
    Ok(PublicCertificate::Sds {
        cluster,
        resource: name,
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
