//! Folds bursts of catalog changes into numbered snapshots.

use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_model::Catalog;
use rigging_pilot_compiler::CompileOptions;

use crate::cache::Shared;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One debounced catalog, numbered from 1 in the order Pilot saw them.
#[derive(Debug)]
pub struct Snapshot {
    pub version: u64,
    pub catalog: Arc<Catalog>,
    /// Every service packed once as an upstream, for all the streams to share.
    pub(crate) shared: Shared,
}

impl Snapshot {
    pub(crate) fn new(version: u64, catalog: Arc<Catalog>, opts: Arc<CompileOptions>) -> Self {
        let shared = Shared::build(&catalog, opts);
        Self {
            version,
            catalog,
            shared,
        }
    }
}

/// Publishes a snapshot once `quiet` has passed with no change, or `max` after the first
/// change of a burst, whichever comes first.
pub(crate) fn spawn(
    mut input: watch::Receiver<Arc<Catalog>>,
    quiet: Duration,
    max: Duration,
    opts: Arc<CompileOptions>,
) -> (watch::Receiver<Arc<Snapshot>>, JoinHandle<()>) {
    let first = input.borrow_and_update().clone();
    let (tx, rx) = watch::channel(Arc::new(Snapshot::new(1, first, opts.clone())));
    let task = tokio::spawn(async move {
        let mut version = 1;
        while input.changed().await.is_ok() {
            let burst_end = Instant::now() + max;
            loop {
                let quiet_end = (Instant::now() + quiet).min(burst_end);
                tokio::select! {
                    changed = input.changed() => if changed.is_err() { break },
                    () = tokio::time::sleep_until(quiet_end) => break,
                }
                if Instant::now() >= burst_end {
                    break;
                }
            }
            let catalog = input.borrow_and_update().clone();
            if *catalog == *tx.borrow().catalog {
                continue;
            }
            version += 1;
            tracing::debug!(version, "catalog changed");
            if tx
                .send(Arc::new(Snapshot::new(version, catalog, opts.clone())))
                .is_err()
            {
                return;
            }
        }
    });
    (rx, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigging_mesh_model::{Protocol, Service, ServiceName};

    fn with_service(name: &str) -> Arc<Catalog> {
        let mut c = Catalog::default();
        let n = ServiceName::new(name).unwrap();
        c.services
            .insert(n.clone(), Service::new(n, Protocol::Http));
        Arc::new(c)
    }

    #[tokio::test(start_paused = true)]
    async fn burst_becomes_one_snapshot() {
        let (tx, rx) = watch::channel(Arc::new(Catalog::default()));
        let (mut out, _task) = spawn(
            rx,
            Duration::from_millis(100),
            Duration::from_secs(1),
            Arc::default(),
        );
        assert_eq!(out.borrow_and_update().version, 1);
        for name in ["a", "b", "c", "d"] {
            tx.send(with_service(name)).unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        out.changed().await.unwrap();
        let snap = out.borrow_and_update().clone();
        assert_eq!(snap.version, 2);
        assert!(
            snap.catalog
                .services
                .contains_key(&ServiceName::new("d").unwrap())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn endless_burst_is_cut_at_max() {
        let (tx, rx) = watch::channel(Arc::new(Catalog::default()));
        let (mut out, _task) = spawn(
            rx,
            Duration::from_millis(100),
            Duration::from_millis(500),
            Arc::default(),
        );
        let start = Instant::now();
        let writer = tokio::spawn(async move {
            for i in 0..100 {
                tx.send(with_service(&format!("s{i}"))).unwrap();
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        out.changed().await.unwrap();
        assert!(
            start.elapsed() <= Duration::from_millis(600),
            "{:?}",
            start.elapsed()
        );
        writer.abort();
    }

    #[tokio::test(start_paused = true)]
    async fn unchanged_catalog_is_not_republished() {
        let (tx, rx) = watch::channel(with_service("a"));
        let (mut out, _task) = spawn(
            rx,
            Duration::from_millis(10),
            Duration::from_millis(50),
            Arc::default(),
        );
        out.borrow_and_update();
        tx.send(with_service("a")).unwrap();
        let r = tokio::time::timeout(Duration::from_millis(500), out.changed()).await;
        assert!(r.is_err(), "an equal catalog must not make a new snapshot");
    }
}
