//! Pilot's compiler: the service model in, the xDS resources of one proxy out, as pure functions.
//!
//! What is emitted, field by field, is the contract in `pilot/XDS.md`. The compiler does no I/O
//! and keeps no state, so its output is a function of the catalog, the proxy id and the
//! [`CompileOptions`] alone: golden files pin it and property tests check its invariants.
//!
//! # Config entries
//!
//! With config entries ([`Entries`]), each upstream is compiled from its discovery chain
//! (`rigging-pilot-chain`): routes, one cluster and endpoint set per target, failover
//! priorities, load balancing and circuit breakers. An upstream whose chain is Consul's
//! default one (no router, splitter or resolver for it) is compiled exactly as without
//! entries. The output of an upstream has two parts:
//!
//! * the shared part, [`compile_upstream`]: the same for every caller, so Pilot can build
//!   it once per snapshot;
//! * the caller's part, [`caller_clusters`]: the calling service's `service-defaults`
//!   `UpstreamConfig` (connect timeout, `Limits`, `PassiveHealthCheck`) applied to copies
//!   of the shared clusters. `UpstreamConfig.Protocol` is not applied: the chain's
//!   protocol is the upstream's own.
//!
//! # Gateways
//!
//! A proxy whose `node.id` is `ingress-gateway~<bind ip>~<name>` ([`NodeId`]) is an ingress
//! gateway, compiled by [`compile_ingress`] from the `ingress-gateway` entry `<name>`: its
//! listeners route to the services' shared parts, with the entry's limits on its clusters.
//! One whose `node.id` is `terminating-gateway~<bind ip>~<name>` is a terminating gateway,
//! compiled by [`compile_terminating`]; callers of the services it links reach them through
//! it (with mTLS on).

mod emit;
mod ingress;
mod links;
mod node;
mod resources;
mod security;
mod terminating;
mod upstream;

use std::time::Duration;

use rigging_mesh_model::{Catalog, MutualTlsMode, Protocol, Proxy, ProxyId, ServiceName, Upstream};
use rigging_mesh_xds::Listener;

pub use emit::chain_cluster::{RETRY_BUDGET_MIN_CONCURRENCY, RETRY_BUDGET_PERCENT};
pub use ingress::{IngressResources, compile_ingress, compile_ingress_with};
pub use node::{
    INGRESS_GATEWAY_KIND, IngressNode, NODE_ID_SEPARATOR, NodeId, NodeIdError,
    TERMINATING_GATEWAY_KIND, TerminatingNode,
};
pub use resources::{ProxyResources, VersionedResources, combine_version, content_hash};
pub use rigging_pilot_chain::{ChainError, Entries};
pub use security::{CompileOptions, DEFAULT_NAMESPACE, MeshSecurity, SecurityError};
pub use terminating::{TerminatingResources, compile_terminating};
pub use upstream::{DEFAULT_DATACENTER, UpstreamResources, caller_clusters, compile_upstream};

/// Route timeout for HTTP services: Envoy's default, so a stock Envoy and our proxy agree.
pub const DEFAULT_HTTP_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Name of the inbound cluster that leads to the local application.
pub const LOCAL_APP_CLUSTER: &str = "local_app";

/// Why a proxy's resources cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// The proxy id is in no registry's catalog.
    #[error("proxy {0} is not in any registry")]
    UnknownProxy(ProxyId),
    /// No `ingress-gateway` config entry has the gateway's name.
    #[error("ingress gateway {0} has no ingress-gateway config entry")]
    UnknownGateway(ServiceName),
    /// No `terminating-gateway` config entry has the gateway's name.
    #[error("terminating gateway {0} has no terminating-gateway config entry")]
    UnknownTerminatingGateway(ServiceName),
    /// A terminating gateway in a mesh without mTLS: nothing would tell it which service a
    /// caller wants.
    #[error(
        "terminating gateway {0}: the mesh runs without mTLS, and a terminating gateway tells the services apart by the SNI of the callers' mTLS (start Pilot with Citadel)"
    )]
    GatewayNeedsMtls(ServiceName),
    /// The gateway's service has no single instance at the gateway's bind address.
    #[error(
        "terminating gateway {name}: its listener port is its registered instance's at {bind}, and the registry has {}",
        match ports.as_slice() {
            [] => "none".to_owned(),
            p => format!("several: ports {p:?}"),
        }
    )]
    GatewayNotRegistered {
        name: ServiceName,
        bind: std::net::IpAddr,
        ports: Vec<u16>,
    },
}

/// Compiles everything proxy `id` needs: one inbound listener for its own service, and per
/// upstream it declares (and nothing else) an outbound listener and the upstream's route,
/// clusters and endpoint sets, from `entries` where they say more than the catalog.
pub fn compile(
    catalog: &Catalog,
    entries: &Entries,
    id: &ProxyId,
    opts: &CompileOptions,
) -> Result<ProxyResources, CompileError> {
    let proxy = catalog
        .proxy(id)
        .ok_or_else(|| CompileError::UnknownProxy(id.clone()))?;
    let mut out = compile_own(catalog, proxy, opts);
    for up in &proxy.upstreams {
        let shared = compile_upstream(catalog, entries, &up.service, opts);
        out.listeners.push(outbound_listener_for(up, &shared));
        out.clusters.extend(caller_clusters(
            entries,
            &proxy.service,
            &up.service,
            &shared,
        ));
        out.routes.extend(shared.route);
        out.endpoints.extend(shared.endpoints);
    }
    out.sort();
    Ok(out)
}

/// What a proxy needs of itself: the inbound listener, its route (HTTP services) and the
/// `local_app` cluster, and for each exposed path its plaintext listener, route and cluster. Depends only on the proxy, its own service's protocol and (with
/// security) its service's mutual TLS mode; `local_app` is always plaintext.
pub fn compile_own(catalog: &Catalog, proxy: &Proxy, opts: &CompileOptions) -> ProxyResources {
    let own_protocol = protocol_of(catalog, &proxy.service);
    let mtls = opts
        .security
        .as_ref()
        .map(|_| mutual_tls_mode_of(catalog, &proxy.service));
    let mut out = ProxyResources::default();
    out.listeners
        .push(emit::inbound_listener(proxy, own_protocol, mtls));
    if own_protocol.is_http() {
        out.routes.push(emit::route_config(
            &emit::inbound_route_name(&proxy.service),
            LOCAL_APP_CLUSTER,
            own_protocol,
        ));
    }
    out.clusters
        .push(emit::local_app_cluster(proxy, own_protocol));
    for p in &proxy.expose {
        out.listeners.push(emit::expose::expose_listener(proxy, p));
        out.routes.push(emit::expose::expose_route(p));
        out.clusters.push(emit::expose::expose_cluster(proxy, p));
    }
    out
}

/// The listener on `127.0.0.1:<local_bind_port>` through which a proxy's application calls `up`.
/// Always plaintext: only the local application reaches it; the cluster behind it does mTLS.
/// This is the listener of an upstream without config entries; see [`outbound_listener_for`].
pub fn outbound_listener(up: &Upstream, protocol: Protocol) -> Listener {
    emit::outbound_listener(up, protocol, up.service.as_str(), false)
}

/// The outbound listener of `up` for its compiled resources: a TCP upstream goes to its
/// chain's target cluster, and an HTTP one whose routes inject faults gets the fault filter.
pub fn outbound_listener_for(up: &Upstream, shared: &UpstreamResources) -> Listener {
    emit::outbound_listener(up, shared.protocol, &shared.tcp_cluster, shared.uses_fault)
}

/// A service missing from the catalog is compiled as TCP with no endpoints: calls to it fail
/// fast, and it starts working when a registry publishes it.
fn protocol_of(catalog: &Catalog, name: &ServiceName) -> Protocol {
    catalog
        .service(name)
        .map(|s| s.protocol)
        .unwrap_or_default()
}

/// The service's mutual TLS mode; a service missing from the catalog is strict, the default.
fn mutual_tls_mode_of(catalog: &Catalog, name: &ServiceName) -> MutualTlsMode {
    catalog
        .service(name)
        .map(|s| s.mutual_tls_mode)
        .unwrap_or_default()
}
