//! The registry: its shared state, the catalog built from it, and the watches it starts and stops.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use rigging_adapters_core::{Health, HealthReport, Registry, RegistrySnapshot};
use rigging_mesh_model::{Catalog, Protocol, Service};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::api::{self, Registration};
use crate::client::NomadClient;
use crate::{NomadConfig, NomadError, watches};

/// A Nomad service: its namespace and name.
pub(crate) type ServiceKey = (String, String);

/// A [`Registry`] of the services registered with Nomad's native service discovery.
///
/// Version 0 is an empty catalog published before the first sync; version 1 is the first
/// complete view (every listed service read once). Dropping the registry stops its watches.
#[derive(Debug)]
pub struct NomadRegistry {
    shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: NomadConfig,
    pub client: NomadClient,
    pub health: Health,
    tx: watch::Sender<Arc<RegistrySnapshot>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// What each service-list watch (by `?namespace=`) last listed; absent until it answers.
    lists: BTreeMap<String, BTreeSet<ServiceKey>>,
    /// One watch per listed service, with its registrations once it has answered.
    services: BTreeMap<ServiceKey, ServiceWatch>,
    list_tasks: Vec<AbortOnDrop>,
    /// Watches failing right now, with their error: health is good only when none is.
    failing: BTreeMap<String, String>,
    synced: bool,
    stopped: bool,
}

#[derive(Debug)]
struct ServiceWatch {
    registrations: Option<Vec<Registration>>,
    _task: AbortOnDrop,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl NomadRegistry {
    /// Checks `config`, builds the HTTP client (reading the CA file), and starts watching.
    ///
    /// Must be called inside a tokio runtime. Unreachable Nomad is not an error here: the
    /// registry retries and reports it through [`Registry::health`].
    pub fn start(config: NomadConfig) -> Result<Self, NomadError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NomadError::NoRuntime)?;
        let client = NomadClient::new(&config)?;
        let empty = RegistrySnapshot::new(config.name.clone(), 0, Catalog::default());
        let shared = Arc::new(Shared {
            client,
            health: Health::new(),
            tx: watch::channel(Arc::new(empty)).0,
            state: Mutex::new(State::default()),
            config,
        });
        let tasks = shared
            .config
            .list_namespaces()
            .into_iter()
            .map(|ns| AbortOnDrop(runtime.spawn(watches::list(Arc::clone(&shared), ns))))
            .collect();
        shared.state().list_tasks = tasks;
        tracing::info!(registry = %shared.config.name, address = %shared.config.address,
            namespaces = ?shared.config.namespaces, "watching Nomad services");
        Ok(Self { shared })
    }

    pub fn config(&self) -> &NomadConfig {
        &self.shared.config
    }

    /// Whether the first complete view has been published.
    pub fn is_synced(&self) -> bool {
        self.shared.state().synced
    }

    /// The Nomad services being watched now, as (namespace, name).
    pub fn watched_services(&self) -> Vec<(String, String)> {
        self.shared.state().services.keys().cloned().collect()
    }
}

impl Drop for NomadRegistry {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.stopped = true;
        state.list_tasks.clear();
        state.services.clear();
    }
}

impl Registry for NomadRegistry {
    fn name(&self) -> &str {
        &self.shared.config.name
    }

    fn subscribe(&self) -> watch::Receiver<Arc<RegistrySnapshot>> {
        self.shared.tx.subscribe()
    }

    fn health(&self) -> Option<HealthReport> {
        Some(self.shared.health.report())
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A service-list watch answered: start watches for new services, stop those gone.
    pub fn listed(self: &Arc<Self>, list_namespace: &str, services: BTreeSet<ServiceKey>) {
        let mut state = self.state();
        if state.stopped {
            return;
        }
        state.lists.insert(list_namespace.to_owned(), services);
        let wanted: BTreeSet<ServiceKey> = state.lists.values().flatten().cloned().collect();
        let State {
            services, failing, ..
        } = &mut *state;
        services.retain(|key, _| {
            let keep = wanted.contains(key);
            if !keep {
                tracing::info!(namespace = %key.0, service = %key.1, "Nomad service gone; its watch stops");
                // a watch that stops can no longer recover, so it no longer counts as failing
                failing.remove(&watches::service_label(key));
            }
            keep
        });
        for key in wanted {
            if let Entry::Vacant(slot) = state.services.entry(key) {
                let key = slot.key().clone();
                tracing::debug!(namespace = %key.0, service = %key.1, "watching Nomad service");
                let task = tokio::spawn(watches::service(Arc::clone(self), key));
                slot.insert(ServiceWatch {
                    registrations: None,
                    _task: AbortOnDrop(task),
                });
            }
        }
        self.publish(&mut state);
    }

    /// A service watch answered with the service's current registrations.
    pub fn registrations(&self, key: &ServiceKey, registrations: Vec<Registration>) {
        let mut state = self.state();
        let Some(watch) = state.services.get_mut(key) else {
            return;
        };
        if watch.registrations.as_ref() == Some(&registrations) {
            return;
        }
        watch.registrations = Some(registrations);
        self.publish(&mut state);
    }

    /// A query answered: clear its failure; health is good again once no watch fails.
    pub fn succeeded(&self, watch: &str) {
        let mut state = self.state();
        if state.failing.remove(watch).is_some() {
            tracing::info!(registry = %self.config.name, watch, "Nomad answers again");
        }
        if state.failing.is_empty() {
            self.health.success();
        }
    }

    /// A query failed: the snapshot stays, marked stale.
    pub fn failed(&self, watch: &str, error: &str) {
        let mut state = self.state();
        if state.failing.get(watch).map(String::as_str) != Some(error) {
            tracing::warn!(registry = %self.config.name, watch, "{error}; keeping the last snapshot");
        }
        state.failing.insert(watch.to_owned(), error.to_owned());
        self.health.failure(error);
    }

    /// Publishes the catalog if it changed; before the first sync, only once every list and
    /// every listed service has answered, so no partial view goes out.
    fn publish(&self, state: &mut State) {
        let lists_done = state.lists.len() == self.config.list_namespaces().len();
        let services_done = state.services.values().all(|w| w.registrations.is_some());
        if !(state.synced || lists_done && services_done) {
            return;
        }
        state.synced = true;
        let catalog = self.catalog(state);
        self.tx.send_if_modified(|snap| {
            if snap.catalog == catalog && snap.version > 0 {
                return false;
            }
            let version = snap.version + 1;
            tracing::info!(registry = %self.config.name, version, services = catalog.services.len(), "Nomad registry changed");
            *snap = Arc::new(RegistrySnapshot::new(self.config.name.clone(), version, catalog));
            true
        });
    }

    fn catalog(&self, state: &State) -> Catalog {
        let primary = self.config.primary_namespace();
        let region = self.config.region.as_deref().unwrap_or_default();
        let mut catalog = Catalog::default();
        for ((namespace, name), watch) in &state.services {
            let Some(regs) = &watch.registrations else {
                continue;
            };
            let service_name = match api::model_name(name, namespace, primary) {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(namespace, service = name, "skipping Nomad service: {e}");
                    continue;
                }
            };
            let mut service = Service::new(service_name.clone(), Protocol::Tcp);
            for r in regs {
                match api::endpoint(r, region) {
                    Ok(e) => service.endpoints.push(e),
                    Err(e) => {
                        tracing::warn!(namespace, service = name, id = %r.id, "skipping registration: {e}")
                    }
                }
            }
            service
                .endpoints
                .sort_by(|a, b| a.instance.cmp(&b.instance));
            // a paged read over a moving index may see a registration twice
            service.endpoints.dedup_by(|a, b| a.instance == b.instance);
            catalog.services.insert(service_name, service);
        }
        catalog
    }
}
