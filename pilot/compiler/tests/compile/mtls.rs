//! Checks of the mTLS shape in `pilot/XDS.md`, for the property tests of a secured mesh.
#![allow(clippy::unwrap_used)]

use envoy_types::pb::envoy::config::core::v3::address::Address as AddressKind;
use envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier;
use envoy_types::pb::envoy::config::core::v3::{TransportSocket, transport_socket};
use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
use envoy_types::pb::envoy::config::listener::v3::FilterChain;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CommonTlsContext, DownstreamTlsContext, UpstreamTlsContext,
    common_tls_context::ValidationContextType, subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::google::protobuf::Any;
use proptest::prelude::*;
use rigging_mesh_model::MutualTlsMode;
use rigging_mesh_xds::{
    Cluster, ClusterLoadAssignment, DOWNSTREAM_TLS_CONTEXT, Listener, TLS_INSPECTOR_NAME,
    TLS_TRANSPORT_SOCKET_NAME, TRUST_BUNDLE_SECRET, UPSTREAM_TLS_CONTEXT, WORKLOAD_CERT_SECRET,
    unpack,
};

/// The SPIFFE ID of `service` in the mesh of `super::secured()`.
pub fn spiffe_id(service: &str) -> String {
    format!("spiffe://rigging.local/ns/default/dc/dc1/svc/{service}")
}

fn typed_config(socket: Option<&TransportSocket>) -> Result<&Any, TestCaseError> {
    let socket = socket.ok_or_else(|| TestCaseError::fail("no transport socket"))?;
    prop_assert_eq!(socket.name.as_str(), TLS_TRANSPORT_SOCKET_NAME);
    match &socket.config_type {
        Some(transport_socket::ConfigType::TypedConfig(any)) => Ok(any),
        None => Err(TestCaseError::fail("transport socket without typed_config")),
    }
}

/// TLS 1.3 only, with the workload SVID.
fn check_common(common: Option<&CommonTlsContext>) -> Result<&CommonTlsContext, TestCaseError> {
    let common = common.ok_or_else(|| TestCaseError::fail("no common_tls_context"))?;
    let params = common.tls_params.as_ref().unwrap();
    prop_assert_eq!(
        params.tls_minimum_protocol_version,
        TlsProtocol::TlSv13 as i32
    );
    prop_assert_eq!(
        params.tls_maximum_protocol_version,
        TlsProtocol::TlSv13 as i32
    );
    let names: Vec<&str> = common
        .tls_certificate_sds_secret_configs
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    prop_assert_eq!(names, vec![WORKLOAD_CERT_SECRET]);
    prop_assert!(
        common
            .tls_certificate_sds_secret_configs
            .iter()
            .all(|s| s.sds_config.is_none())
    );
    Ok(common)
}

/// An upstream cluster: mTLS to exactly its destination's SPIFFE ID, SNI its name.
pub fn check_upstream(c: &Cluster) -> Result<(), TestCaseError> {
    let any = typed_config(c.transport_socket.as_ref())?;
    let ctx: UpstreamTlsContext = unpack(UPSTREAM_TLS_CONTEXT, any).unwrap();
    prop_assert_eq!(&ctx.sni, &c.name);
    let common = check_common(ctx.common_tls_context.as_ref())?;
    let Some(ValidationContextType::CombinedValidationContext(combined)) =
        &common.validation_context_type
    else {
        return Err(TestCaseError::fail("no combined validation context"));
    };
    prop_assert_eq!(
        combined
            .validation_context_sds_secret_config
            .as_ref()
            .map(|s| s.name.as_str()),
        Some(TRUST_BUNDLE_SECRET)
    );
    let sans = &combined
        .default_validation_context
        .as_ref()
        .unwrap()
        .match_typed_subject_alt_names;
    prop_assert_eq!(sans.len(), 1);
    prop_assert_eq!(sans[0].san_type, SanType::Uri as i32);
    let exact = match sans[0]
        .matcher
        .as_ref()
        .and_then(|m| m.match_pattern.as_ref())
    {
        Some(MatchPattern::Exact(s)) => s.clone(),
        other => {
            return Err(TestCaseError::fail(format!(
                "not an exact match: {other:?}"
            )));
        }
    };
    prop_assert_eq!(exact, spiffe_id(&c.name));
    Ok(())
}

/// An inbound chain that terminates mTLS with a client certificate required.
fn check_downstream(chain: &FilterChain) -> Result<(), TestCaseError> {
    let any = typed_config(chain.transport_socket.as_ref())?;
    let ctx: DownstreamTlsContext = unpack(DOWNSTREAM_TLS_CONTEXT, any).unwrap();
    prop_assert_eq!(ctx.require_client_certificate.map(|b| b.value), Some(true));
    let common = check_common(ctx.common_tls_context.as_ref())?;
    prop_assert_eq!(&common.alpn_protocols, &["h2", "http/1.1"]);
    let Some(ValidationContextType::ValidationContextSdsSecretConfig(bundle)) =
        &common.validation_context_type
    else {
        return Err(TestCaseError::fail("no sds validation context"));
    };
    prop_assert_eq!(bundle.name.as_str(), TRUST_BUNDLE_SECRET);
    Ok(())
}

/// The inbound listener: every chain mTLS (strict), or a TLS and a plaintext chain behind
/// the TLS inspector (permissive).
pub fn check_inbound(l: &Listener, mode: MutualTlsMode) -> Result<(), TestCaseError> {
    match mode {
        MutualTlsMode::Strict => {
            prop_assert!(l.listener_filters.is_empty());
            prop_assert_eq!(l.filter_chains.len(), 1);
            prop_assert_eq!(transport(&l.filter_chains[0]), None);
            check_downstream(&l.filter_chains[0])?;
        }
        MutualTlsMode::Permissive => {
            let names: Vec<&str> = l.listener_filters.iter().map(|f| f.name.as_str()).collect();
            prop_assert_eq!(names, vec![TLS_INSPECTOR_NAME]);
            prop_assert_eq!(l.filter_chains.len(), 2);
            let (tls, raw) = (&l.filter_chains[0], &l.filter_chains[1]);
            prop_assert_eq!(transport(tls), Some("tls"));
            check_downstream(tls)?;
            prop_assert_eq!(transport(raw), Some("raw_buffer"));
            prop_assert!(raw.transport_socket.is_none());
            prop_assert_eq!(&tls.filters, &raw.filters);
        }
    }
    Ok(())
}

fn transport(c: &FilterChain) -> Option<&str> {
    c.filter_chain_match
        .as_ref()
        .map(|m| m.transport_protocol.as_str())
}

/// Every endpoint address of `cla`, as `ip:port`.
pub fn addresses(cla: &ClusterLoadAssignment) -> Vec<String> {
    cla.endpoints
        .iter()
        .flat_map(|g| &g.lb_endpoints)
        .filter_map(|e| match &e.host_identifier {
            Some(HostIdentifier::Endpoint(ep)) => ep.address.as_ref(),
            _ => None,
        })
        .filter_map(|a| match &a.address {
            Some(AddressKind::SocketAddress(sa)) => match sa.port_specifier {
                Some(PortSpecifier::PortValue(p)) => Some(format!("{}:{p}", sa.address)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}
