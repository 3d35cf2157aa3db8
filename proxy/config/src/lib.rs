//! The proxy's configuration model, and its validated conversion from the xDS resources Pilot sends.
//!
//! xDS messages stop here: each resource converts with `TryFrom` into a model type, and anything
//! the proxy does not implement is an error (so the update is NACKed) rather than ignored.

mod convert;
mod decode;
mod error;
mod types;

pub use convert::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_NUM_RETRIES, DEFAULT_ROUTE_TIMEOUT, FAULT_FILTER_NAME,
    FAULT_TYPE_URL, METADATA_NAMESPACE,
};
pub use decode::{decode_clusters, decode_endpoints, decode_listeners, decode_routes};
pub use error::{ConfigError, ResourceKind};
pub use types::*;
