//! Watching a file or a folder of files for edits, with a debounce: what the file-backed
//! sources (the static-file registry, config-entry folders) reload on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// How long the files must be quiet before a reload: editors save in bursts
/// (truncate, write, rename, chmod) and one reload per save is enough.
pub const DEBOUNCE: Duration = Duration::from_millis(50);

/// Why a path cannot be watched.
#[derive(Debug, thiserror::Error)]
#[error("cannot watch {}: {source}", path.display())]
pub struct WatchError {
    pub path: PathBuf,
    #[source]
    pub source: notify::Error,
}

/// A running watch of one path; dropping it stops the watch and its reload task.
#[derive(Debug)]
pub struct PathWatch {
    // dropping the watcher closes the event channel, which ends the reload task
    _watcher: notify::RecommendedWatcher,
}

impl PathWatch {
    /// Watches `path`: a folder (recursively: any file whose extension is in `extensions`,
    /// or the folder itself) or a single file (its parent folder non-recursively, so that
    /// the atomic renames editors save with are seen). After each burst of relevant events,
    /// once quiet for [`DEBOUNCE`], `reload` runs on tokio's blocking pool.
    ///
    /// Must be called inside a tokio runtime.
    pub fn start<F>(
        path: &Path,
        extensions: &'static [&'static str],
        reload: F,
    ) -> Result<Self, WatchError>
    where
        F: Fn() + Send + Sync + 'static,
    {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let watcher = watch(path, extensions, events_tx)?;
        tokio::spawn(reload_loop(Arc::new(reload), events_rx));
        Ok(Self { _watcher: watcher })
    }
}

fn watch(
    path: &Path,
    extensions: &'static [&'static str],
    events: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, WatchError> {
    let (dir, file_name, mode) = if path.is_dir() {
        (path.to_owned(), None, RecursiveMode::Recursive)
    } else {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        (
            parent.to_owned(),
            path.file_name().map(ToOwned::to_owned),
            RecursiveMode::NonRecursive,
        )
    };
    let watched = dir.clone();
    let relevant = move |p: &Path| match &file_name {
        Some(name) => p.file_name() == Some(name.as_os_str()),
        // a file with a watched extension, or a folder (the watched one removed or moved,
        // a subfolder created or moved in: its files may be written before the recursive
        // watch covers it); folders are told by their lack of an extension, since a removed
        // path can no longer be asked
        None => match p.extension().and_then(|e| e.to_str()) {
            Some(e) => extensions.contains(&e),
            None => p.starts_with(&watched),
        },
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
    let watch_err = |source| WatchError {
        path: dir.clone(),
        source,
    };
    let mut watcher = notify::recommended_watcher(handler).map_err(watch_err)?;
    watcher.watch(&dir, mode).map_err(watch_err)?;
    Ok(watcher)
}

async fn reload_loop<F>(reload: Arc<F>, mut events: mpsc::UnboundedReceiver<()>)
where
    F: Fn() + Send + Sync + 'static,
{
    while events.recv().await.is_some() {
        // wait until the burst is over
        loop {
            match tokio::time::timeout(DEBOUNCE, events.recv()).await {
                Ok(Some(())) => continue,
                Ok(None) => return,
                Err(_elapsed) => break,
            }
        }
        let reload = Arc::clone(&reload);
        if let Err(e) = tokio::task::spawn_blocking(move || reload()).await {
            tracing::error!("reload after a file change panicked: {e}");
        }
    }
    tracing::debug!("file watch ended");
}
