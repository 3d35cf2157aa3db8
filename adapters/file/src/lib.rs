//! The static-file registry: services and instances declared in HCL files, watched for edits.
//!
//! A registry is one `.hcl` file, or a folder of them (read in name order and
//! merged; a service or instance defined twice is an error at the second
//! definition). The format:
//!
//! ```hcl
//! service "api" {
//!   protocol        = "http"           # tcp (default) | http | http2 | grpc
//!   load_balancer   = "least_request"  # round_robin (default) | least_request
//!   connect_timeout = "5s"             # default 5s
//!   mutual_tls_mode = "permissive"     # strict (default) | permissive
//!
//!   instance "api-1" {                 # unique across the registry
//!     address  = "127.0.0.1"           # required, an IP address
//!     port     = 9001                  # required, the application's port
//!     health   = "passing"             # passing (default) | warning | critical | maintenance
//!     meta     = { version = "v1" }    # or a `meta { … }` block; strings only
//!     tags     = ["v1", "canary"]      # Consul's Service.Tags, for subset filters
//!     locality { region = "local" zone = "a" }  # or `locality = { … }`
//!     sidecar {                        # this instance runs a rig proxy
//!       port = 21001                   # its inbound port, required
//!       local_service_address = "127.0.0.1"  # default
//!       upstream "db" {
//!         local_bind_port    = 9192    # required
//!         local_bind_address = "127.0.0.1"   # default
//!       }
//!     }
//!   }
//! }
//! ```
//!
//! An instance with a sidecar is reached at `address:sidecar.port` and yields a
//! proxy whose id is the instance name; one without is reached at `address:port`.
//!
//! `mutual_tls_mode` is Consul's service-defaults `MutualTLSMode`: when the mesh
//! runs mTLS, the sidecars of a `strict` service accept only mTLS from other
//! sidecars, while those of a `permissive` one also take plaintext (callers
//! without a sidecar, during a migration into the mesh). It has no effect on a
//! mesh without mTLS.

mod decode;
mod registry;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rigging_mesh_hcl::HclError;
use rigging_mesh_model::{Catalog, CatalogError};

pub use decode::{DEFAULT_LOCAL_BIND_ADDRESS, DEFAULT_LOCAL_SERVICE_ADDRESS};
pub use registry::{DEBOUNCE, FileRegistry};

/// One problem with a registry's files.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: Arc<io::Error>,
    },
    /// A syntax or schema error, at its file, line and column.
    #[error(transparent)]
    Hcl(#[from] HclError),
    /// A rule spanning several entries (see [`Catalog::validate`]).
    #[error("{}: {source}", path.display())]
    Catalog {
        path: PathBuf,
        #[source]
        source: CatalogError,
    },
}

/// Why a registry could not be loaded or watched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Every problem found in the files; never empty.
    #[error("{}{}", errors.first().map(ToString::to_string).unwrap_or_default(), more(errors.len()))]
    Invalid { errors: Vec<FileError> },
    #[error(transparent)]
    Watch(#[from] rigging_adapters_core::WatchError),
}

fn more(n: usize) -> String {
    match n {
        0 | 1 => String::new(),
        2 => " (and 1 more error)".to_owned(),
        n => format!(" (and {} more errors)", n - 1),
    }
}

impl LoadError {
    /// Each problem in the files (empty for a watch failure).
    pub fn errors(&self) -> &[FileError] {
        match self {
            Self::Invalid { errors } => errors,
            Self::Watch(_) => &[],
        }
    }
}

/// Reads the registry at `path` (a file or a folder of `*.hcl` files) once, without watching.
pub fn load(path: &Path) -> Result<Catalog, LoadError> {
    let files = decode::files_of(path).map_err(|e| LoadError::Invalid {
        errors: vec![read_error(path, e)],
    })?;
    decode_files(&files, path).map_err(|errors| LoadError::Invalid { errors })
}

/// Checks `files` as one registry (folders expand to their `*.hcl` files) and
/// returns every problem in every file, not only the first; empty when all is well.
pub fn validate_files(files: &[PathBuf]) -> Vec<FileError> {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for f in files {
        match decode::files_of(f) {
            Ok(found) => all.extend(found),
            Err(e) => errors.push(read_error(f, e)),
        }
    }
    // cross-entry rules name the first path given: the registry has no single file
    let source = files.first().cloned().unwrap_or_default();
    if let Err(found) = decode_files(&all, &source) {
        errors.extend(found);
    }
    errors
}

fn decode_files(files: &[PathBuf], source: &Path) -> Result<Catalog, Vec<FileError>> {
    let mut decoder = decode::Decoder::default();
    for f in files {
        match std::fs::read_to_string(f) {
            Ok(text) => decoder.add(f, text),
            Err(e) => decoder.add_read_error(read_error(f, e)),
        }
    }
    decoder.finish(source)
}

fn read_error(path: &Path, e: io::Error) -> FileError {
    FileError::Read {
        path: path.to_owned(),
        source: Arc::new(e),
    }
}
