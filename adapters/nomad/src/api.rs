//! Nomad's JSON for native service discovery, and its conversion into the service model.
//!
//! The structs follow `/v1/services` and `/v1/service/:name` as Nomad's API docs show them; they
//! stop here: [`endpoint`] and [`model_name`] turn them into model types.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use rigging_mesh_model::{Endpoint, Health, Locality, NameError, ServiceName};
use serde::Deserialize;

/// Metadata keys set on every Nomad endpoint.
pub const META_NAMESPACE: &str = "namespace";
pub const META_DATACENTER: &str = "datacenter";
pub const META_JOB: &str = "job";
pub const META_ALLOC: &str = "alloc_id";
pub const META_NODE: &str = "node_id";

/// One namespace's entry in `GET /v1/services`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct NamespaceServices {
    pub namespace: String,
    #[serde(default)]
    pub services: Option<Vec<ServiceStub>>,
}

/// One service in `GET /v1/services`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ServiceStub {
    pub service_name: String,
}

/// One registration in `GET /v1/service/:name`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Registration {
    #[serde(rename = "ID")]
    pub id: String,
    pub service_name: String,
    pub namespace: String,
    #[serde(default, rename = "NodeID")]
    pub node_id: String,
    #[serde(default)]
    pub datacenter: String,
    #[serde(default, rename = "JobID")]
    pub job_id: String,
    #[serde(default, rename = "AllocID")]
    pub alloc_id: String,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    pub address: String,
    pub port: i64,
}

/// Why a registration gives no endpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SkipReason {
    #[error("address {0:?} is not an IP address (host names are not resolved)")]
    Address(String),
    #[error("port {0} is out of range")]
    Port(i64),
}

/// The model's name for service `service` of namespace `namespace`: the plain name in the
/// primary namespace, `<service>.<namespace>` in any other.
pub(crate) fn model_name(
    service: &str,
    namespace: &str,
    primary: &str,
) -> Result<ServiceName, NameError> {
    if namespace == primary {
        ServiceName::new(service)
    } else {
        ServiceName::new(format!("{service}.{namespace}"))
    }
}

/// The endpoint of one registration: healthy (this API has no checks), no sidecar (native
/// services have no Connect), located in `region` and the registration's datacenter.
pub(crate) fn endpoint(r: &Registration, region: &str) -> Result<Endpoint, SkipReason> {
    let ip: IpAddr = r
        .address
        .parse()
        .map_err(|_| SkipReason::Address(r.address.clone()))?;
    let port = u16::try_from(r.port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or(SkipReason::Port(r.port))?;
    let metadata = BTreeMap::from([
        (META_NAMESPACE.to_owned(), r.namespace.clone()),
        (META_DATACENTER.to_owned(), r.datacenter.clone()),
        (META_JOB.to_owned(), r.job_id.clone()),
        (META_ALLOC.to_owned(), r.alloc_id.clone()),
        (META_NODE.to_owned(), r.node_id.clone()),
    ]);
    Ok(Endpoint {
        instance: r.id.clone(),
        address: SocketAddr::new(ip, port),
        health: Health::Passing,
        locality: Locality {
            region: region.to_owned(),
            zone: r.datacenter.clone(),
        },
        metadata,
        sidecar: false,
        tags: r.tags.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCS_SAMPLE: &str = r#"[{"Address":"127.0.0.1","AllocID":"177160af-26f6-619f-9c9f-5e46d1104395",
        "CreateIndex":14,"Datacenter":"dc1",
        "ID":"_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-redis-example-cache-redis-db",
        "JobID":"example","ModifyIndex":24,"Namespace":"default",
        "NodeID":"7406e90b-de16-d118-80fe-60d0f2730cb3","Port":29702,
        "ServiceName":"example-cache-redis","Tags":["db","cache"]}]"#;

    fn sample() -> Registration {
        let mut regs: Vec<Registration> = serde_json::from_str(DOCS_SAMPLE).expect("docs sample");
        regs.remove(0)
    }

    #[test]
    fn docs_sample_maps_to_an_endpoint() {
        let e = endpoint(&sample(), "global").expect("endpoint");
        assert_eq!(e.address, "127.0.0.1:29702".parse().expect("addr"));
        assert_eq!(
            e.instance,
            "_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-redis-example-cache-redis-db"
        );
        assert_eq!(e.tags, ["db", "cache"]);
        assert_eq!(e.health, Health::Passing);
        assert!(!e.sidecar);
        assert_eq!(e.locality.zone, "dc1");
        assert_eq!(e.metadata[META_JOB], "example");
        assert_eq!(e.metadata[META_NAMESPACE], "default");
        assert_eq!(
            e.metadata[META_ALLOC],
            "177160af-26f6-619f-9c9f-5e46d1104395"
        );
        assert_eq!(
            e.metadata[META_NODE],
            "7406e90b-de16-d118-80fe-60d0f2730cb3"
        );
        assert_eq!(e.metadata[META_DATACENTER], "dc1");
    }

    #[test]
    fn bad_registrations_are_skipped() {
        let mut r = sample();
        r.address = "redis.service.local".to_owned();
        assert!(matches!(endpoint(&r, ""), Err(SkipReason::Address(_))));
        let mut r = sample();
        r.port = 70000;
        assert_eq!(endpoint(&r, ""), Err(SkipReason::Port(70000)));
        let mut r = sample();
        r.address = "::1".to_owned();
        r.tags = None;
        let e = endpoint(&r, "").expect("ipv6");
        assert_eq!(e.address, "[::1]:29702".parse().expect("addr"));
        assert!(e.tags.is_empty());
    }

    #[test]
    fn names_by_namespace() {
        let name = |s, ns| model_name(s, ns, "default").expect("name").to_string();
        assert_eq!(name("api", "default"), "api");
        assert_eq!(name("api", "staging"), "api.staging");
        assert_eq!(
            model_name("api", "prod", "prod").expect("name").as_str(),
            "api"
        );
    }

    #[test]
    fn service_list_parses() {
        let list: Vec<NamespaceServices> = serde_json::from_str(
            r#"[{"Namespace":"default","Services":[{"ServiceName":"example-cache-redis","Tags":["cache","db"]}]}]"#,
        )
        .expect("docs sample");
        let services = list[0].services.as_deref().unwrap_or_default();
        assert_eq!(services[0].service_name, "example-cache-redis");
    }
}
