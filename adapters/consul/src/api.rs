//! Consul's JSON, as `/v1/health/service/:name` and `/v1/health/connect/:name` return it.
//!
//! Only the fields the mesh reads are declared; Consul sends many more, which are ignored
//! (Consul adds fields in every release, so this side must not reject unknown ones).
//! Everything defaults, since Consul omits empty fields in some versions and sends `null`
//! for empty maps and lists in others.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};

/// One element of a `/v1/health/…` answer: a service instance, its node and its checks.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct HealthEntry {
    pub node: Node,
    pub service: AgentService,
    #[serde(deserialize_with = "null_default")]
    pub checks: Vec<Check>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Node {
    pub node: String,
    pub address: String,
    pub datacenter: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct AgentService {
    /// `""` for a plain service, `connect-proxy`, or a gateway kind.
    pub kind: String,
    #[serde(rename = "ID")]
    pub id: String,
    pub service: String,
    #[serde(deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// Empty means the node's address.
    pub address: String,
    #[serde(deserialize_with = "null_default")]
    pub meta: BTreeMap<String, String>,
    pub port: u16,
    pub proxy: Option<ProxyConfig>,
    pub connect: Option<ServiceConnect>,
    pub locality: Option<ServiceLocality>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ServiceConnect {
    pub native: bool,
}

/// Consul 1.17's `Service.Locality`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ServiceLocality {
    pub region: String,
    pub zone: String,
}

/// `Service.Proxy` of a `connect-proxy` registration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ProxyConfig {
    pub destination_service_name: String,
    #[serde(rename = "DestinationServiceID")]
    pub destination_service_id: String,
    pub local_service_address: String,
    pub local_service_port: u16,
    #[serde(deserialize_with = "null_default")]
    pub upstreams: Vec<UpstreamConfig>,
    /// Opaque proxy settings; `bind_address` and `bind_port` move the public listener.
    #[serde(deserialize_with = "null_default")]
    pub config: serde_json::Map<String, serde_json::Value>,
    pub expose: Expose,
}

/// `Service.Proxy.Expose`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Expose {
    /// Expose every HTTP and gRPC check of the service (not supported: logged).
    pub checks: bool,
    #[serde(deserialize_with = "null_default")]
    pub paths: Vec<ExposePathConfig>,
}

/// One of `Service.Proxy.Expose.Paths`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ExposePathConfig {
    pub listener_port: u16,
    pub path: String,
    pub local_path_port: u16,
    pub protocol: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct UpstreamConfig {
    /// `service` (also when empty) or `prepared_query`.
    pub destination_type: String,
    pub destination_name: String,
    pub datacenter: String,
    pub local_bind_address: String,
    pub local_bind_port: u16,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct Check {
    #[serde(rename = "CheckID")]
    pub check_id: String,
    /// `passing`, `warning` or `critical`.
    pub status: String,
    /// Empty for a node check such as `serfHealth`.
    #[serde(rename = "ServiceID")]
    pub service_id: String,
}

/// `null` reads as the empty value, as Go's nil slices and maps encode.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}
