//! The typed service definition, as Consul's agent holds it after reading a file.

use std::collections::BTreeMap;
use std::time::Duration;

use rigging_mesh_hcl::Location;

/// Free-form JSON (a proxy's or upstream's `config`), passed to Consul as written.
pub type Opaque = serde_json::Map<String, serde_json::Value>;

/// One service definition: a `service { … }` block, one element of `services`, or a
/// `PUT /v1/agent/service/register` body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceDefinition {
    /// Where the definition starts in its file.
    pub location: Option<Location>,
    pub kind: ServiceKind,
    /// The instance ID; Consul uses the name when it is empty ([`ServiceDefinition::service_id`]).
    pub id: Option<String>,
    /// The service name; required except in a `sidecar_service`.
    pub name: String,
    pub tags: Vec<String>,
    /// The address the service listens on; empty means the node's address.
    pub address: Option<String>,
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub meta: BTreeMap<String, String>,
    /// `None` when unset or 0, as in Consul.
    pub port: Option<u16>,
    pub socket_path: Option<String>,
    pub enable_tag_override: bool,
    /// `check` and `checks` together, in file order.
    pub checks: Vec<CheckDefinition>,
    pub weights: Option<Weights>,
    /// The ACL token to register this service with.
    pub token: Option<String>,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub locality: Option<Locality>,
    /// The proxy settings of a `connect-proxy` registration (or of a sidecar).
    pub proxy: Option<ProxyConfig>,
    pub connect: Option<Connect>,
}

/// What a registration is: a typical service, a Connect proxy, or a gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceKind {
    #[default]
    Typical,
    ConnectProxy,
    MeshGateway,
    TerminatingGateway,
    IngressGateway,
    ApiGateway,
}

/// A tagged address: `lan = { address = "…", port = 80 }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAddress {
    pub address: String,
    pub port: Option<u16>,
}

/// DNS weights of a passing and of a warning instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

/// Consul 1.17's locality of an instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Locality {
    pub region: String,
    pub zone: String,
}

/// `connect { native, sidecar_service }`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Connect {
    pub native: bool,
    /// The sidecar to register with the service; every field optional ([`crate::plan_sidecars`]).
    pub sidecar_service: Option<Box<ServiceDefinition>>,
}

/// The `proxy` of a `connect-proxy` registration or of a sidecar.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyConfig {
    pub destination_service_name: String,
    pub destination_service_id: String,
    pub local_service_address: String,
    pub local_service_port: Option<u16>,
    pub local_service_socket_path: String,
    pub mode: ProxyMode,
    pub transparent_proxy: Option<TransparentProxy>,
    pub config: Opaque,
    pub upstreams: Vec<Upstream>,
    pub mesh_gateway: MeshGatewayMode,
    pub expose: Expose,
}

/// `proxy.mode`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyMode {
    /// Not set: taken from service-defaults or proxy-defaults.
    #[default]
    Default,
    Direct,
    Transparent,
}

/// `proxy.transparent_proxy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TransparentProxy {
    pub outbound_listener_port: Option<u16>,
    pub dialed_directly: bool,
}

/// `mesh_gateway { mode }`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum MeshGatewayMode {
    #[default]
    Default,
    None,
    Local,
    Remote,
}

/// Where an upstream's name is looked up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DestinationType {
    #[default]
    Service,
    PreparedQuery,
}

/// One upstream of a proxy: a local listener forwarding to a mesh service.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Upstream {
    pub location: Option<Location>,
    pub destination_type: DestinationType,
    pub destination_name: String,
    pub destination_namespace: String,
    pub destination_partition: String,
    pub destination_peer: String,
    pub datacenter: String,
    /// Empty means 127.0.0.1 ([`crate::DEFAULT_LOCAL_ADDRESS`]).
    pub local_bind_address: String,
    pub local_bind_port: Option<u16>,
    pub local_bind_socket_path: String,
    pub local_bind_socket_mode: String,
    pub config: Opaque,
    pub mesh_gateway: MeshGatewayMode,
}

/// `proxy.expose`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expose {
    pub checks: bool,
    pub paths: Vec<ExposePath>,
}

/// One exposed HTTP path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExposePath {
    pub path: String,
    pub local_path_port: Option<u16>,
    pub listener_port: Option<u16>,
    /// `http` or `http2` (empty: http).
    pub protocol: String,
}

/// A health check: one of script `args`, `http`, `tcp`, `udp`, `grpc`, `h2ping`, `ttl`,
/// `alias_service`/`alias_node`, `docker_container_id` or `os_service`, with its timing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckDefinition {
    pub id: String,
    pub name: String,
    pub notes: String,
    /// The initial status (`passing`, `warning`, `critical`); empty: critical.
    pub status: String,
    pub service_id: String,
    pub args: Vec<String>,
    pub http: String,
    pub header: BTreeMap<String, Vec<String>>,
    pub method: String,
    pub body: String,
    pub disable_redirects: bool,
    pub tls_server_name: String,
    pub tls_skip_verify: bool,
    pub tcp: String,
    pub tcp_use_tls: bool,
    pub udp: String,
    pub grpc: String,
    pub grpc_use_tls: bool,
    pub h2ping: String,
    pub h2ping_use_tls: bool,
    pub os_service: String,
    pub alias_node: String,
    pub alias_service: String,
    pub docker_container_id: String,
    pub shell: String,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub ttl: Option<Duration>,
    pub deregister_critical_service_after: Option<Duration>,
    pub output_max_size: Option<u32>,
    pub success_before_passing: Option<u32>,
    pub failures_before_warning: Option<u32>,
    pub failures_before_critical: Option<u32>,
}

impl ServiceDefinition {
    /// The instance ID Consul uses: `id`, or the name when `id` is empty.
    pub fn service_id(&self) -> &str {
        match self.id.as_deref() {
            Some(id) if !id.is_empty() => id,
            _ => &self.name,
        }
    }

    /// The nested `connect.sidecar_service`, if any.
    pub fn sidecar_service(&self) -> Option<&ServiceDefinition> {
        self.connect.as_ref()?.sidecar_service.as_deref()
    }
}

impl ServiceKind {
    /// The kind as Consul spells it; empty for a typical service.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Typical => "",
            Self::ConnectProxy => "connect-proxy",
            Self::MeshGateway => "mesh-gateway",
            Self::TerminatingGateway => "terminating-gateway",
            Self::IngressGateway => "ingress-gateway",
            Self::ApiGateway => "api-gateway",
        }
    }

    pub fn is_gateway(self) -> bool {
        matches!(
            self,
            Self::MeshGateway | Self::TerminatingGateway | Self::IngressGateway | Self::ApiGateway
        )
    }
}

impl ProxyMode {
    /// As Consul spells it; empty when not set.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "",
            Self::Direct => "direct",
            Self::Transparent => "transparent",
        }
    }
}

impl MeshGatewayMode {
    /// As Consul spells it; empty when not set.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Default => "",
            Self::None => "none",
            Self::Local => "local",
            Self::Remote => "remote",
        }
    }
}

impl DestinationType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Service => "service",
            Self::PreparedQuery => "prepared_query",
        }
    }
}
