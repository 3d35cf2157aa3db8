//! The task that keeps one merged catalog over every configured registry.

use std::sync::Arc;

use rigging_mesh_model::Catalog;
use tokio::sync::watch;

use crate::{MergeWarning, Registry, RegistrySnapshot, merge};

/// The merge of every registry at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedSnapshot {
    /// Starts at 1 and grows by one each time the merged catalog changes.
    pub version: u64,
    pub catalog: Catalog,
}

/// Keeps the merge of several registries current; see [`MergedCatalog::spawn`].
#[derive(Debug)]
#[non_exhaustive]
pub struct MergedCatalog;

impl MergedCatalog {
    /// Merges `registries` (in this order) now, then spawns a task that re-merges
    /// whenever any of them publishes, and publishes a new version only when the
    /// merged catalog changed. Conflicts are logged as warnings when they appear.
    ///
    /// The task owns the registries, so they keep publishing as long as anyone
    /// reads the merge; it ends when every receiver is dropped, or when every
    /// registry has stopped publishing (the last merge then stays readable).
    /// Must be called inside a tokio runtime.
    pub fn spawn(registries: Vec<Arc<dyn Registry>>) -> watch::Receiver<Arc<MergedSnapshot>> {
        let mut live: Vec<(usize, watch::Receiver<Arc<RegistrySnapshot>>)> = registries
            .iter()
            .map(|r| r.subscribe())
            .enumerate()
            .collect();
        let latest: Vec<Arc<RegistrySnapshot>> = live
            .iter_mut()
            .map(|(_, rx)| rx.borrow_and_update().clone())
            .collect();
        let (catalog, warnings) = merge(&latest);
        log_warnings(&warnings);
        let (tx, rx) = watch::channel(Arc::new(MergedSnapshot {
            version: 1,
            catalog,
        }));
        tokio::spawn(run(registries, live, latest, warnings, tx));
        rx
    }
}

async fn run(
    // held so that registries which stop when dropped (file watchers, API pollers) live as long as the merge
    _registries: Vec<Arc<dyn Registry>>,
    mut live: Vec<(usize, watch::Receiver<Arc<RegistrySnapshot>>)>,
    mut latest: Vec<Arc<RegistrySnapshot>>,
    mut warnings: Vec<MergeWarning>,
    tx: watch::Sender<Arc<MergedSnapshot>>,
) {
    loop {
        if live.is_empty() {
            tracing::debug!("every registry is gone; the merged catalog stays as it is");
            return;
        }
        let (changed, index) = {
            let any =
                futures::future::select_all(live.iter_mut().map(|(_, rx)| Box::pin(rx.changed())));
            tokio::select! {
                (res, index, _) = any => (res, index),
                () = tx.closed() => return,
            }
        };
        if changed.is_err() {
            let (gone, _) = live.remove(index);
            tracing::warn!(
                registry = %latest[gone].registry,
                "registry stopped publishing; keeping its last snapshot"
            );
        }
        // read every registry, so that changes arriving together cost one merge
        for (i, rx) in &mut live {
            latest[*i] = rx.borrow_and_update().clone();
        }
        let (catalog, new_warnings) = merge(&latest);
        if new_warnings != warnings {
            log_warnings(&new_warnings);
            warnings = new_warnings;
        }
        tx.send_if_modified(|current| {
            if current.catalog == catalog {
                return false;
            }
            let version = current.version + 1;
            tracing::debug!(version, "merged catalog changed");
            *current = Arc::new(MergedSnapshot { version, catalog });
            true
        });
    }
}

fn log_warnings(warnings: &[MergeWarning]) {
    for w in warnings {
        tracing::warn!("{w}");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rigging_mesh_model::{
        Endpoint, Health, Locality, META_REGISTRY, Protocol, Service, ServiceName,
    };

    use super::*;
    use crate::StaticRegistry;

    fn catalog(protocol: Protocol, ports: &[u16]) -> Catalog {
        let name = ServiceName::new("api").unwrap();
        let mut s = Service::new(name.clone(), protocol);
        s.endpoints = ports
            .iter()
            .map(|p| Endpoint {
                instance: format!("api-{p}"),
                address: ([127, 0, 0, 1], *p).into(),
                health: Health::Passing,
                locality: Locality::default(),
                metadata: Default::default(),
                sidecar: false,
                tags: Vec::new(),
            })
            .collect();
        let mut c = Catalog::default();
        c.services.insert(name, s);
        c
    }

    async fn next(rx: &mut watch::Receiver<Arc<MergedSnapshot>>) -> Arc<MergedSnapshot> {
        tokio::time::timeout(Duration::from_secs(1), rx.changed())
            .await
            .expect("a new merged snapshot within 1s")
            .unwrap();
        rx.borrow_and_update().clone()
    }

    #[tokio::test]
    async fn remerges_and_bumps_only_on_change() {
        let a = Arc::new(StaticRegistry::new("a", catalog(Protocol::Http, &[1])));
        let b = Arc::new(StaticRegistry::new("b", catalog(Protocol::Http, &[2])));
        let mut rx = MergedCatalog::spawn(vec![a.clone(), b.clone()]);
        let first = rx.borrow_and_update().clone();
        assert_eq!(first.version, 1);
        let api = &first.catalog.services[&ServiceName::new("api").unwrap()];
        assert_eq!(api.endpoints.len(), 2);
        assert_eq!(api.endpoints[1].metadata[META_REGISTRY], "b");

        // b changes, but a wins the protocol: the merged catalog is the same
        assert_eq!(b.publish(catalog(Protocol::Grpc, &[2])), 2);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!rx.has_changed().unwrap());

        assert_eq!(a.publish(catalog(Protocol::Http, &[1, 3])), 2);
        let snap = next(&mut rx).await;
        assert_eq!(snap.version, 2);
        let api = &snap.catalog.services[&ServiceName::new("api").unwrap()];
        assert_eq!(api.endpoints.len(), 3);
    }

    #[tokio::test]
    async fn the_merge_keeps_registries_alive() {
        let a = Arc::new(StaticRegistry::new("a", catalog(Protocol::Http, &[1])));
        let b = Arc::new(StaticRegistry::new("b", catalog(Protocol::Http, &[2])));
        let mut rx = MergedCatalog::spawn(vec![a.clone(), b]);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // `b` has no other owner, yet the channel stays open
        assert!(!rx.has_changed().unwrap());
        a.publish(catalog(Protocol::Http, &[1, 5]));
        assert_eq!(next(&mut rx).await.version, 2);
    }
}
