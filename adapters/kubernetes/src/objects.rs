//! The boundary: Kubernetes objects reduced to the few fields the mapping reads.
//!
//! Everything Kubernetes-typed stops here; [`crate::mapping`] only sees these plain structs.

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Service, ServicePort};
use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::config::Scope;
use crate::mapping::ANNOTATION_SERVICE_PORT;
use crate::registry::Tables;

/// The label that ties an EndpointSlice to its Service.
pub(crate) const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// An object's namespace and name.
pub(crate) type Key = (String, String);

/// What the mapping needs of a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceInfo {
    pub namespace: String,
    pub name: String,
    pub ports: Vec<PortInfo>,
    /// The value of [`ANNOTATION_SERVICE_PORT`], if set.
    pub port_annotation: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortInfo {
    /// Empty for the unnamed port of a single-port Service.
    pub name: String,
    pub port: i32,
    /// A named `targetPort`; numeric ones are resolved by the slices already.
    pub target_name: Option<String>,
    pub app_protocol: Option<String>,
    pub tcp: bool,
}

/// What the mapping needs of an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SliceInfo {
    pub namespace: String,
    pub name: String,
    /// The `kubernetes.io/service-name` label.
    pub service: String,
    pub endpoints: Vec<EndpointInfo>,
    pub ports: Vec<SlicePortInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EndpointInfo {
    pub address: IpAddr,
    pub ready: bool,
    pub serving: bool,
    pub terminating: bool,
    pub node: Option<String>,
    pub zone: Option<String>,
    pub pod: Option<String>,
    pub hostname: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SlicePortInfo {
    pub name: String,
    pub port: Option<u16>,
    pub app_protocol: Option<String>,
    pub tcp: bool,
}

/// An object the watches keep: its key, and its reduced form (`None` for one the mapping ignores).
pub(crate) trait Watched:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + k8s_openapi::serde::de::DeserializeOwned
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Info: Clone + Send + 'static;
    /// The resource's plural, for messages.
    const PLURAL: &'static str;
    /// The label selector of the watch, if any.
    const SELECTOR: Option<&'static str>;

    fn info(&self) -> Option<Self::Info>;

    /// Where the registry keeps this kind, per scope.
    fn table(tables: &mut Tables) -> &mut BTreeMap<Scope, BTreeMap<Key, Self::Info>>;
}

pub(crate) fn key_of<K: kube::Resource>(object: &K) -> Key {
    let meta = object.meta();
    (
        meta.namespace.clone().unwrap_or_default(),
        meta.name.clone().unwrap_or_default(),
    )
}

impl Watched for Service {
    type Info = ServiceInfo;
    const PLURAL: &'static str = "services";
    const SELECTOR: Option<&'static str> = None;

    fn table(tables: &mut Tables) -> &mut BTreeMap<Scope, BTreeMap<Key, ServiceInfo>> {
        &mut tables.services
    }

    fn info(&self) -> Option<ServiceInfo> {
        let spec = self.spec.as_ref()?;
        if spec.type_.as_deref() == Some("ExternalName") {
            return None;
        }
        let (namespace, name) = key_of(self);
        Some(ServiceInfo {
            namespace,
            name,
            ports: spec.ports.iter().flatten().map(port_info).collect(),
            port_annotation: self
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(ANNOTATION_SERVICE_PORT))
                .cloned(),
        })
    }
}

fn port_info(p: &ServicePort) -> PortInfo {
    PortInfo {
        name: p.name.clone().unwrap_or_default(),
        port: p.port,
        target_name: match &p.target_port {
            Some(IntOrString::String(s)) => Some(s.clone()),
            _ => None,
        },
        app_protocol: p.app_protocol.clone(),
        tcp: is_tcp(p.protocol.as_deref()),
    }
}

impl Watched for EndpointSlice {
    type Info = SliceInfo;
    const PLURAL: &'static str = "endpointslices";
    const SELECTOR: Option<&'static str> = Some(LABEL_SERVICE_NAME);

    fn table(tables: &mut Tables) -> &mut BTreeMap<Scope, BTreeMap<Key, SliceInfo>> {
        &mut tables.slices
    }

    fn info(&self) -> Option<SliceInfo> {
        let service = self
            .metadata
            .labels
            .as_ref()?
            .get(LABEL_SERVICE_NAME)?
            .clone();
        let (namespace, name) = key_of(self);
        let ip = matches!(self.address_type.as_str(), "IPv4" | "IPv6");
        Some(SliceInfo {
            endpoints: if ip {
                self.endpoints
                    .iter()
                    .filter_map(|e| endpoint_info(e, &name))
                    .collect()
            } else {
                Vec::new()
            },
            namespace,
            name,
            service,
            ports: self.ports.iter().flatten().map(slice_port_info).collect(),
        })
    }
}

fn endpoint_info(e: &Endpoint, slice: &str) -> Option<EndpointInfo> {
    let first = e.addresses.first()?;
    let Ok(address) = first.parse::<IpAddr>() else {
        tracing::debug!(slice, address = %first, "skipping an endpoint whose address is not an IP");
        return None;
    };
    let conditions = e.conditions.as_ref();
    // the API's documented defaults for unset conditions
    let ready = conditions.and_then(|c| c.ready).unwrap_or(true);
    let serving = conditions.and_then(|c| c.serving).unwrap_or(ready);
    let terminating = conditions.and_then(|c| c.terminating).unwrap_or(false);
    let pod = e
        .target_ref
        .as_ref()
        .filter(|r| r.kind.as_deref() == Some("Pod"))
        .and_then(|r| r.name.clone());
    Some(EndpointInfo {
        address,
        ready,
        serving,
        terminating,
        node: e.node_name.clone(),
        zone: e.zone.clone(),
        pod,
        hostname: e.hostname.clone(),
    })
}

fn slice_port_info(p: &EndpointPort) -> SlicePortInfo {
    SlicePortInfo {
        name: p.name.clone().unwrap_or_default(),
        port: p.port.and_then(|n| u16::try_from(n).ok()),
        app_protocol: p.app_protocol.clone(),
        tcp: is_tcp(p.protocol.as_deref()),
    }
}

/// Ports are TCP unless they say otherwise (the API's default).
fn is_tcp(protocol: Option<&str>) -> bool {
    protocol.is_none_or(|p| p == "TCP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slice_from_the_api_docs_reduces_to_its_fields() {
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": { "name": "example-abc", "namespace": "default",
                          "labels": { "kubernetes.io/service-name": "example" } },
            "addressType": "IPv4",
            "ports": [{ "name": "http", "protocol": "TCP", "port": 80 }],
            "endpoints": [
                { "addresses": ["10.1.2.3"], "conditions": { "ready": true },
                  "hostname": "pod-1", "nodeName": "node-1", "zone": "us-west2-a" },
                { "addresses": ["10.1.2.4"], "conditions": { "ready": false, "terminating": true } },
                { "addresses": ["not-an-ip"] }
            ]
        }))
        .expect("slice");
        let info = slice.info().expect("info");
        assert_eq!(info.service, "example");
        assert_eq!(info.ports[0].port, Some(80));
        assert_eq!(info.endpoints.len(), 2);
        let e = &info.endpoints[0];
        assert!(e.ready && e.serving && !e.terminating);
        assert_eq!(e.zone.as_deref(), Some("us-west2-a"));
        assert_eq!(e.hostname.as_deref(), Some("pod-1"));
        let e = &info.endpoints[1];
        assert!(!e.ready && !e.serving && e.terminating);
    }

    #[test]
    fn external_name_services_and_unlabelled_slices_are_ignored() {
        let svc: Service = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "db", "namespace": "default" },
            "spec": { "type": "ExternalName", "externalName": "db.example.com" }
        }))
        .expect("service");
        assert_eq!(svc.info(), None);
        let slice: EndpointSlice = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "x", "namespace": "default" },
            "addressType": "IPv4", "endpoints": []
        }))
        .expect("slice");
        assert_eq!(slice.info(), None);
    }
}
