use envoy_types::pb::envoy::config::core::v3::{
    Metadata, Pipe, TrafficDirection, TransportSocket, address, config_source, socket_address,
};
use envoy_types::pb::envoy::config::listener::v3::{self as lds, FilterChainMatch, ListenerFilter};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::tcp_proxy;
use envoy_types::pb::google::protobuf::{Any, BoolValue, UInt32Value};
use rigging_mesh_xds::{HTTP_CONNECTION_MANAGER, ROUTER, pack, unpack};

use super::fixtures::{self, Tap, http_listener, socket, tcp_listener, with_hcm, with_tcp_proxy};
use super::{Case, assert_rejects};
use crate::types::{Direction, Listener, ListenerKind};

/// Mutates the connection manager inside the HTTP listener.
fn edit_hcm(l: &mut lds::Listener, f: impl FnOnce(&mut hcm::HttpConnectionManager)) {
    let Some(lds::filter::ConfigType::TypedConfig(any)) =
        &mut l.filter_chains[0].filters[0].config_type
    else {
        panic!("no typed config")
    };
    let mut h: hcm::HttpConnectionManager = unpack(HTTP_CONNECTION_MANAGER, any).unwrap();
    f(&mut h);
    *any = pack(HTTP_CONNECTION_MANAGER, &h);
}

fn rds(h: &mut hcm::HttpConnectionManager) -> &mut hcm::Rds {
    match h.route_specifier.as_mut() {
        Some(hcm::http_connection_manager::RouteSpecifier::Rds(r)) => r,
        _ => panic!("not rds"),
    }
}

#[test]
fn accepts_the_http_listener_pilot_sends() {
    let l = Listener::try_from(http_listener()).unwrap();
    assert_eq!(
        l,
        Listener {
            tls: None,
            name: "outbound:api:9191".into(),
            addr: "127.0.0.1:9191".parse().unwrap(),
            direction: Direction::Outbound,
            kind: ListenerKind::Http {
                route_config: "api".into(),
                websocket: true,
                fault_filter: false,
            },
        }
    );
}

#[test]
fn accepts_the_tcp_listener_pilot_sends() {
    let l = Listener::try_from(tcp_listener()).unwrap();
    assert_eq!(l.addr, "10.0.0.5:20000".parse().unwrap());
    assert_eq!(l.direction, Direction::Inbound);
    assert_eq!(
        l.kind,
        ListenerKind::Tcp {
            cluster: "local_app".into()
        }
    );
}

#[test]
fn websocket_follows_upgrade_configs() {
    let mut l = http_listener();
    edit_hcm(&mut l, |h| h.upgrade_configs.clear());
    assert!(matches!(
        Listener::try_from(l).unwrap().kind,
        ListenerKind::Http {
            websocket: false,
            ..
        }
    ));
}

#[test]
fn accepts_informational_fields_and_infers_direction_from_the_name() {
    let mut l = http_listener();
    l.traffic_direction = TrafficDirection::Unspecified as i32;
    l.stat_prefix = "x".into();
    l.metadata = Some(Metadata::default());
    l.filter_chains[0].name = "chain".into();
    edit_hcm(&mut l, |h| {
        h.upgrade_configs[0].upgrade_type = "WebSocket".into();
        h.upgrade_configs[0].enabled = Some(BoolValue { value: true });
        rds(h).config_source.as_mut().unwrap().resource_api_version = 0;
    });
    assert_eq!(
        Listener::try_from(l).unwrap().direction,
        Direction::Outbound
    );
    let mut ipv6 = tcp_listener();
    socket(&mut ipv6.address).address = "::1".into();
    assert_eq!(
        Listener::try_from(ipv6).unwrap().addr,
        "[::1]:20000".parse().unwrap()
    );
}

#[test]
fn rejects_listener_fields_it_does_not_implement() {
    let cases: &[Case<lds::Listener>] = &[
        (
            "empty name",
            |l| l.name.clear(),
            r#"listener "": name: missing"#,
        ),
        ("no address", |l| l.address = None, "address: missing"),
        (
            "pipe",
            |l| l.address.as_mut().unwrap().address = Some(address::Address::Pipe(Pipe::default())),
            "address.pipe: unsupported address",
        ),
        (
            "host name",
            |l| socket(&mut l.address).address = "localhost".into(),
            r#"address.socket_address.address: "localhost" is not an IP address"#,
        ),
        (
            "empty ip",
            |l| socket(&mut l.address).address.clear(),
            "address.socket_address.address: missing",
        ),
        (
            "port 0",
            |l| {
                socket(&mut l.address).port_specifier =
                    Some(socket_address::PortSpecifier::PortValue(0))
            },
            "port_value: port 0 not in 1..=65535",
        ),
        (
            "port 65536",
            |l| {
                socket(&mut l.address).port_specifier =
                    Some(socket_address::PortSpecifier::PortValue(65536))
            },
            "port 65536 not in 1..=65535",
        ),
        (
            "named port",
            |l| {
                socket(&mut l.address).port_specifier =
                    Some(socket_address::PortSpecifier::NamedPort("http".into()))
            },
            "named_port: unsupported field",
        ),
        (
            "no port",
            |l| socket(&mut l.address).port_specifier = None,
            "port_value: missing",
        ),
        (
            "udp",
            |l| socket(&mut l.address).protocol = socket_address::Protocol::Udp as i32,
            "protocol: unsupported protocol 1",
        ),
        (
            "resolver",
            |l| socket(&mut l.address).resolver_name = "dns".into(),
            "resolver_name: unsupported field",
        ),
        (
            "no direction",
            |l| {
                l.name = "api".into();
                l.traffic_direction = 0
            },
            r#"listener "api": traffic_direction: missing"#,
        ),
        (
            "bad direction",
            |l| l.traffic_direction = 9,
            "traffic_direction: unknown value 9",
        ),
        (
            "no chains",
            |l| l.filter_chains.clear(),
            "filter_chains: missing",
        ),
        (
            "two chains",
            |l| l.filter_chains.push(l.filter_chains[0].clone()),
            "filter_chains: unsupported 2 filter chains (only one, or two behind the tls_inspector)",
        ),
        (
            "chain match",
            |l| {
                l.filter_chains[0].filter_chain_match = Some(FilterChainMatch {
                    server_names: vec!["a".into()],
                    ..Default::default()
                })
            },
            "filter_chains[0].filter_chain_match: unsupported field",
        ),
        (
            "tls",
            |l| {
                l.filter_chains[0].transport_socket = Some(TransportSocket {
                    name: "tls".into(),
                    ..Default::default()
                })
            },
            r#"filter_chains[0].transport_socket.name: unsupported transport socket "tls" (only envoy.transport_sockets.tls)"#,
        ),
        (
            "default chain",
            |l| l.default_filter_chain = Some(lds::FilterChain::default()),
            "default_filter_chain: unsupported field",
        ),
        (
            "listener filter",
            |l| l.listener_filters.push(ListenerFilter::default()),
            "listener_filters[0].name: missing",
        ),
        (
            "original dst",
            |l| l.use_original_dst = Some(BoolValue { value: true }),
            "use_original_dst: unsupported field",
        ),
        (
            "buffer limit",
            |l| l.per_connection_buffer_limit_bytes = Some(UInt32Value { value: 1 }),
            "per_connection_buffer_limit_bytes: unsupported field",
        ),
        (
            "no filters",
            |l| l.filter_chains[0].filters.clear(),
            "filter_chains[0].filters: missing",
        ),
        (
            "two filters",
            |l| {
                let f = l.filter_chains[0].filters[0].clone();
                l.filter_chains[0].filters.push(f)
            },
            "filter_chains[0].filters: unsupported 2 network filters",
        ),
        (
            "no typed config",
            |l| l.filter_chains[0].filters[0].config_type = None,
            "filter_chains[0].filters[0].typed_config: missing",
        ),
        (
            "unknown filter",
            |l| {
                l.filter_chains[0].filters[0].config_type =
                    Some(lds::filter::ConfigType::TypedConfig(Any {
                        type_url:
                            "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC"
                                .into(),
                        value: vec![],
                    }))
            },
            r#"listener "outbound:api:9191": filter_chains[0].filters[0].typed_config: unsupported type URL "type.googleapis.com/envoy.extensions.filters.network.rbac.v3.RBAC""#,
        ),
        (
            "undecodable hcm",
            |l| {
                l.filter_chains[0].filters[0].config_type =
                    Some(lds::filter::ConfigType::TypedConfig(Any {
                        type_url: HTTP_CONNECTION_MANAGER.into(),
                        value: vec![0xff, 0xff, 0xff],
                    }))
            },
            "filter_chains[0].filters[0].typed_config: cannot decode",
        ),
    ];
    assert_rejects::<_, Listener>(http_listener, cases);
}

#[test]
#[allow(deprecated)]
fn rejects_connection_manager_settings_it_does_not_implement() {
    let cases: &[Case<lds::Listener>] = &[
        (
            "codec http1",
            |l| edit_hcm(l, |h| h.codec_type = 1),
            "typed_config.codec_type: unsupported field",
        ),
        (
            "remote address",
            |l| {
                edit_hcm(l, |h| {
                    h.use_remote_address = Some(BoolValue { value: true })
                })
            },
            "typed_config.use_remote_address: unsupported field",
        ),
        (
            "access log",
            |l| edit_hcm(l, |h| h.access_log.push(Default::default())),
            "typed_config.access_log: unsupported field",
        ),
        (
            "inline routes",
            |l| {
                edit_hcm(l, |h| {
                    h.route_specifier =
                        Some(hcm::http_connection_manager::RouteSpecifier::RouteConfig(
                            Default::default(),
                        ))
                })
            },
            "typed_config.route_config: unsupported inline route configuration",
        ),
        (
            "scoped routes",
            |l| {
                edit_hcm(l, |h| {
                    h.route_specifier =
                        Some(hcm::http_connection_manager::RouteSpecifier::ScopedRoutes(
                            Default::default(),
                        ))
                })
            },
            "typed_config.scoped_routes: unsupported",
        ),
        (
            "no rds",
            |l| edit_hcm(l, |h| h.route_specifier = None),
            "typed_config.rds: missing",
        ),
        (
            "rds name",
            |l| edit_hcm(l, |h| rds(h).route_config_name.clear()),
            "typed_config.rds.route_config_name: missing",
        ),
        (
            "rds source",
            |l| edit_hcm(l, |h| rds(h).config_source = None),
            "typed_config.rds.config_source: missing",
        ),
        (
            "rds path",
            |l| {
                edit_hcm(l, |h| {
                    rds(h)
                        .config_source
                        .as_mut()
                        .unwrap()
                        .config_source_specifier = Some(config_source::ConfigSourceSpecifier::Path(
                        "/etc/rds".into(),
                    ))
                })
            },
            "typed_config.rds.config_source: unsupported config source (only ads)",
        ),
        (
            "rds v2",
            |l| {
                edit_hcm(l, |h| {
                    rds(h).config_source.as_mut().unwrap().resource_api_version = 1
                })
            },
            "rds.config_source.resource_api_version: unsupported version 1",
        ),
        (
            "no filters",
            |l| edit_hcm(l, |h| h.http_filters.clear()),
            "typed_config.http_filters[0] (router): missing",
        ),
        (
            "fault filter",
            |l| {
                edit_hcm(l, |h| {
                    h.http_filters.insert(0, hcm::HttpFilter {
                name: "envoy.filters.http.fault".into(),
                // A listener-wide fault setting.
                config_type: Some(hcm::http_filter::ConfigType::TypedConfig(pack(
                    crate::FAULT_TYPE_URL,
                    &envoy_types::pb::envoy::extensions::filters::http::fault::v3::HttpFault {
                        upstream_cluster: "x".into(),
                        ..Default::default()
                    },
                ))),
                ..Default::default()
            })
                })
            },
            "typed_config.http_filters[0].typed_config: unsupported fault settings in the listener",
        ),
        (
            "two routers",
            |l| edit_hcm(l, |h| h.http_filters.push(h.http_filters[0].clone())),
            "typed_config.http_filters: unsupported 2 router filters",
        ),
        (
            "router settings",
            |l| {
                edit_hcm(l, |h| {
                    h.http_filters[0].config_type =
                        Some(hcm::http_filter::ConfigType::TypedConfig(pack(
                            ROUTER,
                            &Router {
                                suppress_envoy_headers: true,
                                ..Default::default()
                            },
                        )))
                })
            },
            "http_filters[0].typed_config: unsupported router settings",
        ),
        (
            "router untyped",
            |l| edit_hcm(l, |h| h.http_filters[0].config_type = None),
            "http_filters[0].typed_config: missing",
        ),
        (
            "connect upgrade",
            |l| edit_hcm(l, |h| h.upgrade_configs[0].upgrade_type = "CONNECT".into()),
            r#"upgrade_configs[0].upgrade_type: unsupported upgrade "CONNECT""#,
        ),
        (
            "websocket off",
            |l| {
                edit_hcm(l, |h| {
                    h.upgrade_configs[0].enabled = Some(BoolValue { value: false })
                })
            },
            "upgrade_configs[0].enabled: unsupported value false",
        ),
    ];
    assert_rejects::<_, Listener>(http_listener, cases);
    // The base fixture is built by value so the compiler checks with_hcm's signature is usable.
    let _ = with_hcm(fixtures::hcm());
}

#[test]
fn rejects_tcp_proxy_settings_it_does_not_implement() {
    fn edit(
        l: &mut lds::Listener,
        f: fn(&mut envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy),
    ) {
        *l = with_tcp_proxy(fixtures::tcp_proxy().tap(f));
    }
    let cases: &[Case<lds::Listener>] = &[
        (
            "weighted",
            |l| {
                edit(l, |t| {
                    t.cluster_specifier = Some(tcp_proxy::ClusterSpecifier::WeightedClusters(
                        Default::default(),
                    ))
                })
            },
            "typed_config.weighted_clusters: unsupported field",
        ),
        (
            "no cluster",
            |l| edit(l, |t| t.cluster_specifier = None),
            "typed_config.cluster: missing",
        ),
        (
            "empty cluster",
            |l| {
                edit(l, |t| {
                    t.cluster_specifier = Some(tcp_proxy::ClusterSpecifier::Cluster(String::new()))
                })
            },
            "typed_config.cluster: missing",
        ),
        (
            "idle timeout",
            |l| edit(l, |t| t.idle_timeout = Some(fixtures::secs(1))),
            "typed_config.idle_timeout: unsupported field",
        ),
    ];
    assert_rejects::<_, Listener>(tcp_listener, cases);
}
