//! Folds bursts of catalog and config-entry changes into numbered snapshots.

use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_model::Catalog;
use rigging_pilot_compiler::{CompileOptions, Entries};

use crate::cache::Shared;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// What Pilot compiles from: the merged catalog and the config entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Inputs {
    pub catalog: Arc<Catalog>,
    pub entries: Arc<Entries>,
}

/// One debounced catalog and entry set, numbered from 1 in the order Pilot saw them.
#[derive(Debug)]
pub struct Snapshot {
    pub version: u64,
    pub catalog: Arc<Catalog>,
    pub entries: Arc<Entries>,
    /// Every service packed once as an upstream, for all the streams to share.
    pub(crate) shared: Shared,
}

impl Snapshot {
    pub(crate) fn new(version: u64, inputs: Inputs, opts: Arc<CompileOptions>) -> Self {
        let shared = Shared::with_entries(&inputs.catalog, inputs.entries.clone(), opts);
        Self {
            version,
            catalog: inputs.catalog,
            entries: inputs.entries,
            shared,
        }
    }

    fn inputs(&self) -> Inputs {
        Inputs {
            catalog: self.catalog.clone(),
            entries: self.entries.clone(),
        }
    }
}

/// One `watch` of both inputs: the catalog's, and the entries' when there are any (else
/// always empty).
pub(crate) fn combine(
    mut catalog: watch::Receiver<Arc<Catalog>>,
    entries: Option<watch::Receiver<Arc<Entries>>>,
) -> watch::Receiver<Arc<Inputs>> {
    let Some(mut entries) = entries else {
        let first = Inputs {
            catalog: catalog.borrow_and_update().clone(),
            entries: Arc::default(),
        };
        let (tx, rx) = watch::channel(Arc::new(first));
        tokio::spawn(async move {
            while catalog.changed().await.is_ok() {
                let catalog = catalog.borrow_and_update().clone();
                let next = Inputs {
                    catalog,
                    entries: Arc::default(),
                };
                if tx.send(Arc::new(next)).is_err() {
                    return;
                }
            }
        });
        return rx;
    };
    let first = Inputs {
        catalog: catalog.borrow_and_update().clone(),
        entries: entries.borrow_and_update().clone(),
    };
    let (tx, rx) = watch::channel(Arc::new(first));
    tokio::spawn(async move {
        loop {
            tokio::select! {
                changed = catalog.changed() => if changed.is_err() { return },
                changed = entries.changed() => if changed.is_err() { return },
            }
            let next = Inputs {
                catalog: catalog.borrow_and_update().clone(),
                entries: entries.borrow_and_update().clone(),
            };
            if tx.send(Arc::new(next)).is_err() {
                return;
            }
        }
    });
    rx
}

/// Publishes a snapshot once `quiet` has passed with no change, or `max` after the first
/// change of a burst, whichever comes first.
pub(crate) fn spawn(
    mut input: watch::Receiver<Arc<Inputs>>,
    quiet: Duration,
    max: Duration,
    opts: Arc<CompileOptions>,
) -> (watch::Receiver<Arc<Snapshot>>, JoinHandle<()>) {
    let first = Inputs::clone(&input.borrow_and_update());
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
            let inputs = Inputs::clone(&input.borrow_and_update());
            if inputs == tx.borrow().inputs() {
                continue;
            }
            version += 1;
            tracing::debug!(version, "catalog or config entries changed");
            if tx
                .send(Arc::new(Snapshot::new(version, inputs, opts.clone())))
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

    fn with_service(name: &str) -> Arc<Inputs> {
        let mut c = Catalog::default();
        let n = ServiceName::new(name).unwrap();
        c.services
            .insert(n.clone(), Service::new(n, Protocol::Http));
        Arc::new(Inputs {
            catalog: Arc::new(c),
            entries: Arc::default(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn burst_becomes_one_snapshot() {
        let (tx, rx) = watch::channel(Arc::new(Inputs::default()));
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
        let (tx, rx) = watch::channel(Arc::new(Inputs::default()));
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
