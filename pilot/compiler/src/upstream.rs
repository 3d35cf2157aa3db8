//! One upstream service's resources: the part every caller shares, compiled from the
//! service's discovery chain, and the part that depends on the caller.

use rigging_mesh_config_entries::Protocol as EntryProtocol;
use rigging_mesh_model::{Catalog, Protocol, ServiceName};
use rigging_mesh_xds::{Cluster, ClusterLoadAssignment, RouteConfiguration};
use rigging_pilot_chain::{ChainError, ChainRequest, CompiledChain, Entries, compile_chain};

use crate::emit::chain_cluster::{
    circuit_breakers, connect_timeout, outlier_detection, target_cluster, target_load_assignment,
};
use crate::emit::chain_route::chain_route_config;
use crate::links::Links;
use crate::{CompileOptions, emit, protocol_of};

/// The datacenter chains are compiled in when the mesh has no security (and so no
/// datacenter) configured: Consul's default datacenter name.
pub const DEFAULT_DATACENTER: &str = "dc1";

/// The resources of one upstream service that every proxy calling it shares: the same route,
/// clusters and endpoints whoever the caller is. The outbound listener (its bind address)
/// and the caller's `UpstreamConfig` ([`caller_clusters`]) differ per proxy.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamResources {
    /// The protocol of the service's chain: config entries', else the registry's (TCP when
    /// no registry knows the service).
    pub protocol: Protocol,
    /// For HTTP services: the route configuration named after the service.
    pub route: Option<RouteConfiguration>,
    /// One EDS cluster per target of the chain (one, named after the service, without
    /// entries); with security, mTLS to the SPIFFE IDs of the services it may reach.
    pub clusters: Vec<Cluster>,
    /// One endpoint set per cluster, same names; with security, only sidecars.
    pub endpoints: Vec<ClusterLoadAssignment>,
    /// The cluster a TCP listener sends connections to: the chain's target.
    pub tcp_cluster: String,
    /// Whether a route injects faults: the listener then needs the fault filter.
    pub uses_fault: bool,
    /// Why the chain could not be compiled (the entries break one of Consul's rules, which
    /// `validate_set` also reports); the service is then compiled as without entries.
    pub chain_error: Option<ChainError>,
}

/// Compiles the shared resources of upstream service `name`: see [`UpstreamResources`].
pub fn compile_upstream(
    catalog: &Catalog,
    entries: &Entries,
    name: &ServiceName,
    opts: &CompileOptions,
) -> UpstreamResources {
    let registry_protocol = protocol_of(catalog, name);
    let links = Links::new(catalog, entries, opts.security.is_some());
    if entries.is_empty() {
        return plain(catalog, &links, name, registry_protocol, opts, None);
    }
    let datacenter = opts
        .security
        .as_ref()
        .map_or(DEFAULT_DATACENTER, |s| s.datacenter());
    let mut req = ChainRequest::new(name.as_str(), datacenter);
    req.default_protocol = entry_protocol(registry_protocol);
    match compile_chain(entries, &req) {
        Ok(chain) if chain.default => plain(
            catalog,
            &links,
            name,
            model_protocol(&chain.protocol),
            opts,
            None,
        ),
        Ok(chain) => from_chain(catalog, &links, name, &chain, opts),
        Err(e) => plain(catalog, &links, name, registry_protocol, opts, Some(e)),
    }
}

/// `caller`'s clusters for `upstream`: the shared ones with the caller's `service-defaults`
/// `UpstreamConfig` applied (connect timeout, circuit-breaker limits with the retry budget,
/// outlier detection), or the shared ones unchanged when it has none.
pub fn caller_clusters(
    entries: &Entries,
    caller: &ServiceName,
    upstream: &ServiceName,
    shared: &UpstreamResources,
) -> Vec<Cluster> {
    let settings = entries.upstream_config(caller.as_str(), upstream.as_str());
    if settings.is_empty() {
        return shared.clusters.clone();
    }
    shared
        .clusters
        .iter()
        .cloned()
        .map(|mut c| {
            if let Some(t) = settings.connect_timeout {
                c.connect_timeout = Some(connect_timeout(t));
            }
            if settings.limits.is_some() || c.circuit_breakers.is_none() {
                c.circuit_breakers = Some(circuit_breakers(settings.limits.as_ref()));
            }
            if let Some(p) = &settings.passive_health_check {
                c.outlier_detection = Some(outlier_detection(p));
            }
            c
        })
        .collect()
}

/// The resources of a service without a chain of its own: `pilot/XDS.md` before issue 5;
/// a service linked to a terminating gateway goes to the gateway's instances.
fn plain(
    catalog: &Catalog,
    links: &Links<'_>,
    name: &ServiceName,
    protocol: Protocol,
    opts: &CompileOptions,
    chain_error: Option<ChainError>,
) -> UpstreamResources {
    let service = catalog.service(name);
    let security = opts.security.as_ref();
    let (cluster, endpoints) = match (links.gateway_of(name.as_str()), security) {
        (Some(gateway), Some(sec)) => (
            emit::gateway_cluster(name, service, protocol, sec, &gateway),
            emit::load_assignment(name, catalog.service(&gateway), false),
        ),
        _ => (
            emit::eds_cluster(name, service, protocol, security),
            emit::load_assignment(name, service, security.is_some()),
        ),
    };
    UpstreamResources {
        protocol,
        route: protocol
            .is_http()
            .then(|| emit::route_config(name.as_str(), name.as_str(), protocol)),
        clusters: vec![cluster],
        endpoints: vec![endpoints],
        tcp_cluster: name.as_str().to_owned(),
        uses_fault: false,
        chain_error,
    }
}

fn from_chain(
    catalog: &Catalog,
    links: &Links<'_>,
    name: &ServiceName,
    chain: &CompiledChain,
    opts: &CompileOptions,
) -> UpstreamResources {
    let protocol = model_protocol(&chain.protocol);
    let security = opts.security.as_ref();
    let route = protocol
        .is_http()
        .then(|| chain_route_config(name.as_str(), chain, protocol));
    let clusters = chain
        .targets
        .values()
        .map(|t| target_cluster(catalog, links, chain, t, protocol, security))
        .collect();
    let endpoints = chain
        .targets
        .values()
        .map(|t| target_load_assignment(catalog, links, chain, t, security.is_some()))
        .collect();
    UpstreamResources {
        protocol,
        route,
        clusters,
        endpoints,
        tcp_cluster: chain
            .primary_target()
            .map_or_else(|| name.as_str().to_owned(), |t| t.cluster_name()),
        uses_fault: protocol.is_http() && chain.uses_fault(),
        chain_error: None,
    }
}

fn entry_protocol(p: Protocol) -> EntryProtocol {
    match p {
        Protocol::Tcp => EntryProtocol::Tcp,
        Protocol::Http => EntryProtocol::Http,
        Protocol::Http2 => EntryProtocol::Http2,
        Protocol::Grpc => EntryProtocol::Grpc,
    }
}

/// Protocols Consul treats as tcp are tcp.
pub(crate) fn model_protocol(p: &EntryProtocol) -> Protocol {
    match p {
        EntryProtocol::Http => Protocol::Http,
        EntryProtocol::Http2 => Protocol::Http2,
        EntryProtocol::Grpc => Protocol::Grpc,
        EntryProtocol::Tcp | EntryProtocol::Other(_) => Protocol::Tcp,
    }
}
