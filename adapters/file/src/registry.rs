//! The watched registry: reloads on edits and publishes a snapshot when the catalog changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rigging_adapters_core::{PathWatch, Registry, RegistrySnapshot};
use tokio::sync::watch;

use crate::{LoadError, load};

pub use rigging_adapters_core::DEBOUNCE;

/// A [`Registry`] read from an HCL file or folder and reloaded when it changes.
///
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct FileRegistry {
    shared: Arc<Shared>,
    _watch: PathWatch,
}

#[derive(Debug)]
struct Shared {
    name: String,
    path: PathBuf,
    tx: watch::Sender<Arc<RegistrySnapshot>>,
    last_error: Mutex<Option<Arc<LoadError>>>,
}

impl FileRegistry {
    /// Loads `path` (a file or a folder of `*.hcl` files) as registry `name`, then
    /// watches it. The first load must succeed; later invalid edits are logged,
    /// kept in [`FileRegistry::last_error`], and the last good snapshot stays.
    ///
    /// Must be called inside a tokio runtime.
    pub fn start(path: impl Into<PathBuf>, name: impl Into<String>) -> Result<Self, LoadError> {
        let path = path.into();
        let name = name.into();
        let catalog = load(&path)?;
        let (tx, _) = watch::channel(Arc::new(RegistrySnapshot::new(name.clone(), 1, catalog)));
        let shared = Arc::new(Shared {
            name,
            path,
            tx,
            last_error: Mutex::new(None),
        });
        let reloading = Arc::clone(&shared);
        let watch = PathWatch::start(&shared.path, &["hcl"], move || {
            reloading.reload(load(&reloading.path));
        })?;
        tracing::info!(registry = %shared.name, path = %shared.path.display(), "file registry loaded");
        Ok(Self {
            shared,
            _watch: watch,
        })
    }

    /// The error of the latest reload, if it failed (cleared by the next good one).
    pub fn last_error(&self) -> Option<Arc<LoadError>> {
        self.shared.last_error().clone()
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The version of the snapshot currently published.
    pub fn version(&self) -> u64 {
        self.shared.tx.borrow().version
    }
}

impl Registry for FileRegistry {
    fn name(&self) -> &str {
        &self.shared.name
    }

    fn subscribe(&self) -> watch::Receiver<Arc<RegistrySnapshot>> {
        self.shared.tx.subscribe()
    }
}

impl Shared {
    fn last_error(&self) -> std::sync::MutexGuard<'_, Option<Arc<LoadError>>> {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn reload(&self, result: Result<rigging_mesh_model::Catalog, LoadError>) {
        let catalog = match result {
            Ok(c) => c,
            Err(e) => {
                for err in e.errors() {
                    tracing::error!(registry = %self.name, "invalid registry file, keeping the last good catalog: {err}");
                }
                *self.last_error() = Some(Arc::new(e));
                return;
            }
        };
        *self.last_error() = None;
        self.tx.send_if_modified(|snap| {
            if snap.catalog == catalog {
                return false;
            }
            let version = snap.version + 1;
            tracing::info!(registry = %self.name, version, "file registry changed");
            *snap = Arc::new(RegistrySnapshot::new(self.name.clone(), version, catalog));
            true
        });
    }
}
