//! Config entries from watched files and folders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rigging_adapters_core::{PathWatch, WatchError};
use rigging_mesh_config_entries::{
    ConfigEntry, EXTENSIONS, LocatedError, list_files, load_file, validate_set,
};
use tokio::sync::watch;

use crate::{EntriesSnapshot, EntrySource};

/// Why the first load failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The files do not read, or the set they make is not valid.
    #[error("invalid config entries:\n{}", list(.errors))]
    Invalid { errors: Vec<LocatedError> },
    #[error(transparent)]
    Watch(#[from] WatchError),
}

fn list(errors: &[LocatedError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Config entries read from a file or a folder (its `.hcl` and `.json` files, recursively,
/// hidden ones skipped) and reloaded when they change. Dropping it stops the watch.
#[derive(Debug)]
pub struct EntriesFolder {
    shared: Arc<Shared>,
    _watch: PathWatch,
}

#[derive(Debug)]
struct Shared {
    path: PathBuf,
    tx: watch::Sender<Arc<EntriesSnapshot>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The entries of each file's last good version.
    files: BTreeMap<PathBuf, Vec<ConfigEntry>>,
    /// The errors of the latest reload (empty when it was good).
    errors: Vec<LocatedError>,
}

impl EntriesFolder {
    /// Loads `path`, which must be valid, then watches it.
    ///
    /// Must be called inside a tokio runtime.
    pub fn start(path: impl Into<PathBuf>) -> Result<Self, StartError> {
        let path = path.into();
        let read = read_files(&path);
        let errors: Vec<LocatedError> = read
            .iter()
            .flat_map(|f| match &f.result {
                Ok(_) => Vec::new(),
                Err(errors) => errors.clone(),
            })
            .collect();
        if !errors.is_empty() {
            return Err(StartError::Invalid { errors });
        }
        let files: BTreeMap<PathBuf, Vec<ConfigEntry>> = read
            .into_iter()
            .filter_map(|f| f.result.ok().map(|e| (f.path, e)))
            .collect();
        let entries: Vec<ConfigEntry> = files.values().flatten().cloned().collect();
        let errors = validate_set(&entries);
        if !errors.is_empty() {
            return Err(StartError::Invalid { errors });
        }
        tracing::info!(path = %path.display(), entries = entries.len(), "config entries loaded");
        let (tx, _) = watch::channel(Arc::new(EntriesSnapshot {
            version: 1,
            entries,
        }));
        let shared = Arc::new(Shared {
            path,
            tx,
            state: Mutex::new(State {
                files,
                errors: Vec::new(),
            }),
        });
        let reloading = Arc::clone(&shared);
        let watch = PathWatch::start(&shared.path, &EXTENSIONS, move || reloading.reload())?;
        Ok(Self {
            shared,
            _watch: watch,
        })
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The errors of the latest reload; empty when it was good.
    pub fn errors(&self) -> Vec<LocatedError> {
        self.shared.state().errors.clone()
    }

    /// The version of the set currently published.
    pub fn version(&self) -> u64 {
        self.shared.tx.borrow().version
    }
}

impl EntrySource for EntriesFolder {
    fn subscribe(&self) -> watch::Receiver<Arc<EntriesSnapshot>> {
        self.shared.tx.subscribe()
    }
}

/// One file as read: its entries, or why they cannot be used.
struct FileRead {
    path: PathBuf,
    result: Result<Vec<ConfigEntry>, Vec<LocatedError>>,
}

/// Reads every file of `path` on its own, so one broken file does not hide the others.
fn read_files(path: &Path) -> Vec<FileRead> {
    let (files, errors) = list_files(path);
    let mut out: Vec<FileRead> = files
        .into_iter()
        .map(|file| {
            let loaded = load_file(&file);
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            let result = if loaded.errors.is_empty() {
                Ok(loaded.entries)
            } else {
                Err(loaded.errors)
            };
            FileRead { path: file, result }
        })
        .collect();
    if !errors.is_empty() {
        out.push(FileRead {
            path: path.to_owned(),
            result: Err(errors),
        });
    }
    out
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn reload(&self) {
        let read = read_files(&self.path);
        let mut state = self.state();
        let mut files = BTreeMap::new();
        let mut errors = Vec::new();
        for f in read {
            match f.result {
                Ok(entries) => {
                    files.insert(f.path, entries);
                }
                Err(errs) => {
                    for e in &errs {
                        tracing::error!(
                            "invalid config entry file, keeping its last good version: {e}"
                        );
                    }
                    if let Some(old) = state.files.get(&f.path) {
                        files.insert(f.path, old.clone());
                    }
                    errors.extend(errs);
                }
            }
        }
        let entries: Vec<ConfigEntry> = files.values().flatten().cloned().collect();
        let set_errors = validate_set(&entries);
        if !set_errors.is_empty() {
            for e in &set_errors {
                tracing::error!("invalid set of config entries, keeping the last good set: {e}");
            }
            errors.extend(set_errors);
            state.errors = errors;
            return;
        }
        state.files = files;
        state.errors = errors;
        drop(state);
        self.tx.send_if_modified(|snap| {
            if snap.entries == entries {
                return false;
            }
            let version = snap.version + 1;
            tracing::info!(path = %self.path.display(), version, entries = entries.len(), "config entries changed");
            *snap = Arc::new(EntriesSnapshot { version, entries });
            true
        });
    }
}
