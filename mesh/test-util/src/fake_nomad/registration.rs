//! Service registrations as Nomad's API spells them, and the sample of its API docs.

use serde::{Deserialize, Serialize};

/// The sample response of `GET /v1/service/example-cache-redis`, verbatim from Nomad's API docs.
pub const DOCS_SERVICE_SAMPLE: &str = r#"[
  {
    "Address": "127.0.0.1",
    "AllocID": "177160af-26f6-619f-9c9f-5e46d1104395",
    "CreateIndex": 14,
    "Datacenter": "dc1",
    "ID": "_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-redis-example-cache-redis-db",
    "JobID": "example",
    "ModifyIndex": 24,
    "Namespace": "default",
    "NodeID": "7406e90b-de16-d118-80fe-60d0f2730cb3",
    "Port": 29702,
    "ServiceName": "example-cache-redis",
    "Tags": [
      "db",
      "cache"
    ]
  },
  {
    "Address": "127.0.0.1",
    "AllocID": "ba731da0-6df9-9858-ef23-806e9758a899",
    "CreateIndex": 35,
    "Datacenter": "dc1",
    "ID": "_nomad-task-ba731da0-6df9-9858-ef23-806e9758a899-redis-example-cache-redis-db",
    "JobID": "example",
    "ModifyIndex": 35,
    "Namespace": "default",
    "NodeID": "7406e90b-de16-d118-80fe-60d0f2730cb3",
    "Port": 27232,
    "ServiceName": "example-cache-redis",
    "Tags": [
      "db",
      "cache"
    ]
  }
]"#;

/// One service registration, as Nomad's API spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Registration {
    pub address: String,
    #[serde(rename = "AllocID")]
    pub alloc_id: String,
    pub create_index: u64,
    pub datacenter: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub modify_index: u64,
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub port: u16,
    pub service_name: String,
    pub tags: Vec<String>,
}

impl Registration {
    /// A registration of `service` in namespace `default`, with Nomad's ID layout.
    pub fn new(service: &str, alloc: &str, address: &str, port: u16) -> Self {
        Self {
            address: address.to_owned(),
            alloc_id: alloc.to_owned(),
            create_index: 0,
            datacenter: "dc1".to_owned(),
            id: format!("_nomad-task-{alloc}-task-{service}-http"),
            job_id: "example".to_owned(),
            modify_index: 0,
            namespace: "default".to_owned(),
            node_id: "7406e90b-de16-d118-80fe-60d0f2730cb3".to_owned(),
            port,
            service_name: service.to_owned(),
            tags: Vec::new(),
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    pub fn with_tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }
}

/// The registrations of [`DOCS_SERVICE_SAMPLE`].
pub fn docs_registrations() -> Vec<Registration> {
    serde_json::from_str(DOCS_SERVICE_SAMPLE).expect("the docs sample parses")
}
