//! Proxies (sidecars) and the upstreams they declare.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::{ProxyId, ServiceName};

/// One sidecar proxy, as its registration declares it (Consul's
/// `connect-proxy` service, Nomad's `sidecar_service`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proxy {
    pub id: ProxyId,
    /// The service whose instance this proxy fronts.
    pub service: ServiceName,
    /// Where the proxy accepts mesh traffic for its instance.
    pub inbound: SocketAddr,
    /// Where the local application listens (Consul's `local_service_address:local_service_port`).
    pub local_app: SocketAddr,
    /// The services this proxy may call; only these are sent to it.
    pub upstreams: Vec<Upstream>,
    /// Paths of the local application served without mTLS on their own ports (Consul's
    /// `Proxy.Expose.Paths`), for health checks from outside the mesh.
    #[serde(default)]
    pub expose: Vec<ExposePath>,
}

/// One exposed path: `listener_port` on the proxy's inbound address answers requests for
/// exactly `path` from the local application's `local_path_port`, in plaintext.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposePath {
    pub path: String,
    pub local_path_port: u16,
    pub listener_port: u16,
    /// `http` or `http2`, how the local application speaks on `local_path_port`.
    pub protocol: crate::Protocol,
}

/// A declared dependency: the local address the application calls to reach a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upstream {
    pub service: ServiceName,
    /// `127.0.0.1:<local_bind_port>` unless the registration says otherwise.
    pub local_bind: SocketAddr,
}
