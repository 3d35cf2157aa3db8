//! The mTLS pieces of a secured mesh: transport sockets and the TLS inspector, as
//! `pilot/XDS.md` describes them.

use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, ApiVersion, ConfigSource, GrpcService, TransportSocket, api_config_source,
    config_source::ConfigSourceSpecifier, grpc_service, transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{ListenerFilter, listener_filter};
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig,
    SubjectAltNameMatcher, TlsParameters, UpstreamTlsContext,
    common_tls_context::{CombinedCertificateValidationContext, ValidationContextType},
    subject_alt_name_matcher::SanType,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use envoy_types::pb::google::protobuf::BoolValue;
use envoy_types::pb::google::protobuf::Duration as PbDuration;
use rigging_mesh_model::{Protocol, ServiceName};
use rigging_mesh_xds::{
    DOWNSTREAM_TLS_CONTEXT, TLS_INSPECTOR, TLS_INSPECTOR_NAME, TLS_TRANSPORT_SOCKET_NAME,
    TRUST_BUNDLE_SECRET, UPSTREAM_TLS_CONTEXT, WORKLOAD_CERT_SECRET, pack,
};

use crate::MeshSecurity;
use crate::ingress::{ServedCert, ServedTls};

/// ALPN an inbound listener accepts, most preferred first: whatever the service speaks, h2
/// carries gRPC and HTTP/2, http/1.1 the rest (and TCP services ignore it).
pub(crate) const INBOUND_ALPN: [&str; 2] = ["h2", "http/1.1"];

/// The inbound listener's TLS: the proxy's SVID, a client SVID required and checked against
/// the trust bundle. Which caller may do what is decided later (intentions), not here.
pub(crate) fn downstream_socket() -> TransportSocket {
    let ctx = DownstreamTlsContext {
        require_client_certificate: Some(BoolValue { value: true }),
        common_tls_context: Some(common(
            ValidationContextType::ValidationContextSdsSecretConfig(secret(TRUST_BUNDLE_SECRET)),
            INBOUND_ALPN.iter().map(|p| (*p).to_owned()).collect(),
        )),
        ..Default::default()
    };
    socket(pack(DOWNSTREAM_TLS_CONTEXT, &ctx))
}

/// An ingress listener's TLS to clients outside the mesh: the gateway's workload certificate
/// (which Citadel issues with the listener's hosts as DNS names), no client certificate, the
/// entry's versions and cipher suites, `alpn` accepted.
pub(crate) fn gateway_socket(
    served: &ServedTls,
    certificate: &ServedCert,
    alpn: &[&str],
) -> TransportSocket {
    let ctx = DownstreamTlsContext {
        require_client_certificate: Some(BoolValue { value: false }),
        common_tls_context: Some(CommonTlsContext {
            tls_params: Some(TlsParameters {
                tls_minimum_protocol_version: served.min as i32,
                tls_maximum_protocol_version: served.max as i32,
                cipher_suites: served.cipher_suites.clone(),
                ..Default::default()
            }),
            tls_certificate_sds_secret_configs: vec![match certificate {
                ServedCert::Workload => secret(WORKLOAD_CERT_SECRET),
                ServedCert::Sds { cluster, resource } => sds_secret(cluster, resource),
            }],
            alpn_protocols: alpn.iter().map(|p| (*p).to_owned()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    };
    socket(pack(DOWNSTREAM_TLS_CONTEXT, &ctx))
}

/// An upstream cluster's TLS: the proxy's SVID as client certificate, and the server must be
/// `expected` (the destination service's SPIFFE ID), chained to the trust bundle.
pub(crate) fn upstream_socket(
    security: &MeshSecurity,
    service: &ServiceName,
    protocol: Protocol,
) -> TransportSocket {
    upstream_socket_for(
        security,
        service.as_str(),
        std::slice::from_ref(service),
        protocol,
    )
}

/// An upstream cluster's TLS when its endpoints may belong to several services (failover):
/// any one of their SPIFFE IDs is accepted, and `sni` names the cluster's own service.
pub(crate) fn upstream_socket_for(
    security: &MeshSecurity,
    sni: &str,
    services: &[ServiceName],
    protocol: Protocol,
) -> TransportSocket {
    let ids: Vec<String> = services
        .iter()
        .map(|s| security.service_id(s).as_str().to_owned())
        .collect();
    upstream_socket_ids(sni, &ids, protocol)
}

/// An upstream cluster's TLS accepting any of the SPIFFE IDs `ids`.
pub(crate) fn upstream_socket_ids(
    sni: &str,
    ids: &[String],
    protocol: Protocol,
) -> TransportSocket {
    let sans = ids
        .iter()
        .map(|id| SubjectAltNameMatcher {
            san_type: SanType::Uri as i32,
            matcher: Some(StringMatcher {
                match_pattern: Some(MatchPattern::Exact(id.clone())),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let validation = CombinedCertificateValidationContext {
        default_validation_context: Some(CertificateValidationContext {
            match_typed_subject_alt_names: sans,
            ..Default::default()
        }),
        validation_context_sds_secret_config: Some(secret(TRUST_BUNDLE_SECRET)),
        ..Default::default()
    };
    let ctx = UpstreamTlsContext {
        sni: sni.to_owned(),
        common_tls_context: Some(common(
            ValidationContextType::CombinedValidationContext(validation),
            upstream_alpn(protocol),
        )),
        ..Default::default()
    };
    socket(pack(UPSTREAM_TLS_CONTEXT, &ctx))
}

/// The listener filter that tells a TLS ClientHello from plaintext (permissive mode).
pub(crate) fn tls_inspector() -> ListenerFilter {
    ListenerFilter {
        name: TLS_INSPECTOR_NAME.to_owned(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(pack(
            TLS_INSPECTOR,
            &TlsInspector::default(),
        ))),
        ..Default::default()
    }
}

/// What a client offers: exactly the protocol the upstream cluster speaks, so the server picks
/// it; TCP offers nothing.
pub(crate) fn upstream_alpn(protocol: Protocol) -> Vec<String> {
    let alpn = match protocol {
        Protocol::Http2 | Protocol::Grpc => "h2",
        Protocol::Http => "http/1.1",
        Protocol::Tcp => return Vec::new(),
    };
    vec![alpn.to_owned()]
}

/// TLS 1.3 only, the workload SVID, and the given validation and ALPN.
fn common(validation: ValidationContextType, alpn: Vec<String>) -> CommonTlsContext {
    CommonTlsContext {
        tls_params: Some(TlsParameters {
            tls_minimum_protocol_version: TlsProtocol::TlSv13 as i32,
            tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
            ..Default::default()
        }),
        tls_certificate_sds_secret_configs: vec![secret(WORKLOAD_CERT_SECRET)],
        validation_context_type: Some(validation),
        alpn_protocols: alpn,
        ..Default::default()
    }
}

/// Secret `resource` from the SDS server of cluster `cluster` (one the gateway knows from its
/// bootstrap: `rig proxy --sds-cluster`), as Consul emits it.
fn sds_secret(cluster: &str, resource: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: resource.to_owned(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: api_config_source::ApiType::Grpc as i32,
                    transport_api_version: ApiVersion::V3 as i32,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: cluster.to_owned(),
                                ..Default::default()
                            },
                        )),
                        timeout: Some(PbDuration {
                            seconds: 5,
                            nanos: 0,
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

/// A reference to a secret the proxy holds itself: a name and no `sds_config`.
fn secret(name: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_owned(),
        sds_config: None,
    }
}

pub(crate) fn socket(config: envoy_types::pb::google::protobuf::Any) -> TransportSocket {
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET_NAME.to_owned(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(config)),
    }
}
