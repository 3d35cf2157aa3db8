//! The TLS inspector of a permissive listener, and the match of the two chains behind it.

use envoy_types::pb::envoy::config::listener::v3::{
    FilterChainMatch, ListenerFilter, listener_filter,
};
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use rigging_mesh_xds::{
    TLS_INSPECTOR, TLS_INSPECTOR_NAME, TRANSPORT_PROTOCOL_RAW, TRANSPORT_PROTOCOL_TLS,
};

use crate::convert::common::{Ctx, decode, join, reject_set};
use crate::error::ConfigError;

/// What a filter chain of a permissive listener matches on, as the TLS inspector classifies a
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TransportMatch {
    /// The connection opened with a TLS ClientHello.
    Tls,
    /// Anything else: plaintext.
    RawBuffer,
}

impl TransportMatch {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Tls => TRANSPORT_PROTOCOL_TLS,
            Self::RawBuffer => TRANSPORT_PROTOCOL_RAW,
        }
    }
}

/// The one listener filter a permissive listener has: the TLS inspector, with Envoy's defaults.
pub(crate) fn tls_inspector(
    ctx: Ctx<'_>,
    path: &str,
    filter: ListenerFilter,
) -> Result<(), ConfigError> {
    let ListenerFilter {
        name,
        filter_disabled,
        config_type,
    } = filter;
    if name.is_empty() {
        return Err(ctx.missing(join(path, "name")));
    }
    if name != TLS_INSPECTOR_NAME {
        return Err(ctx.unsupported(
            join(path, "name"),
            format!("listener filter {name:?} (only {TLS_INSPECTOR_NAME})"),
        ));
    }
    reject_set!(ctx, path, filter_disabled);
    let field = join(path, "typed_config");
    let any = match config_type {
        Some(listener_filter::ConfigType::TypedConfig(any)) => any,
        Some(listener_filter::ConfigType::ConfigDiscovery(_)) => {
            return Err(ctx.unsupported(join(path, "config_discovery"), "field"));
        }
        None => return Err(ctx.missing(field)),
    };
    if any.type_url != TLS_INSPECTOR {
        return Err(ctx.unsupported_type(field, &any.type_url));
    }
    let TlsInspector {
        enable_ja3_fingerprinting,
        enable_ja4_fingerprinting,
        initial_read_buffer_size,
        close_connection_on_client_hello_parsing_errors,
        max_client_hello_size,
    } = decode(ctx, &field, &any)?;
    reject_set!(
        ctx,
        field,
        enable_ja3_fingerprinting,
        enable_ja4_fingerprinting,
        initial_read_buffer_size,
        close_connection_on_client_hello_parsing_errors,
        max_client_hello_size,
    );
    Ok(())
}

/// The match of a chain behind the TLS inspector: the transport protocol, and the server
/// names of an SNI listener's chain (empty otherwise).
pub(crate) fn transport_match(
    ctx: Ctx<'_>,
    path: &str,
    m: Option<FilterChainMatch>,
) -> Result<(TransportMatch, Vec<String>), ConfigError> {
    let m = m.ok_or_else(|| ctx.missing(join(path, "transport_protocol")))?;
    let FilterChainMatch {
        destination_port,
        prefix_ranges,
        address_suffix,
        suffix_len,
        direct_source_prefix_ranges,
        source_type,
        source_prefix_ranges,
        source_ports,
        server_names,
        transport_protocol,
        application_protocols,
    } = m;
    reject_set!(
        ctx,
        path,
        destination_port,
        prefix_ranges,
        address_suffix,
        suffix_len,
        direct_source_prefix_ranges,
        source_type,
        source_prefix_ranges,
        source_ports,
        application_protocols,
    );
    for (i, name) in server_names.iter().enumerate() {
        if name.is_empty() || name.len() > 253 || name.starts_with('*') {
            return Err(ctx.invalid(
                format!("{path}.server_names[{i}]"),
                format!("{name:?}: an exact server name (no wildcard) of at most 253 bytes"),
            ));
        }
    }
    match transport_protocol.as_str() {
        TRANSPORT_PROTOCOL_TLS => Ok((TransportMatch::Tls, server_names)),
        TRANSPORT_PROTOCOL_RAW if server_names.is_empty() => {
            Ok((TransportMatch::RawBuffer, server_names))
        }
        TRANSPORT_PROTOCOL_RAW => Err(ctx.invalid(
            join(path, "server_names"),
            format!("set on a {TRANSPORT_PROTOCOL_RAW} chain: only TLS has server names"),
        )),
        "" => Err(ctx.missing(join(path, "transport_protocol"))),
        other => Err(ctx.unsupported(
            join(path, "transport_protocol"),
            format!(
                "transport protocol {other:?} (only {TRANSPORT_PROTOCOL_TLS} or {TRANSPORT_PROTOCOL_RAW})"
            ),
        )),
    }
}
