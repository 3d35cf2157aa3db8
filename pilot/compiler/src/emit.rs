//! One function per emitted resource, each following `pilot/XDS.md`.

pub(crate) mod chain_cluster;
pub(crate) mod chain_route;
pub(crate) mod expose;
pub(crate) mod ingress;
pub(crate) mod terminating;
mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, EdsClusterConfig, LbPolicy as XdsLbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, AggregatedConfigSource, ApiVersion, ConfigSource, HealthStatus, Http2ProtocolOptions,
    Locality as XdsLocality, SocketAddress, TrafficDirection, address::Address as AddressKind,
    config_source::ConfigSourceSpecifier, socket_address::PortSpecifier,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    Endpoint as XdsEndpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint::HostIdentifier,
};
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, FilterChainMatch, filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteMatch, VirtualHost, route::Action, route_action::ClusterSpecifier,
    route_match::PathSpecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault;
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds,
    http_connection_manager::{CodecType, RouteSpecifier, UpgradeConfig},
    http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
    TcpProxy, tcp_proxy::ClusterSpecifier as TcpClusterSpecifier,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions,
    http_protocol_options::{
        ExplicitHttpConfig, UpstreamProtocolOptions, explicit_http_config::ProtocolConfig,
    },
};
use envoy_types::pb::google::protobuf::{Duration as PbDuration, UInt32Value};
use rigging_mesh_model::{
    DEFAULT_CONNECT_TIMEOUT, Endpoint, Health, LbPolicy, MutualTlsMode, Protocol, Proxy, Service,
    ServiceName, Upstream,
};
use rigging_mesh_xds::{
    Cluster, ClusterLoadAssignment, HTTP_CONNECTION_MANAGER, HTTP_CONNECTION_MANAGER_NAME,
    HTTP_PROTOCOL_OPTIONS, HTTP_PROTOCOL_OPTIONS_KEY, Listener, ROUTER, ROUTER_NAME,
    RouteConfiguration, TCP_PROXY, TCP_PROXY_NAME, TRANSPORT_PROTOCOL_RAW, TRANSPORT_PROTOCOL_TLS,
    pack,
};

use crate::{DEFAULT_HTTP_ROUTE_TIMEOUT, LOCAL_APP_CLUSTER, MeshSecurity};

pub(crate) fn inbound_route_name(service: &ServiceName) -> String {
    format!("inbound:{service}")
}

/// The inbound listener; `mtls` is the service's mode in a secured mesh, `None` without
/// security (plaintext).
pub(crate) fn inbound_listener(
    proxy: &Proxy,
    protocol: Protocol,
    mtls: Option<MutualTlsMode>,
) -> Listener {
    let name = format!("inbound:{}", proxy.inbound);
    let filter = if protocol.is_http() {
        http_filter_for(&name, &inbound_route_name(&proxy.service), false)
    } else {
        tcp_filter_for(&name, LOCAL_APP_CLUSTER)
    };
    let mut l = listener(name, proxy.inbound, TrafficDirection::Inbound, filter);
    let Some(mode) = mtls else {
        return l;
    };
    let plain = std::mem::take(&mut l.filter_chains);
    let secured: Vec<FilterChain> = plain
        .iter()
        .cloned()
        .map(|chain| FilterChain {
            transport_socket: Some(tls::downstream_socket()),
            ..chain
        })
        .collect();
    l.filter_chains = match mode {
        MutualTlsMode::Strict => secured,
        MutualTlsMode::Permissive => {
            l.listener_filters = vec![tls::tls_inspector()];
            let on = |protocol: &str, chain: FilterChain| FilterChain {
                filter_chain_match: Some(FilterChainMatch {
                    transport_protocol: protocol.to_owned(),
                    ..Default::default()
                }),
                ..chain
            };
            secured
                .into_iter()
                .map(|c| on(TRANSPORT_PROTOCOL_TLS, c))
                .chain(plain.into_iter().map(|c| on(TRANSPORT_PROTOCOL_RAW, c)))
                .collect()
        }
    };
    l
}

/// `fault`: the route configuration injects faults, so the HTTP filters start with the
/// fault filter.
/// `tcp_cluster`: where a TCP upstream's connections go.
pub(crate) fn outbound_listener(
    up: &Upstream,
    protocol: Protocol,
    tcp_cluster: &str,
    fault: bool,
) -> Listener {
    let name = format!("outbound:{}:{}", up.service, up.local_bind.port());
    let filter = if protocol.is_http() {
        http_filter_for(&name, up.service.as_str(), fault)
    } else {
        tcp_filter_for(&name, tcp_cluster)
    };
    listener(name, up.local_bind, TrafficDirection::Outbound, filter)
}

fn listener(name: String, addr: SocketAddr, dir: TrafficDirection, filter: Filter) -> Listener {
    Listener {
        name,
        address: Some(socket_address(addr)),
        traffic_direction: dir as i32,
        filter_chains: vec![FilterChain {
            filters: vec![filter],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn http_filter_for(stat_prefix: &str, route_config: &str, fault: bool) -> Filter {
    let mut http_filters = Vec::new();
    if fault {
        http_filters.push(HttpFilter {
            name: chain_route::FAULT_FILTER_NAME.to_owned(),
            config_type: Some(http_filter::ConfigType::TypedConfig(pack(
                chain_route::HTTP_FAULT,
                &HttpFault::default(),
            ))),
            ..Default::default()
        });
    }
    http_filters.push(HttpFilter {
        name: ROUTER_NAME.to_owned(),
        config_type: Some(http_filter::ConfigType::TypedConfig(pack(
            ROUTER,
            &Router::default(),
        ))),
        ..Default::default()
    });
    let hcm = HttpConnectionManager {
        stat_prefix: stat_prefix.to_owned(),
        codec_type: CodecType::Auto as i32,
        route_specifier: Some(RouteSpecifier::Rds(Rds {
            config_source: Some(ads()),
            route_config_name: route_config.to_owned(),
        })),
        http_filters,
        upgrade_configs: vec![UpgradeConfig {
            upgrade_type: "websocket".to_owned(),
            ..Default::default()
        }],
        ..Default::default()
    };
    Filter {
        name: HTTP_CONNECTION_MANAGER_NAME.to_owned(),
        config_type: Some(filter::ConfigType::TypedConfig(pack(
            HTTP_CONNECTION_MANAGER,
            &hcm,
        ))),
    }
}

fn tcp_filter_for(stat_prefix: &str, cluster: &str) -> Filter {
    let tcp = TcpProxy {
        stat_prefix: stat_prefix.to_owned(),
        cluster_specifier: Some(TcpClusterSpecifier::Cluster(cluster.to_owned())),
        ..Default::default()
    };
    Filter {
        name: TCP_PROXY_NAME.to_owned(),
        config_type: Some(filter::ConfigType::TypedConfig(pack(TCP_PROXY, &tcp))),
    }
}

pub(crate) fn route_config(name: &str, cluster: &str, protocol: Protocol) -> RouteConfiguration {
    // gRPC streams may last for hours: a route timeout would cut them.
    let timeout = match protocol {
        Protocol::Grpc => Duration::ZERO,
        _ => DEFAULT_HTTP_ROUTE_TIMEOUT,
    };
    RouteConfiguration {
        name: name.to_owned(),
        virtual_hosts: vec![VirtualHost {
            name: name.to_owned(),
            domains: vec!["*".to_owned()],
            routes: vec![Route {
                name: "default".to_owned(),
                r#match: Some(RouteMatch {
                    path_specifier: Some(PathSpecifier::Prefix("/".to_owned())),
                    ..Default::default()
                }),
                action: Some(Action::Route(RouteAction {
                    cluster_specifier: Some(ClusterSpecifier::Cluster(cluster.to_owned())),
                    timeout: Some(duration(timeout)),
                    ..Default::default()
                })),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

pub(crate) fn local_app_cluster(proxy: &Proxy, protocol: Protocol) -> Cluster {
    let mut c = cluster(
        LOCAL_APP_CLUSTER,
        protocol,
        LbPolicy::RoundRobin,
        DEFAULT_CONNECT_TIMEOUT,
    );
    c.cluster_discovery_type = Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32));
    c.load_assignment = Some(ClusterLoadAssignment {
        cluster_name: LOCAL_APP_CLUSTER.to_owned(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![lb_endpoint(proxy.local_app, Health::Passing)],
            ..Default::default()
        }],
        ..Default::default()
    });
    c
}

/// An upstream service's cluster; with `security`, its connections are mTLS to the service's
/// SPIFFE ID.
pub(crate) fn eds_cluster(
    name: &ServiceName,
    service: Option<&Service>,
    protocol: Protocol,
    security: Option<&MeshSecurity>,
) -> Cluster {
    let (lb, timeout) = service
        .map(|s| (s.lb_policy, s.connect_timeout))
        .unwrap_or((LbPolicy::RoundRobin, DEFAULT_CONNECT_TIMEOUT));
    let mut c = cluster(name.as_str(), protocol, lb, timeout);
    c.cluster_discovery_type = Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32));
    c.eds_cluster_config = Some(EdsClusterConfig {
        eds_config: Some(ads()),
        service_name: String::new(),
    });
    c.transport_socket = security.map(|sec| tls::upstream_socket(sec, name, protocol));
    c
}

/// The cluster of a service linked to terminating gateway `gateway`: the service's own
/// settings, with mTLS that expects the gateway's SPIFFE ID and names the service in SNI.
pub(crate) fn gateway_cluster(
    name: &ServiceName,
    service: Option<&Service>,
    protocol: Protocol,
    security: &MeshSecurity,
    gateway: &ServiceName,
) -> Cluster {
    let mut c = eds_cluster(name, service, protocol, None);
    c.transport_socket = Some(tls::upstream_socket_for(
        security,
        name.as_str(),
        std::slice::from_ref(gateway),
        protocol,
    ));
    c
}

pub(crate) fn cluster(
    name: &str,
    protocol: Protocol,
    lb: LbPolicy,
    connect_timeout: Duration,
) -> Cluster {
    let mut options = HashMap::new();
    if protocol.is_http2() {
        let opts = HttpProtocolOptions {
            upstream_protocol_options: Some(UpstreamProtocolOptions::ExplicitHttpConfig(
                ExplicitHttpConfig {
                    protocol_config: Some(ProtocolConfig::Http2ProtocolOptions(
                        Http2ProtocolOptions::default(),
                    )),
                },
            )),
            ..Default::default()
        };
        options.insert(
            HTTP_PROTOCOL_OPTIONS_KEY.to_owned(),
            pack(HTTP_PROTOCOL_OPTIONS, &opts),
        );
    }
    Cluster {
        name: name.to_owned(),
        connect_timeout: Some(duration(connect_timeout)),
        lb_policy: match lb {
            LbPolicy::RoundRobin => XdsLbPolicy::RoundRobin,
            LbPolicy::LeastRequest => XdsLbPolicy::LeastRequest,
        } as i32,
        typed_extension_protocol_options: options,
        ..Default::default()
    }
}

/// Endpoints grouped by locality, localities in sorted order, endpoints in registry order.
/// With `sidecars_only` (a secured mesh), only endpoints that are sidecars, since only those
/// answer mTLS.
pub(crate) fn load_assignment(
    name: &ServiceName,
    service: Option<&Service>,
    sidecars_only: bool,
) -> ClusterLoadAssignment {
    let mut groups: Vec<LocalityLbEndpoints> = Vec::new();
    let mut endpoints: Vec<_> = service
        .map(|s| {
            s.endpoints
                .iter()
                .filter(|e| e.sidecar || !sidecars_only)
                .collect()
        })
        .unwrap_or_default();
    endpoints.sort_by(|a, b| a.locality.cmp(&b.locality));
    push_groups(&mut groups, endpoints.into_iter().map(|e| (e, e.health)), 0);
    ClusterLoadAssignment {
        cluster_name: name.as_str().to_owned(),
        endpoints: groups,
        ..Default::default()
    }
}

/// Appends `endpoints` (sorted by locality, each with the health to send) as locality
/// groups at `priority`.
pub(crate) fn push_groups<'e>(
    groups: &mut Vec<LocalityLbEndpoints>,
    endpoints: impl IntoIterator<Item = (&'e Endpoint, Health)>,
    priority: u32,
) {
    let first = groups.len();
    for (ep, health) in endpoints {
        let locality = XdsLocality {
            region: ep.locality.region.clone(),
            zone: ep.locality.zone.clone(),
            sub_zone: String::new(),
        };
        let lb = lb_endpoint(ep.address, health);
        let ours = groups.len() > first;
        match groups.last_mut() {
            Some(g) if ours && g.locality.as_ref() == Some(&locality) => g.lb_endpoints.push(lb),
            _ => groups.push(LocalityLbEndpoints {
                locality: Some(locality),
                lb_endpoints: vec![lb],
                priority,
                ..Default::default()
            }),
        }
    }
}

fn lb_endpoint(addr: SocketAddr, health: Health) -> LbEndpoint {
    LbEndpoint {
        health_status: match health {
            Health::Passing => HealthStatus::Healthy,
            Health::Warning => HealthStatus::Degraded,
            Health::Critical => HealthStatus::Unhealthy,
            Health::Maintenance => HealthStatus::Draining,
        } as i32,
        load_balancing_weight: Some(UInt32Value { value: 1 }),
        host_identifier: Some(HostIdentifier::Endpoint(XdsEndpoint {
            address: Some(socket_address(addr)),
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub(crate) fn socket_address(addr: SocketAddr) -> Address {
    Address {
        address: Some(AddressKind::SocketAddress(SocketAddress {
            address: addr.ip().to_string(),
            port_specifier: Some(PortSpecifier::PortValue(u32::from(addr.port()))),
            ..Default::default()
        })),
    }
}

pub(crate) fn ads() -> ConfigSource {
    ConfigSource {
        config_source_specifier: Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {})),
        resource_api_version: ApiVersion::V3 as i32,
        ..Default::default()
    }
}

pub(crate) fn duration(d: Duration) -> PbDuration {
    PbDuration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}
