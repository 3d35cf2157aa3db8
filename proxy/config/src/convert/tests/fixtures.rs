//! Valid resources exactly as XDS.md says Pilot sends them.

use envoy_types::pb::envoy::config::cluster::v3 as cds;
use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ApiVersion, ConfigSource, HealthStatus, Http2ProtocolOptions,
    Locality, Metadata, SocketAddress, TrafficDirection, address, config_source, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3 as eds;
use envoy_types::pb::envoy::config::listener::v3 as lds;
use envoy_types::pb::envoy::config::route::v3 as rds;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::google::protobuf::{self, Any, Struct, UInt32Value, Value, value};
use rigging_mesh_xds::{
    HTTP_CONNECTION_MANAGER, HTTP_CONNECTION_MANAGER_NAME, HTTP_PROTOCOL_OPTIONS,
    HTTP_PROTOCOL_OPTIONS_KEY, ROUTER, ROUTER_NAME, TCP_PROXY, TCP_PROXY_NAME, pack,
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

pub trait Tap: Sized {
    fn tap(mut self, f: impl FnOnce(&mut Self)) -> Self {
        f(&mut self);
        self
    }
}

impl<T> Tap for T {}
