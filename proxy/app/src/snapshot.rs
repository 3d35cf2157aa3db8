//! The immutable runtime view of one configuration, built on apply and swapped atomically.

use std::collections::HashMap;
use std::sync::Arc;

use rigging_proxy_config::{Discovery, Endpoint, ProxyConfig};
use rigging_proxy_tls::MeshTls;

use crate::cluster::{ClusterError, ClusterState};
use crate::error::ApplyError;
use crate::metrics::Metrics;
use crate::routing::RouteTable;

/// Maps by resource name. Every request looks its route table up by name: hashed with
/// foldhash, not the standard library's SipHash (190 instructions a request for a name of a
/// dozen bytes), as the names are Pilot's, not an attacker's.
pub(crate) type ByName<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// What the traffic path reads: route tables and clusters by name.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub routes: ByName<Arc<RouteTable>>,
    pub clusters: ByName<Arc<ClusterState>>,
}

impl Snapshot {
    /// Builds the snapshot of `next`. A cluster whose definition and endpoints are unchanged
    /// keeps its state (and so its in-flight counts and round-robin position); a cluster whose
    /// protocol, connect timeout and breaker limits are unchanged keeps its connection pool; a
    /// cluster of the same name keeps its breaker counts, retry budget and outlier-detection
    /// state when their settings are unchanged. The replaced states are retired once the new
    /// snapshot is built (their outlier timers stop).
    pub fn build(
        prev_config: &ProxyConfig,
        prev: &Snapshot,
        next: &ProxyConfig,
        metrics: &Metrics,
        mesh: Option<&MeshTls>,
    ) -> Result<Self, ApplyError> {
        let mut clusters =
            ByName::with_capacity_and_hasher(next.clusters.len(), Default::default());
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
                    let resource = format!("cluster {name:?}");
                    let state =
                        ClusterState::new(def, endpoints, old.map(|o| &**o), cluster_metrics, mesh)
                            .map_err(|e| match e {
                                ClusterError::Tls(source) => ApplyError::Tls { resource, source },
                                ClusterError::Policy(source) => {
                                    ApplyError::Balancer { resource, source }
                                }
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
        for (name, old) in &prev.clusters {
            match clusters.get(name) {
                Some(new) if Arc::ptr_eq(new, old) => {}
                Some(_) => old.retire(),
                None => {
                    old.retire();
                    old.metrics.ejections_active.set(0);
                }
            }
        }
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
