//! Valid resources exactly as XDS.md says Pilot sends them.

use envoy_types::pb::envoy::config::cluster::v3 as cds;
use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ApiVersion, ConfigSource, HealthStatus, Http2ProtocolOptions,
    Locality, Metadata, SocketAddress, TrafficDirection, TransportSocket, address, config_source,
    socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3 as eds;
use envoy_types::pb::envoy::config::listener::v3 as lds;
use envoy_types::pb::envoy::config::route::v3 as rds;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3 as tls;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{self, Any, BoolValue, Struct, UInt32Value, Value, value};
use rigging_mesh_xds::{
    DOWNSTREAM_TLS_CONTEXT, HTTP_CONNECTION_MANAGER, HTTP_CONNECTION_MANAGER_NAME,
    HTTP_PROTOCOL_OPTIONS, HTTP_PROTOCOL_OPTIONS_KEY, ROUTER, ROUTER_NAME, TCP_PROXY,
    TCP_PROXY_NAME, TLS_INSPECTOR, TLS_INSPECTOR_NAME, TLS_TRANSPORT_SOCKET_NAME,
    TRANSPORT_PROTOCOL_RAW, TRANSPORT_PROTOCOL_TLS, TRUST_BUNDLE_SECRET, UPSTREAM_TLS_CONTEXT,
    WORKLOAD_CERT_SECRET, pack,
};

pub fn address(ip: &str, port: u32) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.into(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// The `SocketAddress` inside an address built by [`address`].
pub fn socket(a: &mut Option<Address>) -> &mut SocketAddress {
    match a.as_mut().and_then(|a| a.address.as_mut()) {
        Some(address::Address::SocketAddress(sa)) => sa,
        _ => panic!("not a socket address"),
    }
}

pub fn ads() -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::Ads(
            AggregatedConfigSource {},
        )),
        ..Default::default()
    }
}

pub fn secs(seconds: i64) -> protobuf::Duration {
    protobuf::Duration { seconds, nanos: 0 }
}

pub fn hcm() -> hcm::HttpConnectionManager {
    hcm::HttpConnectionManager {
        stat_prefix: "outbound_api".into(),
        codec_type: hcm::http_connection_manager::CodecType::Auto as i32,
        route_specifier: Some(hcm::http_connection_manager::RouteSpecifier::Rds(
            hcm::Rds {
                route_config_name: "api".into(),
                config_source: Some(ads()),
            },
        )),
        http_filters: vec![hcm::HttpFilter {
            name: ROUTER_NAME.into(),
            config_type: Some(hcm::http_filter::ConfigType::TypedConfig(pack(
                ROUTER,
                &Router::default(),
            ))),
            ..Default::default()
        }],
        upgrade_configs: vec![hcm::http_connection_manager::UpgradeConfig {
            upgrade_type: "websocket".into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn listener(name: &str, port: u32, dir: TrafficDirection, filter: lds::Filter) -> lds::Listener {
    lds::Listener {
        name: name.into(),
        address: Some(address("127.0.0.1", port)),
        traffic_direction: dir as i32,
        filter_chains: vec![lds::FilterChain {
            filters: vec![filter],
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub fn http_listener() -> lds::Listener {
    with_hcm(hcm())
}

/// The HTTP listener around a given connection manager.
pub fn with_hcm(h: hcm::HttpConnectionManager) -> lds::Listener {
    let filter = lds::Filter {
        name: HTTP_CONNECTION_MANAGER_NAME.into(),
        config_type: Some(lds::filter::ConfigType::TypedConfig(pack(
            HTTP_CONNECTION_MANAGER,
            &h,
        ))),
    };
    listener(
        "outbound:api:9191",
        9191,
        TrafficDirection::Outbound,
        filter,
    )
}

pub fn tcp_proxy() -> TcpProxy {
    TcpProxy {
        stat_prefix: "inbound_db".into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster("local_app".into())),
        ..Default::default()
    }
}

pub fn tcp_listener() -> lds::Listener {
    with_tcp_proxy(tcp_proxy())
}

pub fn with_tcp_proxy(t: TcpProxy) -> lds::Listener {
    let filter = lds::Filter {
        name: TCP_PROXY_NAME.into(),
        config_type: Some(lds::filter::ConfigType::TypedConfig(pack(TCP_PROXY, &t))),
    };
    listener(
        "inbound:10.0.0.5:20000",
        20000,
        TrafficDirection::Inbound,
        filter,
    )
    .tap(|l| l.address = Some(address("10.0.0.5", 20000)))
}

pub fn route(prefix: &str, timeout: Option<protobuf::Duration>) -> rds::Route {
    rds::Route {
        name: "default".into(),
        r#match: Some(rds::RouteMatch {
            path_specifier: Some(rds::route_match::PathSpecifier::Prefix(prefix.into())),
            ..Default::default()
        }),
        action: Some(rds::route::Action::Route(rds::RouteAction {
            cluster_specifier: Some(rds::route_action::ClusterSpecifier::Cluster("api".into())),
            timeout,
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub fn route_config() -> rds::RouteConfiguration {
    rds::RouteConfiguration {
        name: "api".into(),
        virtual_hosts: vec![rds::VirtualHost {
            name: "api".into(),
            domains: vec!["*".into()],
            routes: vec![route("/", Some(secs(15)))],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The first route of the first virtual host.
pub fn first_route(rc: &mut rds::RouteConfiguration) -> &mut rds::Route {
    &mut rc.virtual_hosts[0].routes[0]
}

pub fn first_action(rc: &mut rds::RouteConfiguration) -> &mut rds::RouteAction {
    match first_route(rc).action.as_mut() {
        Some(rds::route::Action::Route(a)) => a,
        _ => panic!("not a route action"),
    }
}

pub fn http2_options() -> Any {
    use http_protocol_options::explicit_http_config::ProtocolConfig;
    pack(
        HTTP_PROTOCOL_OPTIONS,
        &HttpProtocolOptions {
            upstream_protocol_options: Some(
                http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                    http_protocol_options::ExplicitHttpConfig {
                        protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                            Http2ProtocolOptions::default(),
                        )),
                    },
                ),
            ),
            ..Default::default()
        },
    )
}

pub fn eds_cluster() -> cds::Cluster {
    cds::Cluster {
        name: "api".into(),
        connect_timeout: Some(secs(1)),
        lb_policy: cds::cluster::LbPolicy::LeastRequest as i32,
        cluster_discovery_type: Some(cds::cluster::ClusterDiscoveryType::Type(
            cds::cluster::DiscoveryType::Eds as i32,
        )),
        eds_cluster_config: Some(cds::cluster::EdsClusterConfig {
            eds_config: Some(ads()),
            service_name: String::new(),
        }),
        typed_extension_protocol_options: [(HTTP_PROTOCOL_OPTIONS_KEY.to_owned(), http2_options())]
            .into(),
        ..Default::default()
    }
}

pub fn static_cluster() -> cds::Cluster {
    cds::Cluster {
        name: "local_app".into(),
        connect_timeout: Some(secs(1)),
        cluster_discovery_type: Some(cds::cluster::ClusterDiscoveryType::Type(
            cds::cluster::DiscoveryType::Static as i32,
        )),
        load_assignment: Some(eds::ClusterLoadAssignment {
            cluster_name: "local_app".into(),
            endpoints: vec![eds::LocalityLbEndpoints {
                lb_endpoints: vec![lb_endpoint("127.0.0.1", 8080, HealthStatus::Unknown)],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn lb_endpoint(ip: &str, port: u32, health: HealthStatus) -> eds::LbEndpoint {
    eds::LbEndpoint {
        host_identifier: Some(eds::lb_endpoint::HostIdentifier::Endpoint(eds::Endpoint {
            address: Some(address(ip, port)),
            ..Default::default()
        })),
        health_status: health as i32,
        ..Default::default()
    }
}

pub fn rigging_metadata(pairs: &[(&str, Value)]) -> Metadata {
    Metadata {
        filter_metadata: [(
            "rigging".to_owned(),
            Struct {
                fields: pairs
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            },
        )]
        .into(),
        ..Default::default()
    }
}

pub fn string(s: &str) -> Value {
    Value {
        kind: Some(value::Kind::StringValue(s.into())),
    }
}

pub fn cla() -> eds::ClusterLoadAssignment {
    let mut healthy = lb_endpoint("10.0.0.1", 9090, HealthStatus::Healthy);
    healthy.load_balancing_weight = Some(UInt32Value { value: 1 });
    healthy.metadata = Some(rigging_metadata(&[("version", string("v1"))]));
    eds::ClusterLoadAssignment {
        cluster_name: "api".into(),
        endpoints: vec![eds::LocalityLbEndpoints {
            locality: Some(Locality {
                region: "eu".into(),
                zone: "eu-1".into(),
                sub_zone: String::new(),
            }),
            lb_endpoints: vec![
                healthy,
                lb_endpoint("10.0.0.2", 9090, HealthStatus::Degraded),
            ],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The endpoint at `[group][index]` of a load assignment.
pub fn endpoint_at(
    cla: &mut eds::ClusterLoadAssignment,
    group: usize,
    index: usize,
) -> &mut eds::LbEndpoint {
    &mut cla.endpoints[group].lb_endpoints[index]
}

pub fn endpoint_address(lb: &mut eds::LbEndpoint) -> &mut SocketAddress {
    match lb.host_identifier.as_mut() {
        Some(eds::lb_endpoint::HostIdentifier::Endpoint(e)) => socket(&mut e.address),
        _ => panic!("not an endpoint"),
    }
}

/// The SPIFFE ID of the `api` service, as Pilot names it in upstream TLS.
pub const API_ID: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/api";

/// A reference to one of the proxy's own SDS secrets.
pub fn secret(name: &str) -> tls::SdsSecretConfig {
    tls::SdsSecretConfig {
        name: name.into(),
        sds_config: None,
    }
}

/// TLS 1.3 only, with the workload certificate, `h2` and `http/1.1`, and the given validation.
pub fn common_tls(
    validation: tls::common_tls_context::ValidationContextType,
) -> tls::CommonTlsContext {
    tls::CommonTlsContext {
        tls_params: Some(tls::TlsParameters {
            tls_minimum_protocol_version: tls::tls_parameters::TlsProtocol::TlSv13 as i32,
            tls_maximum_protocol_version: tls::tls_parameters::TlsProtocol::TlSv13 as i32,
            ..Default::default()
        }),
        tls_certificate_sds_secret_configs: vec![secret(WORKLOAD_CERT_SECRET)],
        alpn_protocols: vec!["h2".into(), "http/1.1".into()],
        validation_context_type: Some(validation),
        ..Default::default()
    }
}

/// The server side of mesh mTLS: client SVIDs required, checked against the trust bundle.
pub fn downstream_tls() -> tls::DownstreamTlsContext {
    tls::DownstreamTlsContext {
        common_tls_context: Some(common_tls(
            tls::common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(
                secret(TRUST_BUNDLE_SECRET),
            ),
        )),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    }
}

/// The client side of mesh mTLS to `api`: its SPIFFE ID is the only one accepted.
pub fn upstream_tls() -> tls::UpstreamTlsContext {
    use tls::common_tls_context::{CombinedCertificateValidationContext, ValidationContextType};
    tls::UpstreamTlsContext {
        sni: "api".into(),
        common_tls_context: Some(common_tls(
            ValidationContextType::CombinedValidationContext(
                CombinedCertificateValidationContext {
                    default_validation_context: Some(tls::CertificateValidationContext {
                        match_typed_subject_alt_names: vec![tls::SubjectAltNameMatcher {
                            san_type: tls::subject_alt_name_matcher::SanType::Uri as i32,
                            matcher: Some(StringMatcher {
                                match_pattern: Some(string_matcher::MatchPattern::Exact(
                                    API_ID.into(),
                                )),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    validation_context_sds_secret_config: Some(secret(TRUST_BUNDLE_SECRET)),
                    ..Default::default()
                },
            ),
        )),
        ..Default::default()
    }
}

/// A TLS transport socket holding `context` under `type_url`.
pub fn tls_socket<M: prost::Message>(type_url: &str, context: &M) -> TransportSocket {
    TransportSocket {
        name: TLS_TRANSPORT_SOCKET_NAME.into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack(
            type_url, context,
        ))),
    }
}

/// The strict inbound listener: its one chain terminates mesh mTLS.
pub fn strict_listener() -> lds::Listener {
    tcp_listener().tap(|l| {
        l.filter_chains[0].transport_socket =
            Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &downstream_tls()))
    })
}

/// The TLS inspector with Envoy's defaults.
pub fn tls_inspector() -> lds::ListenerFilter {
    lds::ListenerFilter {
        name: TLS_INSPECTOR_NAME.into(),
        filter_disabled: None,
        config_type: Some(lds::listener_filter::ConfigType::TypedConfig(pack(
            TLS_INSPECTOR,
            &TlsInspector::default(),
        ))),
    }
}

fn transport_match(protocol: &str) -> Option<lds::FilterChainMatch> {
    Some(lds::FilterChainMatch {
        transport_protocol: protocol.into(),
        ..Default::default()
    })
}

/// The permissive inbound listener: the TLS inspector, an mTLS chain, then a plaintext chain
/// with the same filters.
pub fn permissive_listener() -> lds::Listener {
    strict_listener().tap(|l| {
        l.listener_filters = vec![tls_inspector()];
        let mut plain = l.filter_chains[0].clone();
        plain.transport_socket = None;
        plain.filter_chain_match = transport_match(TRANSPORT_PROTOCOL_RAW);
        l.filter_chains[0].filter_chain_match = transport_match(TRANSPORT_PROTOCOL_TLS);
        l.filter_chains.push(plain);
    })
}

/// The EDS cluster to `api` over mesh mTLS.
pub fn mtls_cluster() -> cds::Cluster {
    eds_cluster()
        .tap(|c| c.transport_socket = Some(tls_socket(UPSTREAM_TLS_CONTEXT, &upstream_tls())))
}

pub trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

impl<T> Tap for T {}
