//! Pilot's compiler: the service model in, the xDS resources of one proxy out, as pure functions.
//!
//! What is emitted, field by field, is the contract in `pilot/XDS.md`. The compiler does no I/O
//! and keeps no state, so its output is a function of the catalog, the proxy id and the
//! [`CompileOptions`] alone: golden files pin it and property tests check its invariants.

mod emit;
mod resources;
mod security;

use std::time::Duration;

use rigging_mesh_model::{Catalog, MutualTlsMode, Protocol, Proxy, ProxyId, ServiceName, Upstream};
use rigging_mesh_xds::{Cluster, ClusterLoadAssignment, Listener, RouteConfiguration};

pub use resources::{ProxyResources, VersionedResources, combine_version, content_hash};
pub use security::{CompileOptions, DEFAULT_NAMESPACE, MeshSecurity, SecurityError};

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
}

/// Compiles everything proxy `id` needs: one inbound listener for its own service, and one
/// outbound listener, cluster and endpoint set per upstream it declares (and nothing else).
pub fn compile(
    catalog: &Catalog,
    id: &ProxyId,
    opts: &CompileOptions,
) -> Result<ProxyResources, CompileError> {
    let proxy = catalog
        .proxy(id)
        .ok_or_else(|| CompileError::UnknownProxy(id.clone()))?;
    let mut out = compile_own(catalog, proxy, opts);
    for up in &proxy.upstreams {
        let shared = compile_upstream(catalog, &up.service, opts);
        out.listeners.push(outbound_listener(up, shared.protocol));
        out.routes.extend(shared.route);
        out.clusters.push(shared.cluster);
        out.endpoints.push(shared.endpoints);
    }
    out.sort();
    Ok(out)
}

/// What a proxy needs of itself: the inbound listener, its route (HTTP services) and the
/// `local_app` cluster. Depends only on the proxy, its own service's protocol and (with
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
    out
}

/// The resources of one upstream service that every proxy calling it shares: the same route,
/// cluster and endpoints whoever the caller is. Only the outbound listener (its bind address)
/// differs per proxy; see [`outbound_listener`].
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamResources {
    /// The protocol the service speaks (TCP when no registry knows it).
    pub protocol: Protocol,
    /// For HTTP services: the route configuration named after the service.
    pub route: Option<RouteConfiguration>,
    /// The EDS cluster named after the service; with security, mTLS to its SPIFFE ID.
    pub cluster: Cluster,
    /// The service's endpoints; with security, only its sidecars.
    pub endpoints: ClusterLoadAssignment,
}

/// Compiles the shared resources of upstream service `name`: see [`UpstreamResources`].
pub fn compile_upstream(
    catalog: &Catalog,
    name: &ServiceName,
    opts: &CompileOptions,
) -> UpstreamResources {
    let service = catalog.service(name);
    let protocol = protocol_of(catalog, name);
    let security = opts.security.as_ref();
    UpstreamResources {
        protocol,
        route: protocol
            .is_http()
            .then(|| emit::route_config(name.as_str(), name.as_str(), protocol)),
        cluster: emit::eds_cluster(name, service, protocol, security),
        endpoints: emit::load_assignment(name, service, security.is_some()),
    }
}

/// The listener on `127.0.0.1:<local_bind_port>` through which a proxy's application calls `up`.
/// Always plaintext: only the local application reaches it; the cluster behind it does mTLS.
pub fn outbound_listener(up: &Upstream, protocol: Protocol) -> Listener {
    emit::outbound_listener(up, protocol)
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
