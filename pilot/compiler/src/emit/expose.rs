//! Exposed paths: `pilot/XDS.md`, "Exposed paths". Each path of a proxy's
//! `Expose.Paths` is a plaintext listener on the proxy's inbound address at its listener
//! port, whose one route sends exactly that path to the local application's port.

use std::net::SocketAddr;

use envoy_types::pb::envoy::config::cluster::v3::cluster::{ClusterDiscoveryType, DiscoveryType};
use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, LocalityLbEndpoints};
use envoy_types::pb::envoy::config::route::v3::route_match::PathSpecifier;
use rigging_mesh_model::{DEFAULT_CONNECT_TIMEOUT, ExposePath, Health, LbPolicy, Proxy};
use rigging_mesh_xds::{Cluster, Listener, RouteConfiguration};

use crate::emit::{cluster, http_filter_for, lb_endpoint, listener, route_config};

/// `exposed:<listener port>`: the listener, its route configuration and its cluster.
pub(crate) fn name(p: &ExposePath) -> String {
    format!("exposed:{}", p.listener_port)
}

/// The plaintext listener of `p` on the proxy's inbound address.
pub(crate) fn expose_listener(proxy: &Proxy, p: &ExposePath) -> Listener {
    let name = name(p);
    listener(
        name.clone(),
        SocketAddr::new(proxy.inbound.ip(), p.listener_port),
        TrafficDirection::Inbound,
        http_filter_for(&name, &name, false),
    )
}

/// One route: exactly `p.path` to the path's cluster; any other path is answered 404.
pub(crate) fn expose_route(p: &ExposePath) -> RouteConfiguration {
    let name = name(p);
    let mut rc = route_config(&name, &name, p.protocol);
    for vh in &mut rc.virtual_hosts {
        for r in &mut vh.routes {
            r.name = "exposed".to_owned();
            if let Some(m) = r.r#match.as_mut() {
                m.path_specifier = Some(PathSpecifier::Path(p.path.clone()));
            }
        }
    }
    rc
}

/// The local application at `local_path_port`, on the address the proxy reaches it at.
pub(crate) fn expose_cluster(proxy: &Proxy, p: &ExposePath) -> Cluster {
    let name = name(p);
    let mut c = cluster(
        &name,
        p.protocol,
        LbPolicy::RoundRobin,
        DEFAULT_CONNECT_TIMEOUT,
    );
    c.cluster_discovery_type = Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32));
    c.load_assignment = Some(ClusterLoadAssignment {
        cluster_name: name,
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![lb_endpoint(
                SocketAddr::new(proxy.local_app.ip(), p.local_path_port),
                Health::Passing,
            )],
            ..Default::default()
        }],
        ..Default::default()
    });
    c
}
