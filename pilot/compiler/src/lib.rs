//! Pilot's compiler: the service model in, the xDS resources of one proxy out, as pure functions.
//!
//! What is emitted, field by field, is the contract in `pilot/XDS.md`. The compiler does no I/O
//! and keeps no state, so its output is a function of the catalog and the proxy id alone: golden
//! files pin it and property tests check its invariants.

mod emit;
mod resources;

use std::time::Duration;

use rigging_mesh_model::{Catalog, Protocol, ProxyId, ServiceName};

pub use resources::{ProxyResources, VersionedResources};

/// Route timeout for HTTP services: Envoy's default, so a stock Envoy and our proxy agree.
pub const DEFAULT_HTTP_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

/// Name of the inbound cluster that leads to the local application.
pub const LOCAL_APP_CLUSTER: &str = "local_app";

/// Why a proxy's resources cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    #[error("proxy {0} is not in any registry")]
    UnknownProxy(ProxyId),
}

/// Compiles everything proxy `id` needs: one inbound listener for its own service, and one
/// outbound listener, cluster and endpoint set per upstream it declares (and nothing else).
pub fn compile(catalog: &Catalog, id: &ProxyId) -> Result<ProxyResources, CompileError> {
    let proxy = catalog
        .proxy(id)
        .ok_or_else(|| CompileError::UnknownProxy(id.clone()))?;
    let own_protocol = protocol_of(catalog, &proxy.service);
    let mut out = ProxyResources::default();

    out.listeners
        .push(emit::inbound_listener(proxy, own_protocol));
    if own_protocol.is_http() {
        out.routes.push(emit::route_config(
            &emit::inbound_route_name(&proxy.service),
            LOCAL_APP_CLUSTER,
            own_protocol,
        ));
    }
    out.clusters
        .push(emit::local_app_cluster(proxy, own_protocol));

    for up in &proxy.upstreams {
        let service = catalog.service(&up.service);
        let protocol = protocol_of(catalog, &up.service);
        out.listeners.push(emit::outbound_listener(up, protocol));
        if protocol.is_http() {
            out.routes.push(emit::route_config(
                up.service.as_str(),
                up.service.as_str(),
                protocol,
            ));
        }
        out.clusters
            .push(emit::eds_cluster(&up.service, service, protocol));
        out.endpoints
            .push(emit::load_assignment(&up.service, service));
    }
    out.sort();
    Ok(out)
}

/// A service missing from the catalog is compiled as TCP with no endpoints: calls to it fail
/// fast, and it starts working when a registry publishes it.
fn protocol_of(catalog: &Catalog, name: &ServiceName) -> Protocol {
    catalog
        .service(name)
        .map(|s| s.protocol)
        .unwrap_or_default()
}
