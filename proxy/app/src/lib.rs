//! The sidecar proxy: listeners, HTTP and TCP forwarding, connection pools, admin endpoints.
//!
//! Configuration lives in an [`arc_swap`] snapshot that an update replaces atomically; the
//! traffic path reads it without locks and keeps the clusters it picked until its request ends.

mod admin;
mod apply;
mod body;
mod cluster;
mod drain;
mod error;
mod fault;
mod hash;
mod headers;
mod http;
mod idle;
mod listeners;
mod metrics;
mod mirror;
mod pool;
mod retry;
mod rewrite;
mod routing;
mod runtime;
mod snapshot;
mod tcp;
mod upgrade;
mod xds;

pub use error::{ApplyError, ErrorKind, ErrorSource, ForwardError, ProxyError};
pub use rigging_pilot_client::PilotTls;
pub use rigging_proxy_tls::MeshTls;
pub use runtime::{DEFAULT_ADMIN_ADDR, DEFAULT_DRAIN_TIMEOUT, Proxy, ProxyHandle, ProxyOptions};
