//! The watched registry: reloads on edits and publishes a snapshot when the catalog changes.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use rigging_adapters_core::{Registry, RegistrySnapshot};
use tokio::sync::{mpsc, watch};

use crate::{LoadError, load};

/// How long the files must be quiet before a reload: editors save in bursts
/// (truncate, write, rename, chmod) and one reload per save is enough.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// A [`Registry`] read from an HCL file or folder and reloaded when it changes.
///
/// Dropping it stops the watch.
#[derive(Debug)]
pub struct FileRegistry {
    shared: Arc<Shared>,
    // dropping the watcher closes the event channel, which ends the reload task
    _watcher: notify::RecommendedWatcher,
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
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let watcher = watch_path(&shared.path, events_tx)?;
        tokio::spawn(reload_loop(shared.clone(), events_rx));
        tracing::info!(registry = %shared.name, path = %shared.path.display(), "file registry loaded");
        Ok(Self {
            shared,
            _watcher: watcher,
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

/// Watches the folder, or a file's parent folder (non-recursively, so that the
/// atomic renames editors save with are seen), forwarding relevant events.
fn watch_path(
    path: &Path,
    events: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, LoadError> {
    let (dir, file_name) = if path.is_dir() {
        (path.to_owned(), None)
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (parent.to_owned(), path.file_name().map(ToOwned::to_owned))
    };
    let watched = dir.clone();
    let relevant = move |p: &Path| match &file_name {
        Some(name) => p.file_name() == Some(name.as_os_str()),
        // a `.hcl` file, or the folder itself (removed or moved)
        None => p.extension().is_some_and(|e| e == "hcl") || p == watched,
    };
    let handler = move |res: notify::Result<notify::Event>| match res {
        // reading the files ourselves raises access events: never reload on those
        Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => {}
        Ok(ev) if ev.paths.is_empty() || ev.paths.iter().any(|p| relevant(p)) => {
            let _ = events.send(());
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!("file watch error, reloading to be safe: {e}");
            let _ = events.send(());
        }
    };
    let watch_err = |source| LoadError::Watch {
        path: dir.clone(),
        source,
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(watch_err)?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(watch_err)?;
    Ok(watcher)
}

async fn reload_loop(shared: Arc<Shared>, mut events: mpsc::UnboundedReceiver<()>) {
    while events.recv().await.is_some() {
        // wait until the burst is over
        loop {
            match tokio::time::timeout(DEBOUNCE, events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_elapsed) => break,
            }
        }
        let path = shared.path.clone();
        let result = tokio::task::spawn_blocking(move || load(&path)).await;
        match result {
            Ok(result) => shared.reload(result),
            Err(e) => tracing::error!(registry = %shared.name, "registry reload panicked: {e}"),
        }
    }
    tracing::debug!(registry = %shared.name, "file watch ended");
}
