//! Mesh mTLS: the TLS transport sockets Pilot puts on inbound listeners and on clusters, and the
//! TLS inspector of a permissive listener, converted into [`UpstreamTls`] and the ALPN of an
//! `InboundTls`.
//!
//! Only the shape Pilot emits is accepted: TLS 1.3, the proxy's own SDS secrets (`default`, its
//! workload certificate, and `ROOTCA`, the trust bundle), client certificates always required
//! inbound, exact SPIFFE URI SANs upstream. Anything else asks for security the proxy does not
//! provide, so it is rejected rather than approximated.

use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, TlsParameters, UpstreamTlsContext,
    common_tls_context, downstream_tls_context, tls_parameters::TlsProtocol,
};
use rigging_mesh_xds::{
    DOWNSTREAM_TLS_CONTEXT, RAW_BUFFER_TRANSPORT_SOCKET_NAME, TLS_TRANSPORT_SOCKET_NAME,
    TRUST_BUNDLE_SECRET, UPSTREAM_TLS_CONTEXT, WORKLOAD_CERT_SECRET,
};

use super::common::{Ctx, decode, join, reject_set};
use crate::error::ConfigError;
use crate::types::{ClusterTls, PublicCertificate, TlsClients, UpstreamTls};

mod identity;
mod inspector;
mod origination;
mod public;

pub(super) use inspector::{TransportMatch, tls_inspector, transport_match};

/// The ALPN protocols the proxy speaks over mesh mTLS.
const ALPN_PROTOCOLS: &[&str] = &["h2", "http/1.1"];

/// Why a secret other than the proxy's own is refused: the proxy has no SDS client, its
/// certificate and trust bundle come from Citadel.
const ONLY_OWN_SECRETS: &str =
    "(only the proxy's own secrets 'default' and 'ROOTCA' are supported)";

/// The longest SNI accepted: a DNS name's limit (RFC 1035 section 2.3.4).
const MAX_SNI_LEN: usize = 253;

/// A filter chain's transport socket: `None` for plaintext (absent, or a bare `raw_buffer`), or
/// the TLS the proxy terminates: mesh mTLS, or (without a client certificate required) an
/// ingress gateway's TLS to clients outside the mesh.
#[allow(deprecated)]
pub(super) fn downstream(
    ctx: Ctx<'_>,
    path: &str,
    socket: Option<TransportSocket>,
) -> Result<Option<Downstream>, ConfigError> {
    let Some(context) = tls_context(ctx, path, socket, DOWNSTREAM_TLS_CONTEXT)? else {
        return Ok(None);
    };
    let path = join(path, "typed_config");
    let DownstreamTlsContext {
        common_tls_context,
        require_client_certificate,
        require_sni,
        disable_stateful_session_resumption,
        session_timeout,
        ocsp_staple_policy,
        full_scan_certs_on_sni_mismatch,
        prefer_client_ciphers,
        session_ticket_keys_type,
    } = context;
    reject_set!(
        ctx,
        path,
        require_sni,
        disable_stateful_session_resumption,
        session_timeout,
        ocsp_staple_policy,
        full_scan_certs_on_sni_mismatch,
        prefer_client_ciphers,
    );
    if let Some(keys) = session_ticket_keys_type {
        use downstream_tls_context::SessionTicketKeysType as K;
        let field = match keys {
            K::SessionTicketKeys(_) => "session_ticket_keys",
            K::SessionTicketKeysSdsSecretConfig(_) => "session_ticket_keys_sds_secret_config",
            K::DisableStatelessSessionResumption(_) => "disable_stateless_session_resumption",
        };
        return Err(ctx.unsupported(join(&path, field), "field"));
    }
    let path_common = join(&path, "common_tls_context");
    if require_client_certificate.map(|b| b.value) != Some(true) {
        let Common {
            params,
            certificate,
            validation,
            alpn,
        } = common(ctx, &path_common, common_tls_context)?;
        if let Some(v) = validation {
            return Err(ctx.invalid(
                join(&path_common, validation_field(&v)),
                "client validation without require_client_certificate; mesh mTLS requires client certificates, public TLS validates none",
            ));
        }
        let field = join(&path_common, "tls_certificate_sds_secret_configs[0]");
        let certificate = match certificate.sds_config {
            None => {
                secret(ctx, &field, certificate, WORKLOAD_CERT_SECRET)?;
                PublicCertificate::Workload
            }
            Some(_) => public::sds_certificate(ctx, &field, certificate)?,
        };
        let public = public::params(ctx, &join(&path_common, "tls_params"), params, certificate)?;
        return Ok(Some(Downstream {
            alpn,
            clients: TlsClients::Public(public),
        }));
    }
    let path = path_common;
    let (validation, alpn) = mesh_common(ctx, &path, common_tls_context)?;
    use common_tls_context::ValidationContextType as V;
    match validation {
        Some(V::ValidationContextSdsSecretConfig(s)) => secret(
            ctx,
            &join(&path, "validation_context_sds_secret_config"),
            s,
            TRUST_BUNDLE_SECRET,
        )?,
        Some(other) => {
            return Err(ctx.unsupported(
                join(&path, validation_field(&other)),
                "client validation (only the trust bundle, as validation_context_sds_secret_config)",
            ));
        }
        None => {
            return Err(ctx.missing(join(&path, "validation_context_sds_secret_config")));
        }
    }
    Ok(Some(Downstream {
        alpn,
        clients: TlsClients::Mesh,
    }))
}

/// The TLS a listener's chain terminates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Downstream {
    pub alpn: Vec<String>,
    pub clients: TlsClients,
}

/// A cluster's transport socket: `None` for plaintext (absent, or a bare `raw_buffer`), the
/// mesh mTLS the proxy originates, with the identities the server may present, or (with a
/// plain `validation_context`) TLS to a service outside the mesh.
#[allow(deprecated)]
pub(super) fn upstream(
    ctx: Ctx<'_>,
    path: &str,
    socket: Option<TransportSocket>,
) -> Result<Option<ClusterTls>, ConfigError> {
    let Some(context) = tls_context(ctx, path, socket, UPSTREAM_TLS_CONTEXT)? else {
        return Ok(None);
    };
    let path = join(path, "typed_config");
    let UpstreamTlsContext {
        common_tls_context,
        sni,
        auto_host_sni,
        auto_sni_san_validation,
        allow_renegotiation,
        max_session_keys,
        enforce_rsa_key_usage,
    } = context;
    reject_set!(
        ctx,
        path,
        auto_host_sni,
        auto_sni_san_validation,
        allow_renegotiation,
        max_session_keys,
        enforce_rsa_key_usage,
    );
    if let Some(CommonTlsContext {
        validation_context_type:
            Some(common_tls_context::ValidationContextType::ValidationContext(_)),
        ..
    }) = &common_tls_context
    {
        return origination::convert(ctx, &path, sni, common_tls_context)
            .map(|o| Some(ClusterTls::Origination(o)));
    }
    server_name(ctx, &join(&path, "sni"), &sni)?;
    let path = join(&path, "common_tls_context");
    let (validation, alpn) = mesh_common(ctx, &path, common_tls_context)?;
    use common_tls_context::ValidationContextType as V;
    let expected_ids = match validation {
        Some(V::CombinedValidationContext(c)) => {
            identity::combined(ctx, &join(&path, "combined_validation_context"), c)?
        }
        Some(V::ValidationContextSdsSecretConfig(_)) => {
            return Err(identity::no_identities(
                ctx,
                join(&path, "validation_context_sds_secret_config"),
            ));
        }
        Some(other) => {
            return Err(ctx.unsupported(
                join(&path, validation_field(&other)),
                "server validation (only combined_validation_context)",
            ));
        }
        None => return Err(ctx.missing(join(&path, "combined_validation_context"))),
    };
    Ok(Some(ClusterTls::Mesh(UpstreamTls {
        expected_ids,
        sni,
        alpn,
    })))
}

/// The decoded TLS context of a TLS transport socket, or `None` for a plaintext one.
fn tls_context<M: prost::Message + Default>(
    ctx: Ctx<'_>,
    path: &str,
    socket: Option<TransportSocket>,
    type_url: &str,
) -> Result<Option<M>, ConfigError> {
    let Some(TransportSocket { name, config_type }) = socket else {
        return Ok(None);
    };
    let field = join(path, "typed_config");
    match name.as_str() {
        TLS_TRANSPORT_SOCKET_NAME => {}
        RAW_BUFFER_TRANSPORT_SOCKET_NAME if config_type.is_none() => return Ok(None),
        RAW_BUFFER_TRANSPORT_SOCKET_NAME => {
            return Err(ctx.unsupported(field, "raw_buffer settings"));
        }
        "" => return Err(ctx.missing(join(path, "name"))),
        other => {
            return Err(ctx.unsupported(
                join(path, "name"),
                format!("transport socket {other:?} (only {TLS_TRANSPORT_SOCKET_NAME})"),
            ));
        }
    }
    match config_type {
        Some(transport_socket::ConfigType::TypedConfig(any)) if any.type_url == type_url => {
            decode(ctx, &field, &any).map(Some)
        }
        Some(transport_socket::ConfigType::TypedConfig(any)) => {
            Err(ctx.unsupported_type(field, &any.type_url))
        }
        None => Err(ctx.missing(field)),
    }
}

/// What every context the proxy terminates or originates with its workload certificate
/// holds.
struct Common {
    params: Option<TlsParameters>,
    /// The one certificate secret, not checked yet: its rules differ by use.
    certificate: SdsSecretConfig,
    validation: Option<common_tls_context::ValidationContextType>,
    alpn: Vec<String>,
}

/// The part every workload-certificate context shares: the workload certificate and ALPN.
/// Returns the TLS parameters and the validation context, whose shapes differ by use.
#[allow(deprecated)]
fn common(
    ctx: Ctx<'_>,
    path: &str,
    context: Option<CommonTlsContext>,
) -> Result<Common, ConfigError> {
    let CommonTlsContext {
        tls_params,
        tls_certificates,
        tls_certificate_sds_secret_configs,
        tls_certificate_provider_instance,
        custom_tls_certificate_selector,
        tls_certificate_certificate_provider,
        tls_certificate_certificate_provider_instance,
        alpn_protocols,
        custom_handshaker,
        key_log,
        validation_context_type,
    } = context.ok_or_else(|| ctx.missing(path))?;
    reject_set!(
        ctx,
        path,
        tls_certificates,
        tls_certificate_provider_instance,
        custom_tls_certificate_selector,
        tls_certificate_certificate_provider,
        tls_certificate_certificate_provider_instance,
        custom_handshaker,
        key_log,
    );
    let field = join(path, "tls_certificate_sds_secret_configs");
    let certificate = match <[SdsSecretConfig; 1]>::try_from(tls_certificate_sds_secret_configs) {
        Ok([s]) => s,
        Err(v) if v.is_empty() => return Err(ctx.missing(field)),
        Err(v) => {
            return Err(ctx.unsupported(field, format!("{} certificates (only one)", v.len())));
        }
    };
    let alpn = alpn(ctx, &join(path, "alpn_protocols"), alpn_protocols)?;
    Ok(Common {
        params: tls_params,
        certificate,
        validation: validation_context_type,
        alpn,
    })
}

/// [`common`], for mesh mTLS: TLS 1.3 pinned.
fn mesh_common(
    ctx: Ctx<'_>,
    path: &str,
    context: Option<CommonTlsContext>,
) -> Result<
    (
        Option<common_tls_context::ValidationContextType>,
        Vec<String>,
    ),
    ConfigError,
> {
    let Common {
        params,
        certificate,
        validation,
        alpn,
    } = common(ctx, path, context)?;
    tls_1_3(ctx, &join(path, "tls_params"), params)?;
    let field = join(path, "tls_certificate_sds_secret_configs[0]");
    secret(ctx, &field, certificate, WORKLOAD_CERT_SECRET)?;
    Ok((validation, alpn))
}

/// TLS parameters that pin TLS 1.3: the mesh speaks nothing older, and Envoy's default minimum
/// (TLS 1.2) would let a peer downgrade.
fn tls_1_3(ctx: Ctx<'_>, path: &str, params: Option<TlsParameters>) -> Result<(), ConfigError> {
    let TlsParameters {
        tls_minimum_protocol_version,
        tls_maximum_protocol_version,
        cipher_suites,
        ecdh_curves,
        signature_algorithms,
        compliance_policies,
    } = params.ok_or_else(|| ctx.missing(join(path, "tls_minimum_protocol_version")))?;
    reject_set!(
        ctx,
        path,
        cipher_suites,
        ecdh_curves,
        signature_algorithms,
        compliance_policies,
    );
    let version = |field: &str, v: i32| {
        TlsProtocol::try_from(v)
            .map_err(|_| ctx.invalid(join(path, field), format!("unknown value {v}")))
    };
    let field = "tls_minimum_protocol_version";
    match version(field, tls_minimum_protocol_version)? {
        TlsProtocol::TlSv13 => {}
        other => {
            return Err(ctx.unsupported(
                join(path, field),
                format!("minimum version {} (only TLSv1_3)", other.as_str_name()),
            ));
        }
    }
    let field = "tls_maximum_protocol_version";
    match version(field, tls_maximum_protocol_version)? {
        TlsProtocol::TlSv13 | TlsProtocol::TlsAuto => Ok(()),
        other => Err(ctx.unsupported(
            join(path, field),
            format!(
                "maximum version {} (only TLSv1_3 or TLS_AUTO)",
                other.as_str_name()
            ),
        )),
    }
}

/// A reference to one of the proxy's own secrets, `expected` at this place.
fn secret(
    ctx: Ctx<'_>,
    path: &str,
    secret: SdsSecretConfig,
    expected: &str,
) -> Result<(), ConfigError> {
    let SdsSecretConfig { name, sds_config } = secret;
    if sds_config.is_some() {
        return Err(ctx.unsupported(
            join(path, "sds_config"),
            format!("secret source {ONLY_OWN_SECRETS}"),
        ));
    }
    let field = join(path, "name");
    match name.as_str() {
        n if n == expected => Ok(()),
        "" => Err(ctx.missing(field)),
        WORKLOAD_CERT_SECRET | TRUST_BUNDLE_SECRET => Err(ctx.invalid(
            field,
            format!(
                "{name:?} is {}, expected {expected:?} ({}) here",
                role(&name),
                role(expected)
            ),
        )),
        _ => Err(ctx.unsupported(field, format!("secret {name:?} {ONLY_OWN_SECRETS}"))),
    }
}

/// What one of the proxy's own secrets holds, for error messages.
fn role(secret: &str) -> &'static str {
    if secret == WORKLOAD_CERT_SECRET {
        "the workload certificate"
    } else {
        "the trust bundle"
    }
}

/// ALPN protocols the proxy speaks, each once.
fn alpn(ctx: Ctx<'_>, path: &str, protocols: Vec<String>) -> Result<Vec<String>, ConfigError> {
    for (i, p) in protocols.iter().enumerate() {
        let field = format!("{path}[{i}]");
        if !ALPN_PROTOCOLS.contains(&p.as_str()) {
            return Err(ctx.unsupported(
                field,
                format!("ALPN protocol {p:?} (only {})", ALPN_PROTOCOLS.join(", ")),
            ));
        }
        if protocols[..i].contains(p) {
            return Err(ctx.invalid(field, format!("{p:?} is listed twice")));
        }
    }
    Ok(protocols)
}

/// An SNI: a host name, as rustls will send it.
fn server_name(ctx: Ctx<'_>, field: &str, sni: &str) -> Result<(), ConfigError> {
    if sni.is_empty() {
        return Err(ctx.missing(field));
    }
    if sni.len() > MAX_SNI_LEN {
        return Err(ctx.invalid(
            field,
            format!(
                "{} bytes, more than the {MAX_SNI_LEN} of a DNS name",
                sni.len()
            ),
        ));
    }
    if let Some(ch) = sni
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(ctx.invalid(
            field,
            format!("{sni:?} has the character {ch:?}; expected a host name"),
        ));
    }
    Ok(())
}

/// The proto field name of a validation context variant, for error paths.
#[allow(deprecated)]
fn validation_field(v: &common_tls_context::ValidationContextType) -> &'static str {
    use common_tls_context::ValidationContextType as V;
    match v {
        V::ValidationContext(_) => "validation_context",
        V::ValidationContextSdsSecretConfig(_) => "validation_context_sds_secret_config",
        V::CombinedValidationContext(_) => "combined_validation_context",
        V::ValidationContextCertificateProvider(_) => "validation_context_certificate_provider",
        V::ValidationContextCertificateProviderInstance(_) => {
            "validation_context_certificate_provider_instance"
        }
    }
}
