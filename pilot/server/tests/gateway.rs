//! Ingress gateways over a running Pilot with a raw ADS client: a gateway node id gets the
//! listeners of its `ingress-gateway` entry, waits (with a problem in its status) while the
//! entry is missing, follows edits of the entry; a mesh gateway is refused, and a terminating
//! gateway in a plaintext mesh gets nothing and says why.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use rigging_mesh_config_entries::parse_str;
use rigging_mesh_model::{Catalog, Health, Protocol};
use rigging_mesh_test_util::{catalog, endpoint, service};
use rigging_mesh_xds::{Listener, ResourceType, RouteConfiguration, unpack};
use rigging_pilot_server::{Entries, PilotHandle, PilotOptions};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const WAIT: Duration = Duration::from_secs(5);
const EDGE: &str = "ingress-gateway~127.0.0.1~edge";

fn mesh() -> Catalog {
    catalog(
        vec![
            service(
                "api",
                Protocol::Http,
                vec![endpoint("api-1", "127.0.0.1:21001", Health::Passing, "a")],
            ),
            service(
                "db",
                Protocol::Tcp,
                vec![endpoint("db-1", "127.0.0.1:21002", Health::Passing, "a")],
            ),
        ],
        vec![],
    )
}

/// The entries of HCL documents, one entry each.
fn entries(docs: &[&str]) -> Arc<Entries> {
    let mut all = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let loaded = parse_str(Path::new(&format!("entry-{i}.hcl")), d);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        all.extend(loaded.entries);
    }
    Arc::new(Entries::new(all))
}

const DEFAULTS: &str = r#"
Kind = "service-defaults"
Name = "api"
Protocol = "http"
"#;

fn edge(hosts: &str) -> String {
    format!(
        r#"
Kind = "ingress-gateway"
Name = "edge"
Listeners = [
  {{ Port = 8080, Protocol = "http", Services = [ {{ Name = "api", Hosts = [{hosts}] }} ] }},
  {{ Port = 9000, Protocol = "tcp", Services = [ {{ Name = "db" }} ] }},
]
"#
    )
}

/// Pilot on [`mesh`] and `e`; the senders of both inputs, kept by the test.
async fn pilot(
    e: Arc<Entries>,
) -> (
    PilotHandle,
    watch::Sender<Arc<Entries>>,
    watch::Sender<Arc<Catalog>>,
) {
    let (cat_tx, cat_rx) = watch::channel(Arc::new(mesh()));
    let (tx, rx) = watch::channel(e);
    let opts = PilotOptions {
        xds_addr: "127.0.0.1:0".parse().unwrap(),
        debug_addr: "127.0.0.1:0".parse().unwrap(),
        debounce: Duration::from_millis(10),
        debounce_max: Duration::from_millis(100),
        ..PilotOptions::default()
    };
    let handle = rigging_pilot_server::start_with_entries(opts, cat_rx, Some(rx), None)
        .await
        .unwrap();
    (handle, tx, cat_tx)
}

struct Client {
    tx: mpsc::Sender<DiscoveryRequest>,
    rx: Streaming<DiscoveryResponse>,
}

impl Client {
    async fn connect(pilot: &PilotHandle) -> Client {
        let mut ads =
            AggregatedDiscoveryServiceClient::connect(format!("http://{}", pilot.xds_addr()))
                .await
                .unwrap();
        let (tx, rx) = mpsc::channel(16);
        let rx = ads
            .stream_aggregated_resources(ReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        Client { tx, rx }
    }

    async fn subscribe(&self, node: &str, ty: ResourceType, names: &[&str]) {
        let req = DiscoveryRequest {
            node: Some(Node {
                id: node.to_owned(),
                ..Default::default()
            }),
            type_url: ty.type_url().to_owned(),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        self.tx.send(req).await.unwrap();
    }

    /// ACKs `r`, subscribed to `names` (as subscribed before, or the resources are resent).
    async fn ack(&self, r: &DiscoveryResponse, names: &[&str]) {
        let req = DiscoveryRequest {
            type_url: r.type_url.clone(),
            resource_names: names.iter().map(|s| s.to_string()).collect(),
            version_info: r.version_info.clone(),
            response_nonce: r.nonce.clone(),
            ..Default::default()
        };
        self.tx.send(req).await.unwrap();
    }

    async fn next(&mut self) -> Result<DiscoveryResponse, tonic::Status> {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("a response in time")
            .map(|r| r.unwrap())
    }
}

fn listeners(r: &DiscoveryResponse) -> Vec<String> {
    r.resources
        .iter()
        .map(|a| {
            unpack::<Listener>(ResourceType::Listener.type_url(), a)
                .unwrap()
                .name
        })
        .collect()
}

fn problem(pilot: &PilotHandle, node: &str) -> Option<String> {
    pilot
        .status()
        .into_iter()
        .find(|p| p.proxy == node)
        .and_then(|p| p.problem)
}

#[tokio::test]
async fn a_gateway_waits_for_its_entry_then_follows_its_edits() {
    let (pilot, entries_tx, _cat) = pilot(entries(&[DEFAULTS])).await;
    let mut c = Client::connect(&pilot).await;
    c.subscribe(EDGE, ResourceType::Listener, &[]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while problem(&pilot, EDGE).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no problem recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        problem(&pilot, EDGE).unwrap(),
        "ingress gateway edge has no ingress-gateway config entry"
    );

    entries_tx
        .send(entries(&[DEFAULTS, &edge(r#""api.example.com""#)]))
        .unwrap();
    let lds = c.next().await.unwrap();
    assert_eq!(
        listeners(&lds),
        ["ingress:127.0.0.1:8080", "ingress:127.0.0.1:9000"]
    );
    c.ack(&lds, &[]).await;
    c.subscribe(EDGE, ResourceType::Route, &["ingress:8080"])
        .await;
    let rds = c.next().await.unwrap();
    let rc: RouteConfiguration = unpack(ResourceType::Route.type_url(), &rds.resources[0]).unwrap();
    assert_eq!(
        rc.virtual_hosts[0].domains,
        ["api.example.com", "api.example.com:8080"]
    );
    c.ack(&rds, &["ingress:8080"]).await;
    assert_eq!(problem(&pilot, EDGE), None);

    entries_tx
        .send(entries(&[
            DEFAULTS,
            &edge(r#""api.example.com", "api.example.org""#),
        ]))
        .unwrap();
    let rds = c.next().await.unwrap();
    assert_eq!(
        rds.type_url,
        ResourceType::Route.type_url(),
        "only RDS changed"
    );
    let rc: RouteConfiguration = unpack(ResourceType::Route.type_url(), &rds.resources[0]).unwrap();
    assert!(
        rc.virtual_hosts[0]
            .domains
            .contains(&"api.example.org".to_owned()),
        "{:?}",
        rc.virtual_hosts[0].domains
    );
    pilot.shutdown().await;
}

#[tokio::test]
async fn a_tls_listener_is_reported_in_the_status() {
    let tls = r#"
Kind = "ingress-gateway"
Name = "edge"
TLS { Enabled = true }
Listeners = [ { Port = 8443, Protocol = "http", Services = [ { Name = "api", Hosts = ["api.example.com"] } ] } ]
"#;
    let (pilot, _entries, _cat) = pilot(entries(&[DEFAULTS, tls])).await;
    let mut c = Client::connect(&pilot).await;
    c.subscribe(EDGE, ResourceType::Listener, &[]).await;
    let lds = c.next().await.unwrap();
    assert!(listeners(&lds).is_empty());
    let p = problem(&pilot, EDGE).unwrap();
    assert!(p.contains("port 8443") && p.contains("TLS"), "{p}");
    pilot.shutdown().await;
}

#[tokio::test]
async fn a_mesh_gateway_is_refused() {
    let (pilot, _entries, _cat) = pilot(entries(&[DEFAULTS])).await;
    let mut c = Client::connect(&pilot).await;
    c.subscribe("mesh-gateway~127.0.0.1~wan", ResourceType::Cluster, &[])
        .await;
    let err = c.next().await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented);
    assert!(err.message().contains("not supported"), "{}", err.message());
    pilot.shutdown().await;
}

/// A terminating gateway tells services apart by the SNI of its callers' mTLS: in a
/// plaintext mesh nothing is sent to it, and its status says why.
#[tokio::test]
async fn a_terminating_gateway_needs_mtls() {
    let out = r#"
Kind = "terminating-gateway"
Name = "out"
Services = [ { Name = "billing" } ]
"#;
    let (pilot, _entries, _cat) = pilot(entries(&[DEFAULTS, out])).await;
    let node = "terminating-gateway~127.0.0.1~out";
    let c = Client::connect(&pilot).await;
    c.subscribe(node, ResourceType::Cluster, &[]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while problem(&pilot, node).is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no problem recorded"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let p = problem(&pilot, node).unwrap();
    assert!(p.contains("without mTLS") && p.contains("SNI"), "{p}");
    pilot.shutdown().await;
}
