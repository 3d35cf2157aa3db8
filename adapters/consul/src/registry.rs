//! The watched catalog: one task on `/v1/catalog/services`, one per service on its health.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rigging_adapters_core::{HealthReport, Registry, RegistrySnapshot};
use rigging_mesh_model::{Catalog, ServiceName};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::HealthEntry;
use crate::client::{Client, Poll, Tracker};
use crate::{ConsulConfig, ConsulError, mapping};

/// A [`Registry`] fed by one Consul datacenter.
///
/// Its first snapshot (version 1) is published once the catalog and every service in it have
/// been read; until then the channel holds version 0, an empty catalog. Dropping it stops
/// every watch.
#[derive(Debug)]
pub struct ConsulRegistry {
    shared: Arc<Shared>,
    _task: AbortOnDrop,
}

#[derive(Debug)]
struct Shared {
    name: String,
    /// For endpoint metadata when an answer names no datacenter.
    datacenter: String,
    tx: watch::Sender<Arc<RegistrySnapshot>>,
    tracker: Tracker,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Whether version 1 is out: from then on every change is published.
    synced: bool,
    services: BTreeMap<ServiceName, Watched>,
}

/// What is known of one service: `None` until its query first answered.
#[derive(Debug, Default)]
struct Watched {
    plain: Option<Vec<HealthEntry>>,
    connect: Option<Vec<HealthEntry>>,
    /// Whether each query was tried once (answered or failed), for the first snapshot.
    tried: [bool; 2],
}

/// A task aborted when this guard is dropped.
#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ConsulRegistry {
    /// Starts watching the datacenter `config` names. Fails only on a bad configuration
    /// (address, CA file, wait) or outside a tokio runtime; an unreachable Consul is retried.
    pub fn start(config: ConsulConfig) -> Result<Self, ConsulError> {
        crate::check(&config)?;
        let client = Arc::new(Client::new(&config)?);
        let (tx, _) = watch::channel(Arc::new(RegistrySnapshot::new(
            config.name.clone(),
            0,
            Catalog::default(),
        )));
        let shared = Arc::new(Shared {
            name: config.name.clone(),
            datacenter: config.datacenter.clone().unwrap_or_default(),
            tx,
            tracker: Tracker::default(),
            state: Mutex::new(State::default()),
        });
        tracing::info!(registry = %config.name, address = %config.address, datacenter = ?config.datacenter, "watching consul");
        let task = tokio::spawn(watch_catalog(Arc::clone(&shared), client, config));
        Ok(Self {
            shared,
            _task: AbortOnDrop(task),
        })
    }

    /// The version of the snapshot currently published (0 before the first sync).
    pub fn version(&self) -> u64 {
        self.shared.tx.borrow().version
    }
}

impl Registry for ConsulRegistry {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn subscribe(&self) -> watch::Receiver<Arc<RegistrySnapshot>> {
        self.shared.tx.subscribe()
    }

    fn health(&self) -> Option<HealthReport> {
        Some(self.shared.tracker.health().report())
    }
}

/// Keeps the set of service watches equal to the catalog's services.
async fn watch_catalog(shared: Arc<Shared>, client: Arc<Client>, config: ConsulConfig) {
    let mut poll = Poll::new(
        Arc::clone(&client),
        "/v1/catalog/services".to_owned(),
        &config,
        shared.tracker.clone(),
    );
    let mut tasks: HashMap<ServiceName, AbortOnDrop> = HashMap::new();
    loop {
        let Ok(listed) = poll.next::<BTreeMap<String, serde_json::Value>>().await else {
            continue;
        };
        let names: Vec<ServiceName> = listed
            .into_keys()
            .filter_map(|n| match ServiceName::new(n.clone()) {
                Ok(name) => Some(name),
                Err(e) => {
                    tracing::warn!(registry = %shared.name, service = %n, "consul service skipped: {e}");
                    None
                }
            })
            .collect();
        let mut state = shared.state();
        tasks.retain(|name, _| {
            let keep = names.contains(name);
            if !keep {
                tracing::info!(registry = %shared.name, service = %name, "service left the consul catalog, its watch stops");
                state.services.remove(name);
                for path in paths(name) {
                    shared.tracker.forget(&path);
                }
            }
            keep
        });
        for name in names {
            if tasks.contains_key(&name) {
                continue;
            }
            tracing::debug!(registry = %shared.name, service = %name, "watching consul service");
            state.services.insert(name.clone(), Watched::default());
            let task = tokio::spawn(watch_service(
                Arc::clone(&shared),
                Arc::clone(&client),
                config.clone(),
                name.clone(),
            ));
            tasks.insert(name, AbortOnDrop(task));
        }
        shared.publish(&mut state);
    }
}

fn paths(name: &ServiceName) -> [String; 2] {
    [
        format!("/v1/health/service/{name}"),
        format!("/v1/health/connect/{name}"),
    ]
}

/// Both health queries of one service, until its task is aborted.
async fn watch_service(
    shared: Arc<Shared>,
    client: Arc<Client>,
    config: ConsulConfig,
    name: ServiceName,
) {
    let [plain, connect] = paths(&name);
    let one = |path: String, slot: usize| {
        let mut poll = Poll::new(Arc::clone(&client), path, &config, shared.tracker.clone());
        let (shared, name) = (Arc::clone(&shared), name.clone());
        async move {
            loop {
                let answer = poll.next::<Vec<HealthEntry>>().await;
                let mut state = shared.state();
                let Some(watched) = state.services.get_mut(&name) else {
                    return;
                };
                watched.tried[slot] = true;
                if let Ok(entries) = answer {
                    let held = if slot == 0 {
                        &mut watched.plain
                    } else {
                        &mut watched.connect
                    };
                    if held.as_ref() == Some(&entries) {
                        continue;
                    }
                    *held = Some(entries);
                }
                shared.publish(&mut state);
            }
        }
    };
    tokio::join!(one(plain, 0), one(connect, 1));
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes the catalog the state describes, if it changed and the first sync is done.
    fn publish(&self, state: &mut State) {
        if !state.synced {
            if !state.services.values().all(|w| w.tried == [true; 2]) {
                return;
            }
            state.synced = true;
        }
        let mut catalog = Catalog::default();
        for (name, watched) in &state.services {
            let Some(plain) = &watched.plain else {
                continue;
            };
            let connect = watched.connect.as_deref().unwrap_or_default();
            if let Some((service, proxies)) =
                mapping::service(name, plain, connect, &self.datacenter)
            {
                catalog.services.insert(name.clone(), service);
                for p in proxies {
                    if let Some(old) = catalog.proxies.insert(p.id.clone(), p) {
                        tracing::warn!(registry = %self.name, proxy = %old.id, "two consul sidecars share one service id; the last read wins");
                    }
                }
            }
        }
        if let Err(e) = catalog.validate() {
            // mapping keeps every rule; this is a bug, not bad input
            tracing::error!(registry = %self.name, "consul catalog breaks a model rule, not published: {e}");
            return;
        }
        self.tx.send_if_modified(|snap| {
            if snap.version > 0 && snap.catalog == catalog {
                return false;
            }
            let version = snap.version + 1;
            tracing::info!(registry = %self.name, version, services = catalog.services.len(), "consul registry changed");
            *snap = Arc::new(RegistrySnapshot::new(self.name.clone(), version, catalog));
            true
        });
    }
}
