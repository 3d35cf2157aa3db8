//! `TryFrom` conversions from xDS resources into the model, one module per resource type.
//!
//! Each conversion destructures its message field by field, so every field is either used,
//! accepted as informational, or rejected when set; a new field in `envoy-types` fails to compile.

mod cluster;
mod common;
mod endpoint;
mod hcm;
mod listener;
mod route;
mod tls;

pub use cluster::DEFAULT_CONNECT_TIMEOUT;
pub use endpoint::METADATA_NAMESPACE;
pub use route::{DEFAULT_NUM_RETRIES, DEFAULT_ROUTE_TIMEOUT, FAULT_FILTER_NAME, FAULT_TYPE_URL};

#[cfg(test)]
pub(crate) mod tests;
