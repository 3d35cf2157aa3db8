//! Config entries from `/v1/config/:kind`, one blocking query per kind.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rigging_adapters_config_entries::{EntriesSnapshot, EntrySource};
use rigging_adapters_core::HealthReport;
use rigging_mesh_config_entries::{ConfigEntry, Kind, parse_str, validate_set};
use tokio::sync::watch;

use crate::client::{Client, FetchError, Poll, Tracker};
use crate::{ConsulConfig, ConsulError};

/// An [`EntrySource`] reading every config entry kind Rigging knows from one Consul.
///
/// Entries are decoded as [`rigging_mesh_config_entries`] reads Consul's JSON. An entry that
/// does not decode is logged and left out, the other entries stay; a set that breaks a rule
/// across entries is logged and the last good set stays. The first set (version 1) is
/// published once every kind was read; until then the channel holds version 0, empty.
/// Dropping it stops every watch.
#[derive(Debug)]
pub struct ConsulEntries {
    shared: Arc<Shared>,
    _tasks: Vec<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[derive(Debug)]
struct Shared {
    tx: watch::Sender<Arc<EntriesSnapshot>>,
    tracker: Tracker,
    kinds: Mutex<BTreeMap<Kind, Vec<ConfigEntry>>>,
}

impl ConsulEntries {
    /// Starts watching; fails only on a bad configuration or outside a tokio runtime.
    pub fn start(config: ConsulConfig) -> Result<Self, ConsulError> {
        crate::check(&config)?;
        let client = Arc::new(Client::new(&config)?);
        let (tx, _) = watch::channel(Arc::new(EntriesSnapshot::default()));
        let shared = Arc::new(Shared {
            tx,
            tracker: Tracker::default(),
            kinds: Mutex::new(BTreeMap::new()),
        });
        let tasks = Kind::ALL
            .into_iter()
            .map(|kind| {
                let poll = Poll::new(
                    Arc::clone(&client),
                    format!("/v1/config/{kind}"),
                    &config,
                    shared.tracker.clone(),
                );
                AbortOnDrop(tokio::spawn(watch_kind(Arc::clone(&shared), poll, kind)))
            })
            .collect();
        Ok(Self {
            shared,
            _tasks: tasks,
        })
    }

    /// The version of the set currently published (0 before the first read).
    pub fn version(&self) -> u64 {
        self.shared.tx.borrow().version
    }

    /// Whether the entries are current or stale, as [`rigging_adapters_core::Registry::health`].
    pub fn health(&self) -> HealthReport {
        self.shared.tracker.health().report()
    }
}

impl EntrySource for ConsulEntries {
    fn subscribe(&self) -> watch::Receiver<Arc<EntriesSnapshot>> {
        self.shared.tx.subscribe()
    }
}

async fn watch_kind(shared: Arc<Shared>, mut poll: Poll, kind: Kind) {
    loop {
        let body = match poll.next_raw().await {
            Ok(body) => body,
            // an older Consul that does not know the kind: it has none of them
            Err(FetchError::Status {
                status: 400 | 404, ..
            }) => b"[]".to_vec(),
            Err(_) => continue,
        };
        let Ok(text) = String::from_utf8(body) else {
            tracing::warn!(path = %poll.path(), "consul sent config entries that are not UTF-8, ignored");
            continue;
        };
        let loaded = parse_str(Path::new(poll.path()), &text);
        for e in &loaded.errors {
            tracing::warn!("consul config entry left out: {e}");
        }
        for w in &loaded.warnings {
            tracing::debug!("{w}");
        }
        let entries: Vec<ConfigEntry> = loaded
            .entries
            .into_iter()
            .filter(|e| e.kind() == kind)
            .collect();
        let mut kinds = shared.kinds();
        if kinds.get(&kind) == Some(&entries) {
            continue;
        }
        kinds.insert(kind, entries);
        shared.publish(&kinds);
    }
}

impl Shared {
    fn kinds(&self) -> MutexGuard<'_, BTreeMap<Kind, Vec<ConfigEntry>>> {
        self.kinds.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, kinds: &BTreeMap<Kind, Vec<ConfigEntry>>) {
        if kinds.len() < Kind::ALL.len() {
            return;
        }
        let entries: Vec<ConfigEntry> = kinds.values().flatten().cloned().collect();
        let errors = validate_set(&entries);
        if !errors.is_empty() {
            for e in &errors {
                tracing::error!(
                    "invalid set of consul config entries, keeping the last good set: {e}"
                );
            }
            return;
        }
        self.tx.send_if_modified(|snap| {
            if snap.version > 0 && snap.entries == entries {
                return false;
            }
            let version = snap.version + 1;
            tracing::info!(
                version,
                entries = entries.len(),
                "consul config entries changed"
            );
            *snap = Arc::new(EntriesSnapshot { version, entries });
            true
        });
    }
}
