//! The immutable runtime view of one configuration, built on apply and swapped atomically.

use std::collections::HashMap;
use std::sync::Arc;

use rigging_proxy_config::{Discovery, Endpoint, ProxyConfig};
use rigging_proxy_tls::MeshTls;

use crate::cluster::ClusterState;
use crate::error::ApplyError;
use crate::metrics::Metrics;
use crate::routing::RouteTable;

/// What the traffic path reads: route tables and clusters by name.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub routes: HashMap<String, Arc<RouteTable>>,
    pub clusters: HashMap<String, Arc<ClusterState>>,
}

impl Snapshot {
    /// Builds the snapshot of `next`. A cluster whose definition and endpoints are unchanged
    /// keeps its state (and so its in-flight counts and round-robin position); a cluster whose
    /// protocol and connect timeout are unchanged keeps its connection pool.
    pub fn build(
        prev_config: &ProxyConfig,
        prev: &Snapshot,
        next: &ProxyConfig,
        metrics: &Metrics,
        mesh: Option<&MeshTls>,
    ) -> Result<Self, ApplyError> {
        let mut clusters = HashMap::with_capacity(next.clusters.len());
        for (name, def) in &next.clusters {
            let endpoints = endpoints_of(next, name);
            let old = prev.clusters.get(name);
            let unchanged = prev_config.clusters.get(name) == Some(def)
                && endpoints_of(prev_config, name) == endpoints;
            let state = match old {
                Some(old) if unchanged => Arc::clone(old),
                _ => {
                    let cluster_metrics = match old {
                        Some(o) => o.metrics.clone(),
                        None => metrics.cluster(name),
                    };
                    let state =
                        ClusterState::new(def, endpoints, old.map(|o| &**o), cluster_metrics, mesh)
                            .map_err(|source| ApplyError::Tls {
                                resource: format!("cluster {name:?}"),
                                source,
                            })?;
                    Arc::new(state)
                }
            };
            clusters.insert(name.clone(), state);
        }
        let routes = next
            .routes
            .iter()
            .map(|(name, def)| {
                let table = RouteTable::new(def, |c| clusters.get(c).cloned());
                (name.clone(), Arc::new(table))
            })
            .collect();
        Ok(Self { routes, clusters })
    }
}

/// The endpoints a cluster runs on: inline for static clusters, else its load assignment (none
/// until EDS delivers it).
pub(crate) fn endpoints_of<'a>(config: &'a ProxyConfig, cluster: &str) -> &'a [Endpoint] {
    match config.clusters.get(cluster).map(|c| &c.discovery) {
        Some(Discovery::Static(endpoints)) => endpoints,
        Some(Discovery::Eds) => config
            .endpoints
            .get(cluster)
            .map_or(&[], |e| e.endpoints.as_slice()),
        None => &[],
    }
}
