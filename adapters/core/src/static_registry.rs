//! A registry whose catalog the owner sets by hand: for tests and embedding.

use std::sync::Arc;

use rigging_mesh_model::Catalog;
use tokio::sync::watch;

use crate::{Registry, RegistrySnapshot};

/// A [`Registry`] fed by [`StaticRegistry::publish`]; starts at version 1 with the given catalog.
#[derive(Debug)]
pub struct StaticRegistry {
    name: String,
    tx: watch::Sender<Arc<RegistrySnapshot>>,
}

impl StaticRegistry {
    pub fn new(name: impl Into<String>, catalog: Catalog) -> Self {
        let name = name.into();
        let (tx, _) = watch::channel(Arc::new(RegistrySnapshot::new(name.clone(), 1, catalog)));
        Self { name, tx }
    }

    /// Publishes `catalog` as the next version, unless it equals the current one.
    /// Returns the version now current.
    pub fn publish(&self, catalog: Catalog) -> u64 {
        let mut version = 0;
        self.tx.send_if_modified(|snap| {
            version = snap.version;
            if snap.catalog == catalog {
                return false;
            }
            version += 1;
            *snap = Arc::new(RegistrySnapshot::new(self.name.clone(), version, catalog));
            true
        });
        version
    }
}

impl Registry for StaticRegistry {
    fn name(&self) -> &str {
        &self.name
    }

    fn subscribe(&self) -> watch::Receiver<Arc<RegistrySnapshot>> {
        self.tx.subscribe()
    }
}
