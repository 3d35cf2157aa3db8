//! The bodies of `PUT /v1/agent/service/register`, in the CamelCase JSON of Consul's API
//! (`api.AgentServiceRegistration`), built from a [`ServiceDefinition`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::model::Opaque;

mod convert;

/// One service registration: a service, a connect proxy, or a gateway.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceRegistration {
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub tagged_addresses: BTreeMap<String, AddressRegistration>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_path: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_tag_override: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weights: Option<WeightsRegistration>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckRegistration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<ProxyRegistration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<ConnectRegistration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality: Option<LocalityRegistration>,
}

/// A tagged address in the API: `{"Address": …, "Port": …}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AddressRegistration {
    pub address: String,
    pub port: u16,
}

/// `Weights`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct WeightsRegistration {
    pub passing: u32,
    pub warning: u32,
}

/// `Locality`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LocalityRegistration {
    pub region: String,
    pub zone: String,
}

/// `Connect`: native, or a nested sidecar the agent expands.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConnectRegistration {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub native: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar_service: Option<Box<ServiceRegistration>>,
}

/// `Proxy` of a connect proxy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProxyRegistration {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination_service_name: String,
    #[serde(
        rename = "DestinationServiceID",
        skip_serializing_if = "String::is_empty"
    )]
    pub destination_service_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_service_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_service_port: Option<u16>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_service_socket_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mode: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparent_proxy: Option<TransparentProxyRegistration>,
    #[serde(skip_serializing_if = "Opaque::is_empty")]
    pub config: Opaque,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamRegistration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_gateway: Option<MeshGatewayRegistration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose: Option<ExposeRegistration>,
}

/// `TransparentProxy`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransparentProxyRegistration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound_listener_port: Option<u16>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dialed_directly: bool,
}

/// `MeshGateway`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MeshGatewayRegistration {
    pub mode: String,
}

/// `Expose`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExposeRegistration {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub checks: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<ExposePathRegistration>,
}

/// One of `Expose.Paths`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExposePathRegistration {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_path_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_port: Option<u16>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub protocol: String,
}

/// One of `Proxy.Upstreams`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpstreamRegistration {
    pub destination_type: String,
    pub destination_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination_namespace: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination_partition: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub destination_peer: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub datacenter: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_bind_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_bind_port: Option<u16>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_bind_socket_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_bind_socket_mode: String,
    #[serde(skip_serializing_if = "Opaque::is_empty")]
    pub config: Opaque,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_gateway: Option<MeshGatewayRegistration>,
}

/// One check (`api.AgentServiceCheck`); durations as Go duration strings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CheckRegistration {
    #[serde(rename = "CheckID", skip_serializing_if = "String::is_empty")]
    pub check_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub notes: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(rename = "HTTP", skip_serializing_if = "String::is_empty")]
    pub http: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub header: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub method: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub body: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disable_redirects: bool,
    #[serde(rename = "TLSServerName", skip_serializing_if = "String::is_empty")]
    pub tls_server_name: String,
    #[serde(rename = "TLSSkipVerify", skip_serializing_if = "std::ops::Not::not")]
    pub tls_skip_verify: bool,
    #[serde(rename = "TCP", skip_serializing_if = "String::is_empty")]
    pub tcp: String,
    #[serde(rename = "TCPUseTLS", skip_serializing_if = "std::ops::Not::not")]
    pub tcp_use_tls: bool,
    #[serde(rename = "UDP", skip_serializing_if = "String::is_empty")]
    pub udp: String,
    #[serde(rename = "GRPC", skip_serializing_if = "String::is_empty")]
    pub grpc: String,
    #[serde(rename = "GRPCUseTLS", skip_serializing_if = "std::ops::Not::not")]
    pub grpc_use_tls: bool,
    #[serde(rename = "H2PING", skip_serializing_if = "String::is_empty")]
    pub h2ping: String,
    #[serde(rename = "H2PingUseTLS", skip_serializing_if = "std::ops::Not::not")]
    pub h2ping_use_tls: bool,
    #[serde(rename = "OSService", skip_serializing_if = "String::is_empty")]
    pub os_service: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias_node: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub alias_service: String,
    #[serde(rename = "DockerContainerID", skip_serializing_if = "String::is_empty")]
    pub docker_container_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub shell: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub interval: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub timeout: String,
    #[serde(rename = "TTL", skip_serializing_if = "String::is_empty")]
    pub ttl: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub deregister_critical_service_after: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_max_size: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_before_passing: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_before_warning: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failures_before_critical: Option<u32>,
}

/// A duration as Go's `time.ParseDuration` reads it: `10s`, `150ms`, `7ns`.
pub fn go_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}ns", d.as_nanos())
    }
}
