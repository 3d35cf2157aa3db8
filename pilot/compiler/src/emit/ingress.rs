//! An ingress gateway's listeners and route configurations: `pilot/XDS.md`, "Ingress
//! gateways".

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch};
use envoy_types::pb::envoy::config::route::v3::VirtualHost;
use rigging_mesh_config_entries::HeaderModifiers;
use rigging_mesh_xds::{Listener, RouteConfiguration, TRANSPORT_PROTOCOL_TLS};

use crate::emit::chain_route::header_changes;
use crate::emit::{http_filter_for, listener, tcp_filter_for, tls};
use crate::ingress::ServedTls;

/// `ingress:<bind ip>:<port>`.
pub(crate) fn listener_name(bind: IpAddr, port: u16) -> String {
    format!("ingress:{}", SocketAddr::new(bind, port))
}

/// `ingress:<port>`: one route configuration per HTTP listener of the gateway.
pub(crate) fn route_name(port: u16) -> String {
    format!("ingress:{port}")
}

/// An HTTP listener whose routes are the route configuration of its port; `fault`: a
/// route injects faults, so the fault filter goes first.
/// With `tls`, clients connect over TLS (h2 or http/1.1 by ALPN).
pub(crate) fn http_listener(
    bind: IpAddr,
    port: u16,
    fault: bool,
    tls: Option<&ServedTls>,
) -> Listener {
    let name = listener_name(bind, port);
    let filter = http_filter_for(&name, &route_name(port), fault);
    let l = listener(
        name,
        SocketAddr::new(bind, port),
        TrafficDirection::Outbound,
        filter,
    );
    with_tls(l, tls, &tls::INBOUND_ALPN)
}

/// A TCP listener forwarding every connection to `cluster`; with `tls`, clients connect
/// over TLS, which the gateway terminates.
pub(crate) fn tcp_listener(
    bind: IpAddr,
    port: u16,
    cluster: &str,
    tls: Option<&ServedTls>,
) -> Listener {
    let name = listener_name(bind, port);
    let filter = tcp_filter_for(&name, cluster);
    let l = listener(
        name,
        SocketAddr::new(bind, port),
        TrafficDirection::Outbound,
        filter,
    );
    with_tls(l, tls, &[])
}

/// The listener's one chain, terminating `served` TLS: as is with the listener's certificate
/// alone; with services' own certificates, behind the TLS inspector, one chain per service
/// matching its hosts as server names, then the listener's chain for any other name.
fn with_tls(mut l: Listener, served: Option<&ServedTls>, alpn: &[&str]) -> Listener {
    let Some(served) = served else {
        return l;
    };
    let Some(chain) = l.filter_chains.pop() else {
        return l;
    };
    if served.by_server_name.is_empty() {
        if let Some(cert) = &served.certificate {
            l.filter_chains.push(FilterChain {
                transport_socket: Some(tls::gateway_socket(served, cert, alpn)),
                ..chain
            });
        }
        return l;
    }
    l.listener_filters = vec![tls::tls_inspector()];
    let matching = |server_names: Vec<String>| FilterChainMatch {
        server_names,
        transport_protocol: TRANSPORT_PROTOCOL_TLS.to_owned(),
        ..Default::default()
    };
    for (hosts, cert) in &served.by_server_name {
        l.filter_chains.push(FilterChain {
            filter_chain_match: Some(matching(hosts.clone())),
            transport_socket: Some(tls::gateway_socket(served, cert, alpn)),
            ..chain.clone()
        });
    }
    if let Some(cert) = &served.certificate {
        l.filter_chains.push(FilterChain {
            filter_chain_match: Some(matching(Vec::new())),
            transport_socket: Some(tls::gateway_socket(served, cert, alpn)),
            ..chain
        });
    }
    l
}

pub(crate) fn route_config(port: u16, virtual_hosts: Vec<VirtualHost>) -> RouteConfiguration {
    RouteConfiguration {
        name: route_name(port),
        virtual_hosts,
        ..Default::default()
    }
}

/// The virtual host of `service`: its chain's routes (from the route configuration the
/// service's callers get) under `domains`. The ingress service's header changes apply to
/// every route, after the route's own (as Envoy applies a virtual host's after its routes').
pub(crate) fn virtual_host(
    service: &str,
    domains: Vec<String>,
    chain: &RouteConfiguration,
    request: Option<&HeaderModifiers>,
    response: Option<&HeaderModifiers>,
) -> VirtualHost {
    let (req_add, req_remove) = header_changes(request);
    let (resp_add, resp_remove) = header_changes(response);
    let mut routes: Vec<_> = chain
        .virtual_hosts
        .iter()
        .flat_map(|v| v.routes.iter().cloned())
        .collect();
    for r in &mut routes {
        r.request_headers_to_add.extend(req_add.iter().cloned());
        r.request_headers_to_remove
            .extend(req_remove.iter().cloned());
        r.response_headers_to_add.extend(resp_add.iter().cloned());
        r.response_headers_to_remove
            .extend(resp_remove.iter().cloned());
    }
    VirtualHost {
        name: service.to_owned(),
        domains,
        routes,
        ..Default::default()
    }
}
