//! Ingress gateways on the xDS stream: which view of a snapshot a node gets, and a
//! gateway's, compiled from its `ingress-gateway` entry over the snapshot's shared
//! upstreams.
//!
//! A gateway's listeners and route configurations are its own and are packed for each
//! snapshot; its clusters and endpoints are the services' shared ones, reused as packed
//! unless the entry's limits changed a cluster.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use rigging_mesh_xds::{Cluster, ResourceType};
use rigging_pilot_compiler::{
    CompileError, IngressNode, IngressResources, NodeId, ProxyResources, TerminatingResources,
    UpstreamResources, compile_ingress_with, compile_terminating,
};

use crate::Snapshot;
use crate::cache::{Own, Packed, ProxyView, SharedUpstream};

/// A service's shared part as the compiler reads it.
struct Shared(Arc<SharedUpstream>);

impl Deref for Shared {
    type Target = UpstreamResources;

    fn deref(&self) -> &UpstreamResources {
        &self.0.compiled
    }
}

/// The view of `snap` of the proxy `node` names: a sidecar's (its own pieces kept in
/// `own` across snapshots) or a gateway's. A gateway's `notes` (what of its entry is not
/// served) are replaced, and logged when they change.
pub(crate) fn view_of(
    snap: &Snapshot,
    node: &NodeId,
    own: &mut Option<Own>,
    notes: &mut Vec<String>,
) -> Result<ProxyView, CompileError> {
    match node {
        NodeId::Sidecar(id) => snap
            .catalog
            .proxy(id)
            .map(|p| ProxyView::build(&snap.catalog, &snap.shared, p, own))
            .ok_or_else(|| CompileError::UnknownProxy(id.clone())),
        NodeId::Ingress(gateway) => {
            let (view, now) = ingress_view(snap, gateway)?;
            if now != *notes {
                for note in &now {
                    tracing::warn!(proxy = %node, "ingress gateway entry not served in full: {note}");
                }
                *notes = now;
            }
            Ok(view)
        }
        NodeId::Terminating(gateway) => {
            let TerminatingResources {
                resources,
                notes: now,
                ..
            } = compile_terminating(&snap.catalog, &snap.entries, gateway, snap.shared.options())?;
            if now != *notes {
                for note in &now {
                    tracing::warn!(proxy = %node, "terminating gateway entry not served in full: {note}");
                }
                *notes = now;
            }
            Ok(own_view(&resources))
        }
    }
}

/// A view of resources that are all the proxy's own, packed for this snapshot.
fn own_view(resources: &ProxyResources) -> ProxyView {
    ProxyView::from_items(
        resources
            .listeners
            .iter()
            .map(|l| Packed::new(ResourceType::Listener, &l.name, l))
            .collect(),
        resources
            .routes
            .iter()
            .map(|r| Packed::new(ResourceType::Route, &r.name, r))
            .collect(),
        resources
            .clusters
            .iter()
            .map(|c| Packed::new(ResourceType::Cluster, &c.name, c))
            .collect(),
        resources
            .endpoints
            .iter()
            .map(|e| Packed::new(ResourceType::Endpoint, &e.cluster_name, e))
            .collect(),
    )
}

/// Gateway `node`'s view of `snap`, and what of its entry is not served (its notes).
fn ingress_view(
    snap: &Snapshot,
    node: &IngressNode,
) -> Result<(ProxyView, Vec<String>), CompileError> {
    let catalog = &snap.catalog;
    let shared = &snap.shared;
    let IngressResources {
        resources,
        services,
        notes,
    } = compile_ingress_with(catalog, &snap.entries, node, shared.options(), |name| {
        Shared(shared.upstream(catalog, name))
    })?;
    // name → the packed shared cluster and the cluster it was packed from
    let mut clusters_by_name: HashMap<&str, (&Arc<Packed>, &Cluster)> = HashMap::new();
    let mut endpoints_by_name: HashMap<&str, &Arc<Packed>> = HashMap::new();
    let ups: Vec<Arc<SharedUpstream>> = services
        .iter()
        .map(|n| shared.upstream(catalog, n))
        .collect();
    for up in &ups {
        for (p, c) in up.clusters.iter().zip(&up.compiled.clusters) {
            clusters_by_name.insert(p.name.as_str(), (p, c));
        }
        for p in &up.endpoints {
            endpoints_by_name.insert(p.name.as_str(), p);
        }
    }
    let listeners = resources
        .listeners
        .iter()
        .map(|l| Packed::new(ResourceType::Listener, &l.name, l))
        .collect();
    let routes = resources
        .routes
        .iter()
        .map(|r| Packed::new(ResourceType::Route, &r.name, r))
        .collect();
    let clusters = resources
        .clusters
        .iter()
        .map(|c| match clusters_by_name.get(c.name.as_str()) {
            Some((packed, shared)) if *shared == c => Arc::clone(packed),
            _ => Packed::new(ResourceType::Cluster, &c.name, c),
        })
        .collect();
    let endpoints = resources
        .endpoints
        .iter()
        .map(|e| match endpoints_by_name.get(e.cluster_name.as_str()) {
            Some(p) => Arc::clone(p),
            None => Packed::new(ResourceType::Endpoint, &e.cluster_name, e),
        })
        .collect();
    let view = ProxyView::from_items(listeners, routes, clusters, endpoints);
    Ok((view, notes))
}
