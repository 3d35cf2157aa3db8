//! Consul's health entries turned into model services, endpoints and proxies.
//!
//! The rules, per service `S`:
//!
//! * An instance of `S` (`Kind = ""`) is an endpoint at `Service.Address` (or the node's
//!   address when empty) and `Service.Port`, with `Service.Tags`, `Service.Meta`, and the
//!   datacenter under [`META_DATACENTER`].
//! * A sidecar of `S` (`Kind = "connect-proxy"`, `Proxy.DestinationServiceName = S`) is an
//!   endpoint of `S` at the sidecar's address and port with `sidecar = true`, and a model
//!   [`Proxy`] whose id is the sidecar's service ID. As in the file registry, an instance
//!   reached through a sidecar is published once, as the sidecar endpoint (it keeps the
//!   instance's ID, tags and meta), so traffic is not counted twice.
//! * A Connect-native instance (`Connect.Native`) speaks mTLS itself: `sidecar = true`.
//! * Health is the worst of the instance's checks, the node's (`serfHealth`) included;
//!   a sidecar endpoint also takes its own checks. Maintenance mode is `maintenance`.
//! * Gateways and other kinds are not endpoints of a service.
//!
//! Entries that cannot be used (a hostname address, port 0, an invalid proxy ID) are
//! skipped with a warning; the rest of the service is kept.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rigging_mesh_model::{
    Endpoint, ExposePath, Health, Locality, Protocol, Proxy, ProxyId, Service, ServiceName,
    Upstream,
};

use crate::api::{Check, HealthEntry, ProxyConfig};

/// The endpoint metadata key holding the Consul datacenter an endpoint was read from.
pub const META_DATACENTER: &str = rigging_mesh_model::META_DATACENTER;

/// Consul's `local_service_address` default.
const DEFAULT_LOCAL_SERVICE_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Consul's `local_bind_address` default.
const DEFAULT_LOCAL_BIND_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

const KIND_CONNECT_PROXY: &str = "connect-proxy";

/// The model of service `name` from its `/v1/health/service` (`plain`) and
/// `/v1/health/connect` (`connect`) answers: `None` when it has neither instances nor
/// sidecars (a service that is itself a sidecar or a gateway).
pub(crate) fn service(
    name: &ServiceName,
    plain: &[HealthEntry],
    connect: &[HealthEntry],
    default_dc: &str,
) -> Option<(Service, Vec<Proxy>)> {
    let instances: Vec<&HealthEntry> = plain.iter().filter(|e| e.service.kind.is_empty()).collect();
    let sidecars: Vec<&HealthEntry> = connect
        .iter()
        .filter(|e| {
            e.service.kind == KIND_CONNECT_PROXY
                && e.service
                    .proxy
                    .as_ref()
                    .is_some_and(|p| p.destination_service_name == name.as_str())
        })
        .collect();
    if instances.is_empty() && sidecars.is_empty() {
        return None;
    }
    let parent_of = |sidecar: &HealthEntry| -> Option<&HealthEntry> {
        let proxy = sidecar.service.proxy.as_ref()?;
        instances.iter().copied().find(|i| {
            i.service.id == proxy.destination_service_id && i.node.node == sidecar.node.node
        })
    };
    let fronted: Vec<(&str, &str)> = sidecars
        .iter()
        .filter_map(|s| parent_of(s))
        .map(|p| (p.node.node.as_str(), p.service.id.as_str()))
        .collect();

    let mut service = Service::new(name.clone(), Protocol::default());
    let mut proxies = Vec::new();
    for inst in &instances {
        if fronted.contains(&(inst.node.node.as_str(), inst.service.id.as_str())) {
            continue;
        }
        let native = inst.service.connect.as_ref().is_some_and(|c| c.native);
        if let Some(e) = endpoint(name, inst, inst, health(&inst.checks), native, default_dc) {
            service.endpoints.push(e);
        }
    }
    for sidecar in &sidecars {
        let parent = parent_of(sidecar);
        let owner = parent.unwrap_or(sidecar);
        let h = worst(
            health(&sidecar.checks),
            parent.map_or(Health::Passing, |p| health(&p.checks)),
        );
        let Some(e) = endpoint(name, sidecar, owner, h, true, default_dc) else {
            continue;
        };
        proxies.extend(proxy(name, sidecar, parent, e.address));
        service.endpoints.push(e);
    }
    service
        .endpoints
        .sort_by(|a, b| (&a.instance, a.address).cmp(&(&b.instance, b.address)));
    Some((service, proxies))
}

/// An endpoint reached at `at`'s address and port, describing instance `owner`.
fn endpoint(
    name: &ServiceName,
    at: &HealthEntry,
    owner: &HealthEntry,
    health: Health,
    sidecar: bool,
    default_dc: &str,
) -> Option<Endpoint> {
    let address = address_of(name, at)?;
    let dc = if owner.node.datacenter.is_empty() {
        default_dc
    } else {
        owner.node.datacenter.as_str()
    };
    let mut metadata = owner.service.meta.clone();
    metadata.insert(META_DATACENTER.to_owned(), dc.to_owned());
    let locality = match &owner.service.locality {
        Some(l) if !l.region.is_empty() => Locality {
            region: l.region.clone(),
            zone: l.zone.clone(),
        },
        _ => Locality {
            region: dc.to_owned(),
            zone: String::new(),
        },
    };
    Some(Endpoint {
        instance: owner.service.id.clone(),
        address,
        health,
        locality,
        metadata,
        sidecar,
        tags: owner.service.tags.clone(),
    })
}

/// `Service.Address`, or the node's address when empty, with `Service.Port`.
fn address_of(name: &ServiceName, e: &HealthEntry) -> Option<SocketAddr> {
    let text = if e.service.address.is_empty() {
        &e.node.address
    } else {
        &e.service.address
    };
    let Ok(ip) = text.parse::<IpAddr>() else {
        tracing::warn!(service = %name, id = %e.service.id, address = %text, "consul instance skipped: its address is not an IP address");
        return None;
    };
    if e.service.port == 0 {
        tracing::warn!(service = %name, id = %e.service.id, "consul instance skipped: it has no port");
        return None;
    }
    Some(SocketAddr::new(ip, e.service.port))
}

fn proxy(
    name: &ServiceName,
    sidecar: &HealthEntry,
    parent: Option<&HealthEntry>,
    inbound: SocketAddr,
) -> Option<Proxy> {
    let config = sidecar.service.proxy.as_ref()?;
    let id = match ProxyId::new(sidecar.service.id.clone()) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(service = %name, id = %sidecar.service.id, "consul sidecar has no usable proxy id, its proxy is left out: {e}");
            return None;
        }
    };
    let local_ip = if config.local_service_address.is_empty() {
        DEFAULT_LOCAL_SERVICE_ADDRESS
    } else if let Ok(ip) = config.local_service_address.parse() {
        ip
    } else {
        tracing::warn!(proxy = %id, address = %config.local_service_address, "consul sidecar's LocalServiceAddress is not an IP address, its proxy is left out");
        return None;
    };
    let local_port = match (config.local_service_port, parent) {
        (0, Some(p)) => p.service.port,
        (port, _) => port,
    };
    if local_port == 0 {
        tracing::warn!(proxy = %id, "consul sidecar has no LocalServicePort and no known parent, its proxy is left out");
        return None;
    }
    let mut upstreams: Vec<Upstream> = Vec::new();
    for up in &config.upstreams {
        if !(up.destination_type.is_empty() || up.destination_type == "service") {
            tracing::warn!(proxy = %id, upstream = %up.destination_name, kind = %up.destination_type, "upstream type not supported, skipped");
            continue;
        }
        let Ok(service) = ServiceName::new(up.destination_name.clone()) else {
            tracing::warn!(proxy = %id, upstream = %up.destination_name, "upstream name is not a valid service name, skipped");
            continue;
        };
        let ip = if up.local_bind_address.is_empty() {
            Some(DEFAULT_LOCAL_BIND_ADDRESS)
        } else {
            up.local_bind_address.parse().ok()
        };
        let (Some(ip), true) = (ip, up.local_bind_port != 0) else {
            tracing::warn!(proxy = %id, upstream = %service, "upstream has no usable local bind address and port, skipped");
            continue;
        };
        let local_bind = SocketAddr::new(ip, up.local_bind_port);
        if upstreams
            .iter()
            .any(|u| u.service == service || u.local_bind == local_bind)
        {
            tracing::warn!(proxy = %id, upstream = %service, %local_bind, "upstream repeats a service or bind address of an earlier one, skipped");
            continue;
        }
        upstreams.push(Upstream {
            service,
            local_bind,
        });
    }
    let inbound = bind_override(&id, config, inbound);
    let expose = expose_paths(&id, config);
    Some(Proxy {
        id,
        service: name.clone(),
        inbound,
        local_app: SocketAddr::new(local_ip, local_port),
        upstreams,
        expose,
    })
}

/// Where the proxy listens: `Proxy.Config` `bind_address`/`bind_port` when set (Nomad sets
/// them in bridge networking: the registration says the host's address and port, the proxy
/// listens inside the allocation's network namespace), else the registration's address.
fn bind_override(id: &ProxyId, config: &ProxyConfig, registered: SocketAddr) -> SocketAddr {
    let ip = match config.config.get("bind_address") {
        Some(serde_json::Value::String(a)) if !a.is_empty() => match a.parse() {
            Ok(ip) => ip,
            Err(_) => {
                tracing::warn!(proxy = %id, bind_address = %a, "bind_address is not an IP address, the registered address is used");
                registered.ip()
            }
        },
        _ => registered.ip(),
    };
    let port = match config.config.get("bind_port") {
        Some(serde_json::Value::Number(n)) => n.as_u64().and_then(|p| u16::try_from(p).ok()),
        Some(serde_json::Value::String(p)) => p.parse().ok(),
        _ => None,
    }
    .filter(|p| *p != 0)
    .unwrap_or(registered.port());
    SocketAddr::new(ip, port)
}

/// `Proxy.Expose.Paths`, each served on its listener port from the local app's address.
fn expose_paths(id: &ProxyId, config: &ProxyConfig) -> Vec<ExposePath> {
    if config.expose.checks {
        tracing::warn!(proxy = %id, "Expose.Checks is not supported: expose the checks' paths with Expose.Paths");
    }
    let mut out: Vec<ExposePath> = Vec::new();
    for p in &config.expose.paths {
        let protocol = match p.protocol.as_str() {
            "" | "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            other => {
                tracing::warn!(proxy = %id, path = %p.path, protocol = %other, "exposed path skipped: protocol is not http or http2");
                continue;
            }
        };
        if !p.path.starts_with('/') || p.listener_port == 0 || p.local_path_port == 0 {
            tracing::warn!(proxy = %id, path = %p.path, "exposed path skipped: it needs a path starting with /, a ListenerPort and a LocalPathPort");
            continue;
        }
        if out.iter().any(|e| e.listener_port == p.listener_port) {
            tracing::warn!(proxy = %id, path = %p.path, port = p.listener_port, "exposed path skipped: its ListenerPort is taken by an earlier path");
            continue;
        }
        out.push(ExposePath {
            path: p.path.clone(),
            local_path_port: p.local_path_port,
            listener_port: p.listener_port,
            protocol,
        });
    }
    out
}

/// The worst status of `checks`; no checks is passing, as in Consul.
pub(crate) fn health(checks: &[Check]) -> Health {
    checks.iter().map(check_health).fold(Health::Passing, worst)
}

fn check_health(c: &Check) -> Health {
    let maintenance =
        c.check_id == "_node_maintenance" || c.check_id.starts_with("_service_maintenance:");
    match c.status.as_str() {
        "passing" => Health::Passing,
        "warning" => Health::Warning,
        _ if maintenance => Health::Maintenance,
        // critical, and anything Consul may add: not serving
        _ => Health::Critical,
    }
}

fn worst(a: Health, b: Health) -> Health {
    let rank = |h: Health| match h {
        Health::Passing => 0,
        Health::Warning => 1,
        Health::Critical => 2,
        Health::Maintenance => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

#[cfg(test)]
mod tests;
