//! The registry: what the watches have seen, the catalog built from it, and its health.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rigging_adapters_core::{Health, HealthReport, Registry, RegistrySnapshot};
use rigging_mesh_model::Catalog;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Scope;
use crate::mapping::{self, Naming};
use crate::objects::{Key, ServiceInfo, SliceInfo, Watched};
use crate::{KubernetesConfig, KubernetesError, watches};

/// A [`Registry`] of the Services and EndpointSlices of a Kubernetes cluster.
///
/// Version 0 is an empty catalog published before the first sync; version 1 is the first
/// complete view (every watch listed once). Dropping the registry stops its watches.
#[derive(Debug)]
pub struct KubernetesRegistry {
    shared: Arc<Shared>,
    _tasks: Vec<AbortOnDrop>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub config: KubernetesConfig,
    pub health: Health,
    tx: watch::Sender<Arc<RegistrySnapshot>>,
    state: Mutex<State>,
    scopes: usize,
}

/// What the watches have seen, per scope; a scope is absent until its watch has listed.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    pub services: BTreeMap<Scope, BTreeMap<Key, ServiceInfo>>,
    pub slices: BTreeMap<Scope, BTreeMap<Key, SliceInfo>>,
}

#[derive(Debug, Default)]
struct State {
    tables: Tables,
    /// Watches failing right now, with their error: health is good only when none is.
    failing: BTreeMap<String, String>,
    warnings: Vec<String>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl KubernetesRegistry {
    /// Builds a client from `config` (its kubeconfig, else kube's inference: `KUBECONFIG`,
    /// `~/.kube/config`, then the in-cluster service account) and starts watching.
    ///
    /// An unreachable API server is not an error here: the registry retries and reports it
    /// through [`Registry::health`].
    pub async fn start(config: KubernetesConfig) -> Result<Self, KubernetesError> {
        config.validate()?;
        let client = config.client().await?;
        Self::with_client(config, client)
    }

    /// Starts watching through a ready `client` (tests point one at a fake API server with
    /// `kube::Config::new(url)`). Must be called inside a tokio runtime.
    pub fn with_client(
        config: KubernetesConfig,
        client: kube::Client,
    ) -> Result<Self, KubernetesError> {
        config.validate()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| KubernetesError::NoRuntime)?;
        let scopes = config.scopes();
        let empty = RegistrySnapshot::new(config.name.clone(), 0, Catalog::default());
        let shared = Arc::new(Shared {
            health: Health::new(),
            tx: watch::channel(Arc::new(empty)).0,
            state: Mutex::new(State::default()),
            scopes: scopes.len(),
            config,
        });
        let mut tasks = Vec::new();
        for scope in scopes {
            let (s, c) = (Arc::clone(&shared), client.clone());
            tasks.push(AbortOnDrop(runtime.spawn(watches::run::<Service>(
                s,
                c,
                scope.clone(),
            ))));
            let (s, c) = (Arc::clone(&shared), client.clone());
            tasks.push(AbortOnDrop(
                runtime.spawn(watches::run::<EndpointSlice>(s, c, scope)),
            ));
        }
        tracing::info!(registry = %shared.config.name, namespaces = ?shared.config.namespaces,
            "watching Kubernetes services and endpointslices");
        Ok(Self {
            shared,
            _tasks: tasks,
        })
    }

    pub fn config(&self) -> &KubernetesConfig {
        &self.shared.config
    }

    /// Whether the first complete view has been published.
    pub fn is_synced(&self) -> bool {
        self.shared.state().synced(self.shared.scopes)
    }
}

impl Registry for KubernetesRegistry {
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

impl State {
    fn synced(&self, scopes: usize) -> bool {
        self.tables.services.len() == scopes && self.tables.slices.len() == scopes
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A watch listed everything in its scope: its objects replace what it had.
    pub fn replace<K: Watched>(&self, scope: &Scope, watch: &str, objects: BTreeMap<Key, K::Info>) {
        let mut state = self.state();
        K::table(&mut state.tables).insert(scope.clone(), objects);
        self.succeeded(&mut state, watch);
        self.publish(&mut state);
    }

    /// A watch saw an object change (`Some`) or go (`None`).
    pub fn apply<K: Watched>(&self, scope: &Scope, watch: &str, key: Key, info: Option<K::Info>) {
        let mut state = self.state();
        let Some(table) = K::table(&mut state.tables).get_mut(scope) else {
            return;
        };
        match info {
            Some(info) => table.insert(key, info),
            None => table.remove(&key),
        };
        self.succeeded(&mut state, watch);
        self.publish(&mut state);
    }

    /// A watch failed; the snapshot stays as it is and turns stale.
    pub fn failed(&self, watch: &str, error: &str) {
        let mut state = self.state();
        if state.failing.get(watch).map(String::as_str) != Some(error) {
            tracing::warn!(registry = %self.config.name, "{error}; keeping the last snapshot");
        }
        state.failing.insert(watch.to_owned(), error.to_owned());
        self.health.failure(error);
    }

    fn succeeded(&self, state: &mut State, watch: &str) {
        if state.failing.remove(watch).is_some() {
            tracing::info!(registry = %self.config.name, watch, "watch recovered");
        }
        if state.failing.is_empty() && state.synced(self.scopes) {
            self.health.success();
        }
    }

    fn publish(&self, state: &mut State) {
        if !state.synced(self.scopes) {
            return;
        }
        let naming = Naming {
            primary_namespace: self.config.primary_namespace(),
            region: &self.config.region,
        };
        let tables = &state.tables;
        let (catalog, warnings) = mapping::build(
            naming,
            tables.services.values().flat_map(BTreeMap::values),
            tables.slices.values().flat_map(BTreeMap::values),
        );
        if warnings != state.warnings {
            for w in &warnings {
                tracing::warn!(registry = %self.config.name, "{w}");
            }
            state.warnings = warnings;
        }
        self.tx.send_if_modified(|snap| {
            if snap.catalog == catalog && snap.version > 0 {
                return false;
            }
            let version = snap.version + 1;
            tracing::info!(registry = %self.config.name, version,
                services = catalog.services.len(), "Kubernetes registry changed");
            *snap = Arc::new(RegistrySnapshot::new(
                self.config.name.clone(),
                version,
                catalog,
            ));
            true
        });
    }
}
