//! The registry of subscriptions: one per (cluster, resource), started on first use, shared
//! while any handle on it lives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use envoy_types::pb::envoy::config::core::v3::{Node, node};
use tokio::sync::watch;
use tracing::debug;

use crate::subscription::Subscription;
use crate::{Installed, SdsCertificate, SdsClusters, SdsError};

type Current = watch::Sender<Option<Arc<Installed>>>;

/// The proxy's SDS client: the servers it knows and the subscriptions it runs. Cheap to clone.
///
/// A subscription stops when the last [`SdsCertificate`] on it is dropped (asking again starts
/// a new one, seeded with the last certificate), and every subscription stops when the last
/// clone of the `Sds` is dropped (handles then keep their last certificate).
#[derive(Clone, Debug)]
pub struct Sds {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    clusters: SdsClusters,
    node: Node,
    /// By (cluster, resource): the sending side of each subscription's certificate, which
    /// counts the handles on it and keeps its last certificate.
    subscriptions: Mutex<HashMap<(String, String), Current>>,
    /// Never sent on: its drop, with the last [`Sds`], ends every subscription task.
    shutdown: watch::Sender<()>,
}

impl Sds {
    /// A client for `clusters` that presents itself as `node_id` of `node_cluster` (the
    /// gateway's proxy id and service), as Envoy's `node` does.
    pub fn new(clusters: SdsClusters, node_id: String, node_cluster: String) -> Self {
        let node = Node {
            id: node_id,
            cluster: node_cluster,
            user_agent_name: "rigging".to_owned(),
            user_agent_version_type: Some(node::UserAgentVersionType::UserAgentVersion(
                env!("CARGO_PKG_VERSION").to_owned(),
            )),
            ..Default::default()
        };
        Self {
            inner: Arc::new(Inner {
                clusters,
                node,
                subscriptions: Mutex::new(HashMap::new()),
                shutdown: watch::Sender::new(()),
            }),
        }
    }

    pub fn clusters(&self) -> &SdsClusters {
        &self.inner.clusters
    }

    /// The certificate `resource` from the SDS server `cluster`. The first call for a pair
    /// starts its subscription on the current tokio runtime; later calls share it.
    pub fn certificate(&self, cluster: &str, resource: &str) -> Result<SdsCertificate, SdsError> {
        let Some(endpoint) = self.inner.clusters.get(cluster) else {
            return Err(SdsError::UnknownCluster {
                cluster: cluster.to_owned(),
                known: self.inner.clusters.names(),
            });
        };
        if resource.is_empty() {
            return Err(SdsError::EmptyResource {
                cluster: cluster.to_owned(),
            });
        }
        let key = (cluster.to_owned(), resource.to_owned());
        // A poisoned lock only means a panic elsewhere; the map itself is always consistent.
        let mut subscriptions = self
            .inner
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = match subscriptions.get(&key) {
            Some(current) if current.receiver_count() > 0 => {
                return Ok(SdsCertificate::new(cluster, resource, current.subscribe()));
            }
            Some(stopped) => stopped.borrow().clone(),
            None => None,
        };
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| SdsError::NoRuntime)?;
        let (current, rx) = watch::channel(previous);
        let subscription = Subscription::new(
            cluster,
            resource,
            endpoint.clone(),
            self.inner.node.clone(),
            current.clone(),
        );
        runtime.spawn(subscription.run(self.inner.shutdown.subscribe()));
        debug!(cluster, resource, %endpoint, "SDS subscription started");
        subscriptions.insert(key, current);
        Ok(SdsCertificate::new(cluster, resource, rx))
    }
}
