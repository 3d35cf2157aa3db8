//! `proxy { … }`: destination, local service, upstreams and exposed paths, with Consul's
//! proxy rules (`NodeService.ValidateForAgent`, `Upstream.Validate`).

use std::collections::BTreeSet;

use crate::decode::{Fields, opaque};
use crate::error::Diag;
use crate::model::{
    DestinationType, Expose, ExposePath, MeshGatewayMode, ProxyConfig, ProxyMode, TransparentProxy,
    Upstream,
};
use crate::tree::Node;

const PROXY_KEYS: &[&str] = &[
    "destination_service_name",
    "destination_service_id",
    "local_service_address",
    "local_service_port",
    "local_service_socket_path",
    "mode",
    "transparent_proxy",
    "config",
    "upstreams",
    "mesh_gateway",
    "expose",
];

const UPSTREAM_KEYS: &[&str] = &[
    "destination_type",
    "destination_name",
    "destination_namespace",
    "destination_partition",
    "destination_peer",
    "datacenter",
    "local_bind_address",
    "local_bind_port",
    "local_bind_socket_path",
    "local_bind_socket_mode",
    "config",
    "mesh_gateway",
];

pub(super) fn proxy(d: &mut Diag, node: &Node) -> Option<ProxyConfig> {
    let f = Fields::of(d, node, "proxy", PROXY_KEYS)?;
    let mode = match f.text(d, "mode").as_str() {
        "" => ProxyMode::Default,
        "direct" => ProxyMode::Direct,
        "transparent" => ProxyMode::Transparent,
        other => {
            d.err(
                &f.key_at("mode"),
                format!("mode: expected \"direct\" or \"transparent\", found {other:?}"),
            );
            ProxyMode::Default
        }
    };
    let p = ProxyConfig {
        destination_service_name: f.text(d, "destination_service_name"),
        destination_service_id: f.text(d, "destination_service_id"),
        local_service_address: f.text(d, "local_service_address"),
        local_service_port: f.port(d, "local_service_port"),
        local_service_socket_path: f.text(d, "local_service_socket_path"),
        mode,
        transparent_proxy: f
            .node(d, "transparent_proxy")
            .and_then(|n| transparent(d, n)),
        config: opaque(d, &f, "config"),
        upstreams: f
            .list(d, "upstreams")
            .into_iter()
            .filter_map(|n| upstream(d, n))
            .collect(),
        mesh_gateway: f
            .node(d, "mesh_gateway")
            .map(|n| mesh_gateway(d, n))
            .unwrap_or_default(),
        expose: f
            .node(d, "expose")
            .map(|n| expose(d, n))
            .unwrap_or_default(),
    };
    if p.destination_service_name == "*" {
        d.err(
            &f.key_at("destination_service_name"),
            "destination_service_name must not be a wildcard for a connect proxy",
        );
    }
    duplicate_upstreams(d, &p.upstreams);
    Some(p)
}

fn transparent(d: &mut Diag, node: &Node) -> Option<TransparentProxy> {
    let f = Fields::of(
        d,
        node,
        "transparent_proxy",
        &["outbound_listener_port", "dialed_directly"],
    )?;
    Some(TransparentProxy {
        outbound_listener_port: f.port(d, "outbound_listener_port"),
        dialed_directly: f.flag(d, "dialed_directly"),
    })
}

fn mesh_gateway(d: &mut Diag, node: &Node) -> MeshGatewayMode {
    let Some(f) = Fields::of(d, node, "mesh_gateway", &["mode"]) else {
        return MeshGatewayMode::Default;
    };
    match f.text(d, "mode").as_str() {
        "" => MeshGatewayMode::Default,
        "none" => MeshGatewayMode::None,
        "local" => MeshGatewayMode::Local,
        "remote" => MeshGatewayMode::Remote,
        other => {
            d.err(
                &f.key_at("mode"),
                format!(
                    "mesh_gateway.mode: expected \"none\", \"local\" or \"remote\", found {other:?}"
                ),
            );
            MeshGatewayMode::Default
        }
    }
}

fn upstream(d: &mut Diag, node: &Node) -> Option<Upstream> {
    let f = Fields::of(d, node, "upstream", UPSTREAM_KEYS)?;
    let destination_type = match f.text(d, "destination_type").as_str() {
        "" | "service" => DestinationType::Service,
        "prepared_query" => DestinationType::PreparedQuery,
        other => {
            d.err(
                &f.key_at("destination_type"),
                format!("unknown upstream destination_type {other:?}; expected \"service\" or \"prepared_query\""),
            );
            DestinationType::Service
        }
    };
    let u = Upstream {
        location: Some(node.at.clone()),
        destination_type,
        destination_name: f.text(d, "destination_name"),
        destination_namespace: f.text(d, "destination_namespace"),
        destination_partition: f.text(d, "destination_partition"),
        destination_peer: f.text(d, "destination_peer"),
        datacenter: f.text(d, "datacenter"),
        local_bind_address: f.text(d, "local_bind_address"),
        local_bind_port: f.port(d, "local_bind_port"),
        local_bind_socket_path: f.text(d, "local_bind_socket_path"),
        local_bind_socket_mode: f.text(d, "local_bind_socket_mode"),
        config: opaque(d, &f, "config"),
        mesh_gateway: f
            .node(d, "mesh_gateway")
            .map(|n| mesh_gateway(d, n))
            .unwrap_or_default(),
    };
    let at = f.at();
    if u.destination_name.is_empty() {
        d.err(at, "upstream: destination_name is required");
    } else if u.destination_name == "*" {
        d.err(
            &f.key_at("destination_name"),
            "upstream: destination_name cannot be a wildcard",
        );
    }
    if !u.destination_peer.is_empty() && !u.datacenter.is_empty() {
        d.err(
            &f.key_at("datacenter"),
            "upstream: cannot set both datacenter and destination_peer",
        );
    }
    if u.destination_type == DestinationType::PreparedQuery
        && !(u.destination_partition.is_empty() && u.destination_peer.is_empty())
    {
        d.err(
            at,
            "upstream: a prepared_query upstream cannot set destination_partition or destination_peer",
        );
    }
    match (u.local_bind_port, u.local_bind_socket_path.is_empty()) {
        (None, true) => d.err(
            at,
            "upstream: local_bind_port (or local_bind_socket_path) is required and must be non-zero",
        ),
        (Some(_), false) => d.err(
            &f.key_at("local_bind_socket_path"),
            "upstream: only one of local_bind_port and local_bind_socket_path may be set",
        ),
        _ => {}
    }
    Some(u)
}

/// Consul refuses two upstreams to the same destination, and two on the same local
/// address and port (or socket).
fn duplicate_upstreams(d: &mut Diag, upstreams: &[Upstream]) {
    let mut keys = BTreeSet::new();
    let mut binds = BTreeSet::new();
    for u in upstreams {
        let Some(at) = &u.location else { continue };
        let key = (
            u.destination_type,
            &u.destination_name,
            &u.destination_namespace,
            &u.destination_partition,
            &u.datacenter,
            &u.destination_peer,
        );
        if !keys.insert(key) {
            d.err(
                at,
                format!(
                    "upstreams cannot contain duplicates: {:?} is listed twice",
                    u.destination_name
                ),
            );
            continue;
        }
        let bind = match u.local_bind_port {
            Some(port) => format!("{}:{port}", crate::sidecar::bind_address(u)),
            None => u.local_bind_socket_path.clone(),
        };
        if !binds.insert(bind.clone()) {
            d.err(
                at,
                format!(
                    "upstreams cannot share a local bind address and port: {bind} is used twice"
                ),
            );
        }
    }
}

fn expose(d: &mut Diag, node: &Node) -> Expose {
    let Some(f) = Fields::of(d, node, "expose", &["checks", "paths"]) else {
        return Expose::default();
    };
    let mut listeners = BTreeSet::new();
    let mut paths = Vec::new();
    for n in f.list(d, "paths") {
        let Some(p) = Fields::of(
            d,
            n,
            "expose path",
            &["path", "local_path_port", "listener_port", "protocol"],
        ) else {
            continue;
        };
        let path = ExposePath {
            path: p.text(d, "path"),
            local_path_port: p.port(d, "local_path_port"),
            listener_port: p.port(d, "listener_port"),
            protocol: p.text(d, "protocol").to_lowercase(),
        };
        if !path.path.starts_with('/') {
            d.err(
                p.at(),
                "expose path: path is required and must start with '/'",
            );
        }
        match path.listener_port {
            None => d.err(p.at(), "expose path: listener_port is required"),
            Some(l) if !listeners.insert(l) => d.err(
                &p.key_at("listener_port"),
                format!("expose paths: listener_port {l} is exposed twice"),
            ),
            Some(_) => {}
        }
        if !matches!(path.protocol.as_str(), "" | "http" | "http2") {
            d.err(
                &p.key_at("protocol"),
                format!(
                    "expose path: protocol must be \"http\" or \"http2\", found {:?}",
                    path.protocol
                ),
            );
        }
        paths.push(path);
    }
    Expose {
        checks: f.flag(d, "checks"),
        paths,
    }
}
