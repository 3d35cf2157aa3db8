//! The bodies the fake serves, built from the sample of Consul's API docs: health entries of
//! instances and of their sidecars.

use serde_json::{Value, json};

/// The `/v1/health/service/my-service` sample response of Consul's API docs (health.mdx).
pub const HEALTH_SERVICE_SAMPLE: &str = r#"[
  {
    "Node": {
      "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
      "Node": "foobar",
      "Address": "10.1.10.12",
      "Datacenter": "dc1",
      "TaggedAddresses": { "lan": "10.1.10.12", "wan": "10.1.10.12" },
      "Meta": { "instance_type": "t2.medium" }
    },
    "Service": {
      "ID": "redis",
      "Service": "redis",
      "Tags": ["primary"],
      "Address": "10.1.10.12",
      "TaggedAddresses": {
        "lan": { "address": "10.1.10.12", "port": 8000 },
        "wan": { "address": "198.18.1.2", "port": 80 }
      },
      "Meta": { "redis_version": "4.0" },
      "Port": 8000,
      "Weights": { "Passing": 10, "Warning": 1 },
      "Namespace": "default"
    },
    "Checks": [
      {
        "Node": "foobar",
        "CheckID": "service:redis",
        "Name": "Service 'redis' check",
        "Status": "passing",
        "Notes": "",
        "Output": "",
        "ServiceID": "redis",
        "ServiceName": "redis",
        "ServiceTags": ["primary"],
        "Namespace": "default"
      },
      {
        "Node": "foobar",
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Notes": "",
        "Output": "",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Namespace": "default"
      }
    ]
  }
]"#;

/// An instance of `service` with ID `id` at `addr:port` on `node` (address `node_addr`),
/// shaped as the docs' sample: a passing service check and a passing `serfHealth`.
pub fn instance(
    node: &str,
    node_addr: &str,
    service: &str,
    id: &str,
    addr: &str,
    port: u16,
) -> Value {
    let sample: Vec<Value> = serde_json::from_str(HEALTH_SERVICE_SAMPLE).expect("docs sample");
    let mut e = sample.into_iter().next().expect("one sample entry");
    e["Node"]["Node"] = json!(node);
    e["Node"]["Address"] = json!(node_addr);
    e["Node"]["TaggedAddresses"] = json!({ "lan": node_addr, "wan": node_addr });
    let svc = &mut e["Service"];
    svc["ID"] = json!(id);
    svc["Service"] = json!(service);
    svc["Address"] = json!(addr);
    svc["Port"] = json!(port);
    svc["Tags"] = json!([]);
    svc["Meta"] = json!({});
    svc["TaggedAddresses"] = json!({ "lan": { "address": addr, "port": port } });
    for c in checks_mut(&mut e) {
        c["Node"] = json!(node);
        if c["CheckID"] != "serfHealth" {
            c["CheckID"] = json!(format!("service:{id}"));
            c["Name"] = json!(format!("Service '{service}' check"));
            c["ServiceID"] = json!(id);
            c["ServiceName"] = json!(service);
            c["ServiceTags"] = json!([]);
        }
    }
    e
}

/// The sidecar Consul registers for instance `parent_id` of `service` (`sidecar_service {}`):
/// ID `<parent_id>-sidecar-proxy`, `Kind = "connect-proxy"`, listening on `node_addr:port`,
/// the app on `127.0.0.1:local_port`, with `upstreams` as (service, local bind port).
pub fn sidecar(
    node: &str,
    node_addr: &str,
    service: &str,
    parent_id: &str,
    port: u16,
    local_port: u16,
    upstreams: &[(&str, u16)],
) -> Value {
    let id = format!("{parent_id}-sidecar-proxy");
    let mut e = instance(
        node,
        node_addr,
        &format!("{service}-sidecar-proxy"),
        &id,
        "",
        port,
    );
    e["Service"]["Kind"] = json!("connect-proxy");
    e["Service"]["Proxy"] = json!({
        "DestinationServiceName": service,
        "DestinationServiceID": parent_id,
        "LocalServiceAddress": "127.0.0.1",
        "LocalServicePort": local_port,
        "Mode": "",
        "Config": {},
        "MeshGateway": {},
        "Expose": {},
        "Upstreams": upstreams.iter().map(|(name, bind)| json!({
            "DestinationType": "service",
            "DestinationName": name,
            "Datacenter": "",
            "LocalBindPort": bind,
            "MeshGateway": {},
        })).collect::<Vec<_>>(),
    });
    if let Some(c) = checks_mut(&mut e).find(|c| c["CheckID"] != "serfHealth") {
        c["Name"] = json!("Connect Sidecar Listening");
    }
    e
}

pub(super) fn checks_mut(e: &mut Value) -> impl Iterator<Item = &mut Value> {
    e["Checks"].as_array_mut().into_iter().flatten()
}
