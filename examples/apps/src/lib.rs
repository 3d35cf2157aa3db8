//! Small example applications for the demo and the tests: HTTP, gRPC, WebSocket and TCP echo servers.
//!
//! They sit behind the mesh's proxies so that `rig demo` and the integration
//! tests can prove that HTTP/1.1, HTTP/2 (h2c), gRPC unary and streaming
//! calls, WebSocket and raw TCP pass through intact. Each server runs until
//! its future is dropped; dropping it also closes every connection it
//! accepted, so a test can "kill" a backend by aborting its task.

use std::fmt;

mod behaviour;
mod client;
mod error;
mod grpc;
mod http;
mod listen;
mod tcp;
#[cfg(test)]
mod testing;
mod web;
mod ws;

pub use behaviour::{FailRule, FailRuleError, HttpOptions};
pub use client::http_get;
pub use error::AppError;
pub use grpc::{grpc_health_check, grpc_health_watch_first};
pub use http::{serve_http, serve_http_with, serve_http_with_health};
pub use tcp::{serve_tcp_echo, tcp_echo};
pub use tonic_health::ServingStatus;
pub use tonic_health::server::HealthReporter;
pub use web::serve_web;
pub use ws::websocket_echo;

/// Who an application instance is: shown in every answer so that tests and
/// the demo can see which backend served a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppIdentity {
    /// The service name, e.g. `api`.
    pub service: String,
    /// The version, e.g. `v2`.
    pub version: String,
    /// The instance, e.g. `api-v2-1`.
    pub instance: String,
}

impl AppIdentity {
    /// An identity from its three parts.
    pub fn new(
        service: impl Into<String>,
        version: impl Into<String>,
        instance: impl Into<String>,
    ) -> Self {
        Self {
            service: service.into(),
            version: version.into(),
            instance: instance.into(),
        }
    }
}

/// `{service} {version} ({instance})`, the form used in banners and reports.
impl fmt::Display for AppIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.service, self.version, self.instance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_displays_as_in_banners() {
        let id = AppIdentity::new("db", "v1", "db-1");
        assert_eq!(id.to_string(), "db v1 (db-1)");
    }
}
