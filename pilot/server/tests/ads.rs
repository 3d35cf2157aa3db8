//! xDS protocol tests against a running Pilot with a raw ADS client: subscription, ACK, NACK,
//! by-name EDS, pushes on change, unknown proxies, stale nonces and bad first requests.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::rpc::Status as RpcStatus;
use rigging_mesh_model::{Catalog, Health, Protocol};
use rigging_mesh_test_util::{catalog, endpoint, proxy, service};
use rigging_mesh_xds::{ClusterLoadAssignment, ResourceType, unpack};
use rigging_pilot_server::{PilotHandle, PilotOptions, SyncState};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::Streaming;

const WAIT: Duration = Duration::from_secs(5);

fn demo() -> Catalog {
    catalog(
        vec![
            service(
                "web",
                Protocol::Http,
                vec![endpoint("web-1", "127.0.0.1:21000", Health::Passing, "a")],
            ),
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
        vec![proxy(
            "web-1",
            "web",
            21000,
            8080,
            &[("api", 9191), ("db", 9192)],
        )],
    )
}

async fn pilot(cat: Catalog) -> (PilotHandle, watch::Sender<Arc<Catalog>>) {
    let (tx, rx) = watch::channel(Arc::new(cat));
    let opts = PilotOptions {
        xds_addr: "127.0.0.1:0".parse().unwrap(),
        debug_addr: "127.0.0.1:0".parse().unwrap(),
        debounce: Duration::from_millis(10),
        debounce_max: Duration::from_millis(100),
        ..PilotOptions::default()
    };
    (
        rigging_pilot_server::start(opts, rx, None).await.unwrap(),
        tx,
    )
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

    async fn request(
        &self,
        node: Option<&str>,
        ty: ResourceType,
        names: &[&str],
        version: &str,
        nonce: &str,
        error: Option<&str>,
    ) {
        self.tx
            .send(DiscoveryRequest {
                node: node.map(|id| Node {
                    id: id.to_owned(),
                    ..Default::default()
                }),
                type_url: ty.type_url().to_owned(),
                resource_names: names.iter().map(|s| s.to_string()).collect(),
                version_info: version.to_owned(),
                response_nonce: nonce.to_owned(),
                error_detail: error.map(|m| RpcStatus {
                    code: 3,
                    message: m.to_owned(),
                    details: vec![],
                }),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn next(&mut self) -> DiscoveryResponse {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("a response in time")
            .unwrap()
            .unwrap()
    }

    async fn nothing_for(&mut self, d: Duration) {
        if let Ok(r) = tokio::time::timeout(d, self.rx.message()).await {
            panic!("expected no response, got {r:?}");
        }
    }
}

async fn wait_state(pilot: &PilotHandle, proxy: &str, ty: &str, want: SyncState) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let st = pilot.status().into_iter().find(|p| p.proxy == proxy);
        if st.as_ref().and_then(|p| p.types.get(ty)).map(|t| t.state()) == Some(want) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{proxy} {ty} never reached {want:?}: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn subscribe_ack_and_status() {
    let (pilot, _cat) = pilot(demo()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(Some("web-1"), ResourceType::Cluster, &[], "", "", None)
        .await;
    let r = c.next().await;
    assert_eq!(r.type_url, ResourceType::Cluster.type_url());
    assert_eq!(r.resources.len(), 3, "local_app, api, db");
    assert!(!r.version_info.is_empty() && !r.nonce.is_empty());
    wait_state(&pilot, "web-1", "CDS", SyncState::Stale).await;
    c.request(
        None,
        ResourceType::Cluster,
        &[],
        &r.version_info,
        &r.nonce,
        None,
    )
    .await;
    wait_state(&pilot, "web-1", "CDS", SyncState::Synced).await;
    let st = pilot
        .status()
        .into_iter()
        .find(|p| p.proxy == "web-1")
        .unwrap();
    assert!(st.connected);
    assert_eq!(
        st.types["CDS"].acked_version.as_deref(),
        Some(r.version_info.as_str())
    );
    pilot.shutdown().await;
}

#[tokio::test]
async fn nack_is_recorded_with_its_reason_and_nothing_is_resent() {
    let (pilot, _cat) = pilot(demo()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(Some("web-1"), ResourceType::Listener, &[], "", "", None)
        .await;
    let r = c.next().await;
    c.request(
        None,
        ResourceType::Listener,
        &[],
        "",
        &r.nonce,
        Some("listener port taken"),
    )
    .await;
    wait_state(&pilot, "web-1", "LDS", SyncState::Nacked).await;
    let st = pilot
        .status()
        .into_iter()
        .find(|p| p.proxy == "web-1")
        .unwrap();
    assert_eq!(st.types["LDS"].nack.as_deref(), Some("listener port taken"));
    c.nothing_for(Duration::from_millis(200)).await;
    pilot.shutdown().await;
}

#[tokio::test]
async fn eds_by_name_and_push_on_change() {
    let (pilot, cat) = pilot(demo()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(
        Some("web-1"),
        ResourceType::Endpoint,
        &["api"],
        "",
        "",
        None,
    )
    .await;
    let r = c.next().await;
    assert_eq!(r.resources.len(), 1);
    let cla: ClusterLoadAssignment =
        unpack(ResourceType::Endpoint.type_url(), &r.resources[0]).unwrap();
    assert_eq!(cla.cluster_name, "api");
    c.request(
        None,
        ResourceType::Endpoint,
        &["api"],
        &r.version_info,
        &r.nonce,
        None,
    )
    .await;

    // A change to a service this proxy does not subscribe to sends nothing.
    let mut next = demo();
    next.services
        .get_mut(&rigging_mesh_test_util::name("db"))
        .unwrap()
        .endpoints
        .clear();
    cat.send(Arc::new(next.clone())).unwrap();
    c.nothing_for(Duration::from_millis(300)).await;

    // A change to `api` is pushed with a new version.
    next.services
        .get_mut(&rigging_mesh_test_util::name("api"))
        .unwrap()
        .endpoints
        .push(endpoint("api-2", "127.0.0.1:21009", Health::Passing, "b"));
    cat.send(Arc::new(next)).unwrap();
    let r2 = c.next().await;
    assert_ne!(r2.version_info, r.version_info);
    assert_ne!(r2.nonce, r.nonce);
    let cla: ClusterLoadAssignment =
        unpack(ResourceType::Endpoint.type_url(), &r2.resources[0]).unwrap();
    assert_eq!(
        cla.endpoints
            .iter()
            .map(|g| g.lb_endpoints.len())
            .sum::<usize>(),
        2
    );

    // Asking for more names answers at once with both.
    c.request(
        None,
        ResourceType::Endpoint,
        &["api", "db"],
        &r2.version_info,
        &r2.nonce,
        None,
    )
    .await;
    let r3 = c.next().await;
    assert_eq!(r3.resources.len(), 2);
    pilot.shutdown().await;
}

#[tokio::test]
async fn stale_nonce_is_ignored() {
    let (pilot, _cat) = pilot(demo()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(
        Some("web-1"),
        ResourceType::Endpoint,
        &["api"],
        "",
        "",
        None,
    )
    .await;
    let r = c.next().await;
    c.request(
        None,
        ResourceType::Endpoint,
        &["api", "db"],
        "",
        "not-the-nonce",
        None,
    )
    .await;
    c.nothing_for(Duration::from_millis(200)).await;
    let st = pilot
        .status()
        .into_iter()
        .find(|p| p.proxy == "web-1")
        .unwrap();
    assert_eq!(st.types["EDS"].acked_version, None);
    c.request(
        None,
        ResourceType::Endpoint,
        &["api"],
        &r.version_info,
        &r.nonce,
        None,
    )
    .await;
    wait_state(&pilot, "web-1", "EDS", SyncState::Synced).await;
    pilot.shutdown().await;
}

#[tokio::test]
async fn unknown_proxy_waits_until_a_registry_knows_it() {
    let (pilot, cat) = pilot(Catalog::default()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(Some("web-1"), ResourceType::Cluster, &[], "", "", None)
        .await;
    c.nothing_for(Duration::from_millis(200)).await;
    let st = pilot
        .status()
        .into_iter()
        .find(|p| p.proxy == "web-1")
        .unwrap();
    assert!(st.problem.unwrap().contains("not in any registry"));
    cat.send(Arc::new(demo())).unwrap();
    let r = c.next().await;
    assert_eq!(r.resources.len(), 3);
    pilot.shutdown().await;
}

#[tokio::test]
async fn first_request_without_node_is_refused() {
    let (pilot, _cat) = pilot(demo()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(None, ResourceType::Cluster, &[], "", "", None)
        .await;
    let err = tokio::time::timeout(WAIT, c.rx.message())
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("node"), "{}", err.message());
    pilot.shutdown().await;
}

#[tokio::test]
async fn status_endpoint_serves_json() {
    let (pilot, _cat) = pilot(demo()).await;
    let mut c = Client::connect(&pilot).await;
    c.request(Some("web-1"), ResourceType::Cluster, &[], "", "", None)
        .await;
    let _ = c.next().await;
    let mut stream = tokio::net::TcpStream::connect(pilot.debug_addr())
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /debug/syncz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut body = String::new();
    stream.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.contains("\"proxy\": \"web-1\""), "{body}");
    pilot.shutdown().await;
}
