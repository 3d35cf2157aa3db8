//! Consul's sidecar defaults as a pure function: from service definitions to the sidecar
//! each one runs ([`SidecarPlan`]), as Consul's agent expands `connect.sidecar_service`
//! (agent/sidecar_service.go), with the bodies to register.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::model::{
    CheckDefinition, DestinationType, ProxyConfig, ServiceDefinition, ServiceKind, Upstream,
};
use crate::register::ServiceRegistration;

mod plan;

pub use plan::plan_sidecars;

/// Consul's default range for sidecar ports (`sidecar_min_port`..=`sidecar_max_port`,
/// agent/config/default.go), which is also Rigging's proxy inbound range.
pub const DEFAULT_SIDECAR_PORTS: RangeInclusive<u16> = 21000..=21255;
/// Where the local app and the upstream listeners are when a file does not say:
/// Consul's default `local_service_address` and `local_bind_address`.
pub const DEFAULT_LOCAL_ADDRESS: &str = "127.0.0.1";
/// Appended to the service ID and name to name its sidecar (`structs.SidecarProxySuffix`).
pub const SIDECAR_SUFFIX: &str = "-sidecar-proxy";
/// How often Consul's default TCP check probes the sidecar's listener.
pub const SIDECAR_CHECK_INTERVAL: Duration = Duration::from_secs(10);

/// What the planner may use besides the definitions themselves.
#[derive(Debug, Clone)]
pub struct PlanOptions {
    /// Ports to pick a sidecar port from, inclusive, when the definition has none.
    pub sidecar_ports: RangeInclusive<u16>,
    /// Ports already taken on the host (other registrations on the agent), never picked.
    pub reserved_ports: BTreeSet<u16>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            sidecar_ports: DEFAULT_SIDECAR_PORTS,
            reserved_ports: BTreeSet::new(),
        }
    }
}

/// Where a sidecar came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SidecarSource {
    /// `connect { sidecar_service { … } }` of a service: the agent registers both.
    Nested,
    /// A registration of its own, `kind = "connect-proxy"`.
    ProxyRegistration,
}

/// A TCP address or a Unix socket, as Consul's proxy settings allow either.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    Tcp { address: String, port: u16 },
    Unix { path: String },
}

/// One upstream as the sidecar will listen for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedUpstream {
    pub destination_type: DestinationType,
    pub destination_name: String,
    pub destination_namespace: String,
    pub destination_partition: String,
    pub datacenter: String,
    /// Where the app reaches it: `local_bind_address` (default 127.0.0.1) and port, or a socket.
    pub bind: Endpoint,
}

/// Everything needed to run and register one sidecar, with Consul's defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct SidecarPlan {
    pub source: SidecarSource,
    /// The service the sidecar fronts (`proxy.destination_service_name`).
    pub service_name: String,
    /// Its instance ID (`proxy.destination_service_id`).
    pub service_id: String,
    /// `<service-id>-sidecar-proxy` for a nested sidecar.
    pub sidecar_id: String,
    /// `<service>-sidecar-proxy` unless the definition names it.
    pub sidecar_name: String,
    /// The sidecar's own address; `None`: the node's.
    pub sidecar_address: Option<String>,
    /// The port the sidecar listens on for mesh traffic.
    pub sidecar_port: u16,
    /// Whether [`SidecarPlan::sidecar_port`] was picked from [`PlanOptions::sidecar_ports`].
    pub port_assigned: bool,
    /// Where the sidecar hands inbound traffic to the app.
    pub local_app: Endpoint,
    pub upstreams: Vec<PlannedUpstream>,
    pub tags: Vec<String>,
    pub meta: BTreeMap<String, String>,
    /// The sidecar's checks: those given, or Consul's two defaults.
    pub checks: Vec<CheckDefinition>,
    /// The proxy settings with the defaults filled in.
    pub proxy: ProxyConfig,
    /// The ACL token to register with: the sidecar's own, else the service's.
    pub token: Option<String>,
    /// What to `PUT /v1/agent/service/register`: the service with its sidecar nested and
    /// the port pinned (so the agent keeps the port planned here), or the proxy itself.
    pub registration: ServiceRegistration,
    /// The sidecar as Consul's agent expands it, as one `connect-proxy` registration.
    pub sidecar_registration: ServiceRegistration,
}

/// Why no plan could be made for a set of definitions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError {
    #[error("no port given for the sidecar of {service:?} and none left in {min}..={max}")]
    NoPortLeft { service: String, min: u16, max: u16 },
    #[error(
        "the proxy {sidecar:?} has no port; Rigging's sidecar listens on TCP, not on a socket path"
    )]
    NoSidecarPort { sidecar: String },
    #[error(
        "the sidecar of {service:?} has no local service port: the service sets no port and the proxy no local_service_port"
    )]
    NoLocalPort { service: String },
    #[error(
        "the sidecar of {service:?}: {what} uses port {port}, which the sidecar also listens on"
    )]
    PortConflict {
        service: String,
        what: String,
        port: u16,
    },
}

impl Endpoint {
    /// The TCP address, when it is one with an IP address.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Tcp { address, port } => {
                address.parse::<IpAddr>().ok().map(|ip| (ip, *port).into())
            }
            Self::Unix { .. } => None,
        }
    }
}

impl SidecarPlan {
    /// Whether a definition registers a sidecar at all (a nested one, or itself a proxy).
    pub fn applies_to(def: &ServiceDefinition) -> bool {
        def.sidecar_service().is_some() || def.kind == ServiceKind::ConnectProxy
    }
}

/// The address an upstream listens on: `local_bind_address`, or 127.0.0.1.
pub(crate) fn bind_address(u: &Upstream) -> &str {
    if u.local_bind_address.is_empty() {
        DEFAULT_LOCAL_ADDRESS
    } else {
        &u.local_bind_address
    }
}

/// `host:port`, with brackets around an IPv6 address (Go's `net.JoinHostPort`).
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}
