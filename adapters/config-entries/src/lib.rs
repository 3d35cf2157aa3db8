//! Route definitions for Pilot: Consul config entries read from files and folders
//! (HCL or JSON, every form [`rigging_mesh_config_entries`] reads), watched for edits.
//!
//! # Nothing good is lost
//!
//! The first load must be valid, or [`EntriesFolder::start`] fails with every error. After
//! that, an edit never makes things worse:
//!
//! * a file that no longer reads or validates keeps the entries of its last good version
//!   (a deleted file's entries go away: deleting is a valid edit);
//! * when the files are each valid but the set is not (a router pointing at a subset no
//!   resolver defines, splits of a `tcp` service, …), the whole last good set stays.
//!
//! Either way the errors are logged with file, line and column, and kept in
//! [`EntriesFolder::errors`] until a good reload clears them.

mod folder;
mod merged;

use std::sync::Arc;

use rigging_mesh_config_entries::ConfigEntry;
use tokio::sync::watch;

pub use folder::{EntriesFolder, StartError};
pub use merged::MergedEntries;

/// Every config entry a source holds at one moment: a set that passed
/// [`rigging_mesh_config_entries::validate_set`].
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EntriesSnapshot {
    /// Grows by one each time the source publishes a changed set.
    pub version: u64,
    pub entries: Vec<ConfigEntry>,
}

/// A source of config entries that publishes complete, valid sets as they change.
pub trait EntrySource: Send + Sync {
    /// The latest set, and every later one. The receiver always holds a value.
    fn subscribe(&self) -> watch::Receiver<Arc<EntriesSnapshot>>;
}
