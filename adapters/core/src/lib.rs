//! The registry seam: the Registry trait, versioned snapshots, and the merge of several registries.
//!
//! Each adapter (Consul, Kubernetes, Nomad, static file) implements [`Registry`]:
//! it publishes a complete, versioned [`RegistrySnapshot`] on a `watch` channel.
//! [`MergedCatalog::spawn`] merges every configured registry into one catalog.
//!
//! # The merge rule
//!
//! Registries are taken in their configured order ([`merge`]):
//!
//! - A service known to several registries gets the union of their endpoints,
//!   in registry order; every endpoint's metadata records its registry under
//!   [`META_REGISTRY`](rigging_mesh_model::META_REGISTRY) (overwriting any
//!   value the registry itself put there).
//! - Where registries disagree on a service's protocol, load-balancing policy
//!   or connect timeout, the first registry wins and a [`MergeWarning`] says so.
//! - Proxies are keyed by id; when two registries declare the same id, the
//!   first wins and a [`MergeWarning`] says so.

mod merge;
mod merged;
mod path_watch;
mod remote;
mod static_registry;

use std::sync::Arc;

use rigging_mesh_model::Catalog;
use tokio::sync::watch;

pub use merge::{MergeWarning, merge};
pub use merged::{MergedCatalog, MergedSnapshot};
pub use path_watch::{DEBOUNCE, PathWatch, WatchError};
pub use remote::{Backoff, Health, HealthReport, RateLimit};
pub use static_registry::StaticRegistry;

/// Everything one registry knows at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrySnapshot {
    /// The registry's configured name, recorded on merged endpoints.
    pub registry: String,
    /// Grows by one each time the registry publishes a changed catalog.
    pub version: u64,
    pub catalog: Catalog,
}

impl RegistrySnapshot {
    pub fn new(registry: impl Into<String>, version: u64, catalog: Catalog) -> Self {
        Self {
            registry: registry.into(),
            version,
            catalog,
        }
    }
}

/// A source of services and proxies that publishes complete snapshots as they change.
pub trait Registry: Send + Sync {
    /// The registry's configured name.
    fn name(&self) -> &str;

    /// The latest snapshot, and every later one. The receiver always holds a value.
    fn subscribe(&self) -> watch::Receiver<Arc<RegistrySnapshot>>;

    /// For a remote registry: whether its snapshot is current or stale (see [`Health`]).
    /// Local registries (a file, a static catalog) have none.
    fn health(&self) -> Option<HealthReport> {
        None
    }
}
