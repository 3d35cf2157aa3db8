//! An ingress gateway's listeners and route configurations: `pilot/XDS.md`, "Ingress
//! gateways".

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::route::v3::VirtualHost;
use rigging_mesh_config_entries::HeaderModifiers;
use rigging_mesh_xds::{Listener, RouteConfiguration};

use crate::emit::chain_route::header_changes;
use crate::emit::{http_filter_for, listener, tcp_filter_for};

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
pub(crate) fn http_listener(bind: IpAddr, port: u16, fault: bool) -> Listener {
    let name = listener_name(bind, port);
    let filter = http_filter_for(&name, &route_name(port), fault);
    listener(
        name,
        SocketAddr::new(bind, port),
        TrafficDirection::Outbound,
        filter,
    )
}

/// A TCP listener forwarding every connection to `cluster`.
pub(crate) fn tcp_listener(bind: IpAddr, port: u16, cluster: &str) -> Listener {
    let name = listener_name(bind, port);
    let filter = tcp_filter_for(&name, cluster);
    listener(
        name,
        SocketAddr::new(bind, port),
        TrafficDirection::Outbound,
        filter,
    )
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
