//! The client against a scripted ADS server on loopback.

mod fake_ads;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use envoy_types::pb::google::protobuf::Any;
use rigging_mesh_xds::{Cluster, Listener, ResourceType, pack, unpack};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use crate::{ClientConfig, ClientStatus, ConfigSink, XdsClient};
use fake_ads::{Conn, FakeAds, WAIT};

const CDS: ResourceType = ResourceType::Cluster;
const EDS: ResourceType = ResourceType::Endpoint;
const LDS: ResourceType = ResourceType::Listener;
const RDS: ResourceType = ResourceType::Route;

/// Accepts everything but the version it is told to reject; CDS sets the EDS names (every
/// cluster) and LDS the RDS names (every listener's name).
#[derive(Default)]
struct TestSink {
    reject_version: Mutex<Option<String>>,
    names: Mutex<BTreeMap<ResourceType, Vec<String>>>,
}

impl ConfigSink for TestSink {
    fn apply(&self, ty: ResourceType, version: &str, resources: &[Any]) -> Result<(), String> {
        if self.reject_version.lock().unwrap().as_deref() == Some(version) {
            return Err(format!("version {version} is bad"));
        }
        let names: Vec<String> = match ty {
            CDS => resources
                .iter()
                .map(|a| unpack::<Cluster>(CDS.type_url(), a).unwrap().name)
                .collect(),
            LDS => resources
                .iter()
                .map(|a| unpack::<Listener>(LDS.type_url(), a).unwrap().name)
                .collect(),
            _ => return Ok(()),
        };
        let dep = if ty == CDS { EDS } else { RDS };
        self.names.lock().unwrap().insert(dep, names);
        Ok(())
    }

    fn names(&self, ty: ResourceType) -> Vec<String> {
        self.names
            .lock()
            .unwrap()
            .get(&ty)
            .cloned()
            .unwrap_or_default()
    }
}

struct Running {
    sink: Arc<TestSink>,
    status: watch::Receiver<ClientStatus>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn start(pilot: http::Uri) -> Running {
    let sink = Arc::new(TestSink::default());
    let mut config = ClientConfig::new(pilot, "api-1", "api");
    config.backoff_min = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(50);
    let client = XdsClient::new(config, sink.clone());
    let status = client.status();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(client.run(async {
        let _ = stopped.await;
    }));
    Running {
        sink,
        status,
        stop: Some(stop),
        task,
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn response(ty: ResourceType, version: &str, nonce: &str, names: &[&str]) -> DiscoveryResponse {
    let resources = names
        .iter()
        .map(|n| match ty {
            CDS => pack(
                CDS.type_url(),
                &Cluster {
                    name: (*n).into(),
                    ..Default::default()
                },
            ),
            LDS => pack(
                LDS.type_url(),
                &Listener {
                    name: (*n).into(),
                    ..Default::default()
                },
            ),
            _ => Any {
                type_url: ty.type_url().into(),
                value: Vec::new(),
            },
        })
        .collect();
    DiscoveryResponse {
        version_info: version.into(),
        resources,
        type_url: ty.type_url().into(),
        nonce: nonce.into(),
        ..Default::default()
    }
}

fn type_of(req: &DiscoveryRequest) -> ResourceType {
    ResourceType::from_type_url(&req.type_url).unwrap()
}

/// The first two requests of a fresh client: CDS then LDS, wildcard, with the node.
async fn expect_initial(conn: &mut Conn) {
    for ty in [CDS, LDS] {
        let req = conn.recv().await;
        assert_eq!(type_of(&req), ty);
        let node = req.node.as_ref().expect("node on the first request");
        assert_eq!((node.id.as_str(), node.cluster.as_str()), ("api-1", "api"));
        assert!(
            req.resource_names.is_empty(),
            "{ty} is a wildcard subscription"
        );
        assert_eq!(
            (req.version_info.as_str(), req.response_nonce.as_str()),
            ("", "")
        );
        assert!(req.error_detail.is_none());
    }
}

#[tokio::test]
async fn initial_requests_carry_node_and_subscribe_cds_and_lds() {
    let mut ads = FakeAds::bind().await;
    let client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    conn.assert_quiet().await;
    assert!(client.status.borrow().connected);
    assert!(!client.status.borrow().ready);
}

#[tokio::test]
async fn ack_carries_version_and_nonce() {
    let mut ads = FakeAds::bind().await;
    let client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    conn.send(response(LDS, "l1", "n1", &[]));
    let ack = conn.recv().await;
    assert_eq!(type_of(&ack), LDS);
    assert_eq!(
        (ack.version_info.as_str(), ack.response_nonce.as_str()),
        ("l1", "n1")
    );
    assert!(ack.error_detail.is_none());
    assert!(
        ack.node.is_none(),
        "node only on the first request of a type"
    );
    conn.send(response(CDS, "c1", "n2", &[]));
    let ack = conn.recv().await;
    assert_eq!(
        (
            type_of(&ack),
            ack.version_info.as_str(),
            ack.response_nonce.as_str()
        ),
        (CDS, "c1", "n2")
    );
    conn.assert_quiet().await;
    let status = client.status.borrow().clone();
    assert!(status.ready);
    assert_eq!(status.types[&CDS].acked_version.as_deref(), Some("c1"));
    assert_eq!(status.types[&LDS].acks, 1);
}

#[tokio::test]
async fn nack_carries_previous_version_nonce_and_reason() {
    let mut ads = FakeAds::bind().await;
    let client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    conn.send(response(LDS, "l1", "n1", &[]));
    conn.recv().await;
    *client.sink.reject_version.lock().unwrap() = Some("l2".into());
    conn.send(response(LDS, "l2", "n2", &[]));
    let nack = conn.recv().await;
    assert_eq!(type_of(&nack), LDS);
    assert_eq!(
        (nack.version_info.as_str(), nack.response_nonce.as_str()),
        ("l1", "n2")
    );
    let detail = nack.error_detail.expect("error_detail on a NACK");
    assert_eq!(detail.code, 3);
    assert_eq!(detail.message, "version l2 is bad");
    let status = client.status.borrow().clone();
    assert_eq!(status.types[&LDS].acked_version.as_deref(), Some("l1"));
    assert_eq!(
        status.types[&LDS].last_nack.as_deref(),
        Some("version l2 is bad")
    );
}

#[tokio::test]
async fn unknown_type_url_is_nacked() {
    let mut ads = FakeAds::bind().await;
    let _client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    let url = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
    conn.send(DiscoveryResponse {
        version_info: "s1".into(),
        type_url: url.into(),
        nonce: "n1".into(),
        ..Default::default()
    });
    let nack = conn.recv().await;
    assert_eq!(
        (
            nack.type_url.as_str(),
            nack.version_info.as_str(),
            nack.response_nonce.as_str()
        ),
        (url, "", "n1")
    );
    assert!(
        nack.error_detail
            .unwrap()
            .message
            .contains("unknown type URL")
    );
}

#[tokio::test]
async fn eds_and_rds_names_are_requested_after_cds_and_lds_apply() {
    let mut ads = FakeAds::bind().await;
    let _client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    conn.send(response(CDS, "c1", "n1", &["web", "api"]));
    assert_eq!(type_of(&conn.recv().await), CDS);
    let eds = conn.recv().await;
    assert_eq!(type_of(&eds), EDS);
    assert_eq!(eds.resource_names, ["api", "web"]);
    assert!(
        eds.node.is_some(),
        "first EDS request of the stream carries the node"
    );
    assert_eq!(
        (eds.version_info.as_str(), eds.response_nonce.as_str()),
        ("", "")
    );

    conn.send(response(EDS, "e1", "n2", &[]));
    let ack = conn.recv().await;
    assert_eq!((type_of(&ack), ack.version_info.as_str()), (EDS, "e1"));
    assert_eq!(
        ack.resource_names,
        ["api", "web"],
        "an ACK repeats the subscribed names"
    );

    // The same clusters again: no new EDS request. Fewer clusters: a new one, with the EDS nonce.
    conn.send(response(CDS, "c2", "n3", &["web", "api"]));
    assert_eq!(type_of(&conn.recv().await), CDS);
    conn.assert_quiet().await;
    conn.send(response(CDS, "c3", "n4", &["web"]));
    assert_eq!(type_of(&conn.recv().await), CDS);
    let eds = conn.recv().await;
    assert_eq!(
        (type_of(&eds), eds.resource_names.clone()),
        (EDS, vec!["web".to_owned()])
    );
    assert_eq!(
        (eds.version_info.as_str(), eds.response_nonce.as_str()),
        ("e1", "n2")
    );
    assert!(eds.node.is_none());

    conn.send(response(LDS, "l1", "n5", &["inbound:api"]));
    assert_eq!(type_of(&conn.recv().await), LDS);
    let rds = conn.recv().await;
    assert_eq!(
        (type_of(&rds), rds.resource_names.clone()),
        (RDS, vec!["inbound:api".to_owned()])
    );
}

#[tokio::test]
async fn reconnects_after_stream_ends_and_resends_last_versions() {
    let mut ads = FakeAds::bind().await;
    let client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    conn.send(response(CDS, "c1", "n1", &["api"]));
    conn.recv().await; // ACK
    conn.recv().await; // EDS subscription
    conn.send(response(EDS, "e1", "n2", &[]));
    conn.recv().await; // ACK
    *client.sink.reject_version.lock().unwrap() = Some("c2".into());
    conn.send(response(CDS, "c2", "n3", &[]));
    assert!(conn.recv().await.error_detail.is_some());
    drop(conn);

    let mut conn = ads.accept().await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let req = conn.recv().await;
        assert!(req.node.is_some());
        assert_eq!(req.response_nonce, "", "a new stream has no nonce yet");
        got.push((type_of(&req), req.version_info, req.resource_names));
    }
    assert_eq!(
        got,
        [
            (CDS, "c1".to_owned(), vec![]),
            (EDS, "e1".to_owned(), vec!["api".to_owned()]),
            (LDS, String::new(), vec![]),
        ]
    );
    conn.assert_quiet().await;
    assert!(client.status.borrow().connected);
}

#[tokio::test]
async fn keeps_retrying_until_pilot_appears() {
    let reserved = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = reserved.local_addr().unwrap();
    drop(reserved);
    let mut client = start(format!("http://{addr}").parse().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !client.task.is_finished(),
        "the client gives up on no pilot"
    );
    assert!(!client.status.borrow().connected);

    let mut ads = FakeAds::start(TcpListener::bind(addr).await.unwrap()).await;
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    tokio::time::timeout(WAIT, client.status.wait_for(|s| s.connected))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn shutdown_stops_the_client() {
    let mut ads = FakeAds::bind().await;
    let mut client = start(ads.uri());
    let mut conn = ads.accept().await;
    expect_initial(&mut conn).await;
    client.stop.take().unwrap().send(()).unwrap();
    tokio::time::timeout(WAIT, &mut client.task)
        .await
        .unwrap()
        .unwrap();
    assert!(!client.status.borrow().connected);
}
