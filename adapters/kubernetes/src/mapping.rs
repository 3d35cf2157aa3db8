//! Services and their slices, as reduced by [`crate::objects`], mapped into the model (pure).

use std::collections::{BTreeMap, btree_map::Entry};
use std::net::SocketAddr;

use rigging_mesh_model::{Catalog, Endpoint, Health, Locality, Protocol, Service, ServiceName};

use crate::objects::{EndpointInfo, PortInfo, ServiceInfo, SliceInfo, SlicePortInfo};

/// Names (or numbers) the port a multi-port Service is reached on; default: the first TCP port.
pub const ANNOTATION_SERVICE_PORT: &str = "rigging.io/service-port";
/// Endpoint metadata: the Service's namespace.
pub const META_NAMESPACE: &str = "k8s-namespace";
/// Endpoint metadata: the Kubernetes Service's own name (without a namespace suffix).
pub const META_SERVICE: &str = "k8s-service";
/// Endpoint metadata: the node the endpoint runs on (`nodeName`).
pub const META_NODE: &str = "k8s-node";
/// Endpoint metadata: the pod behind the endpoint (`targetRef`).
pub const META_POD: &str = "k8s-pod";

/// What the mapping needs besides the objects.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Naming<'a> {
    pub primary_namespace: &'a str,
    pub region: &'a str,
}

/// Builds the catalog; the warnings are problems a user should fix (logged when they change).
pub(crate) fn build<'a>(
    naming: Naming<'_>,
    services: impl IntoIterator<Item = &'a ServiceInfo>,
    slices: impl IntoIterator<Item = &'a SliceInfo>,
) -> (Catalog, Vec<String>) {
    let mut by_service: BTreeMap<(&str, &str), Vec<&SliceInfo>> = BTreeMap::new();
    for s in slices {
        by_service
            .entry((s.namespace.as_str(), s.service.as_str()))
            .or_default()
            .push(s);
    }
    let mut catalog = Catalog::default();
    let mut warnings = Vec::new();
    for svc in services {
        let slices = by_service
            .get(&(svc.namespace.as_str(), svc.name.as_str()))
            .map(Vec::as_slice)
            .unwrap_or_default();
        match service(naming, svc, slices) {
            Ok(Some(s)) => {
                catalog.services.insert(s.name.clone(), s);
            }
            Ok(None) => {}
            Err(w) => warnings.push(w),
        }
    }
    (catalog, warnings)
}

fn service(
    naming: Naming<'_>,
    svc: &ServiceInfo,
    slices: &[&SliceInfo],
) -> Result<Option<Service>, String> {
    let Some(port) = chosen_port(svc)? else {
        tracing::debug!(namespace = %svc.namespace, service = %svc.name, "service has no TCP port; left out");
        return Ok(None);
    };
    let model_name = if svc.namespace == naming.primary_namespace {
        svc.name.clone()
    } else {
        format!("{}.{}", svc.name, svc.namespace)
    };
    let name = ServiceName::new(model_name)
        .map_err(|e| format!("service {}/{}: {e}", svc.namespace, svc.name))?;
    let mut slice_protocol = None;
    let mut endpoints: BTreeMap<SocketAddr, (&EndpointInfo, u16)> = BTreeMap::new();
    for slice in slices {
        let Some(sp) = slice_port(port, &slice.ports) else {
            tracing::debug!(slice = %slice.name, port = %port.name, "slice has no matching port");
            continue;
        };
        slice_protocol = slice_protocol.or(sp.app_protocol.as_deref());
        let Some(number) = sp.port else { continue };
        for e in &slice.endpoints {
            let addr = SocketAddr::new(e.address, number);
            match endpoints.entry(addr) {
                Entry::Vacant(v) => {
                    v.insert((e, number));
                }
                // the same endpoint in two slices while they are rebalanced: keep the best view
                Entry::Occupied(mut o) if rank(e) > rank(o.get().0) => {
                    o.insert((e, number));
                }
                Entry::Occupied(_) => {}
            }
        }
    }
    let protocol = protocol(port, slice_protocol);
    let any_ready = endpoints.values().any(|(e, _)| e.ready && !e.terminating);
    let mut service = Service::new(name, protocol);
    service.endpoints = endpoints
        .iter()
        .map(|(addr, (e, _))| endpoint(naming, svc, *addr, e, any_ready))
        .collect();
    service
        .endpoints
        .sort_by(|a, b| (&a.instance, a.address).cmp(&(&b.instance, b.address)));
    Ok(Some(service))
}

/// The annotated port, else the first TCP port; an annotation naming no TCP port is an error.
fn chosen_port(svc: &ServiceInfo) -> Result<Option<&PortInfo>, String> {
    let Some(wanted) = &svc.port_annotation else {
        return Ok(svc.ports.iter().find(|p| p.tcp));
    };
    let wanted = wanted.trim();
    svc.ports
        .iter()
        .find(|p| p.tcp && (p.name == wanted || p.port.to_string() == wanted))
        .map(Some)
        .ok_or_else(|| {
            format!(
                "service {}/{}: annotation {ANNOTATION_SERVICE_PORT}={wanted:?} names no TCP port of the service; service left out",
                svc.namespace, svc.name
            )
        })
}

/// Slices name their ports after the Service's ports; a slice written by hand may use the
/// `targetPort` name instead.
fn slice_port<'a>(port: &PortInfo, ports: &'a [SlicePortInfo]) -> Option<&'a SlicePortInfo> {
    ports
        .iter()
        .find(|sp| sp.tcp && sp.name == port.name)
        .or_else(|| {
            let target = port.target_name.as_deref()?;
            ports.iter().find(|sp| sp.tcp && sp.name == target)
        })
}

fn rank(e: &EndpointInfo) -> u8 {
    u8::from(e.ready) * 2 + u8::from(e.serving)
}

fn endpoint(
    naming: Naming<'_>,
    svc: &ServiceInfo,
    address: SocketAddr,
    e: &EndpointInfo,
    any_ready: bool,
) -> Endpoint {
    let mut metadata = BTreeMap::from([
        (META_NAMESPACE.to_owned(), svc.namespace.clone()),
        (META_SERVICE.to_owned(), svc.name.clone()),
    ]);
    if let Some(node) = &e.node {
        metadata.insert(META_NODE.to_owned(), node.clone());
    }
    if let Some(pod) = &e.pod {
        metadata.insert(META_POD.to_owned(), pod.clone());
    }
    Endpoint {
        instance: e
            .pod
            .clone()
            .or_else(|| e.hostname.clone())
            .unwrap_or_else(|| e.address.to_string()),
        address,
        health: health(e, any_ready),
        locality: Locality {
            region: naming.region.to_owned(),
            zone: e.zone.clone().unwrap_or_default(),
        },
        metadata,
        sidecar: false,
        tags: Vec::new(),
    }
}

/// Kubernetes' conditions as Consul's check states (see the crate docs).
fn health(e: &EndpointInfo, any_ready: bool) -> Health {
    match (e.ready && !e.terminating, e.serving && e.terminating) {
        (true, _) => Health::Passing,
        (false, true) if any_ready => Health::Maintenance,
        (false, true) => Health::Warning,
        (false, false) => Health::Critical,
    }
}

/// `appProtocol` first (the Service port's, else the slice's), then Istio's port-name prefixes.
fn protocol(port: &PortInfo, slice_app_protocol: Option<&str>) -> Protocol {
    if let Some(app) = port.app_protocol.as_deref().or(slice_app_protocol) {
        return match app.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" | "kubernetes.io/h2c" => Protocol::Http2,
            "grpc" => Protocol::Grpc,
            "tcp" => Protocol::Tcp,
            other => {
                tracing::debug!(app_protocol = other, port = %port.name, "unknown appProtocol, using tcp");
                Protocol::Tcp
            }
        };
    }
    let name = port.name.to_ascii_lowercase();
    let prefix = name.split_once('-').map_or(name.as_str(), |(p, _)| p);
    match prefix {
        "http" => Protocol::Http,
        "http2" => Protocol::Http2,
        "grpc" => Protocol::Grpc,
        _ => Protocol::Tcp,
    }
}

#[cfg(test)]
mod tests;
