//! The client against a real Pilot over mTLS: its own certificate gets its configuration;
//! another service's certificate gets nothing (and the client keeps retrying); a Pilot with
//! the wrong identity is refused by the client.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use envoy_types::pb::google::protobuf::Any;
use rigging_mesh_model::{Catalog, Health, Protocol};
use rigging_mesh_spiffe::config::{client_config, server_config};
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa};
use rigging_mesh_spiffe::{
    ExpectedPeer, SharedBundle, SpiffeId, SvidClientVerifier, SvidServerVerifier, TrustBundle,
    TrustDomain,
};
use rigging_mesh_test_util::{catalog, proxy, service, sidecar_endpoint};
use rigging_mesh_xds::{Cluster, unpack};
use rigging_pilot_client::{
    ClientConfig, ClientStatus, ConfigSink, PilotTls, ResourceType, XdsClient,
};
use rigging_pilot_server::{MeshSecurity, PilotHandle, PilotOptions};
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

const WAIT: Duration = Duration::from_secs(5);
const TD: &str = "rigging.local";

fn id(service: &str) -> String {
    format!("spiffe://{TD}/ns/default/dc/dc1/svc/{service}")
}

/// Always presents the same certificate, on either side.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Records what was applied; EDS follows CDS.
#[derive(Default)]
struct Sink {
    applied: Mutex<BTreeMap<ResourceType, Vec<Any>>>,
}

impl ConfigSink for Sink {
    fn apply(&self, ty: ResourceType, _version: &str, resources: &[Any]) -> Result<(), String> {
        self.applied.lock().unwrap().insert(ty, resources.to_vec());
        Ok(())
    }

    fn names(&self, ty: ResourceType) -> Vec<String> {
        if ty != ResourceType::Endpoint {
            return Vec::new();
        }
        self.applied
            .lock()
            .unwrap()
            .get(&ResourceType::Cluster)
            .into_iter()
            .flatten()
            .map(|a| {
                unpack::<Cluster>(ResourceType::Cluster.type_url(), a)
                    .unwrap()
                    .name
            })
            .filter(|n| n != "local_app")
            .collect()
    }
}

struct Mesh {
    ca: TestCa,
    bundle: SharedBundle,
}

impl Mesh {
    fn new() -> Self {
        let ca = TestCa::new("rigging test root").unwrap();
        let bundle = SharedBundle::new(TrustBundle::new(vec![ca.root()]).unwrap());
        Self { ca, bundle }
    }

    fn leaf(&self, spiffe_id: &str) -> Arc<CertifiedKey> {
        self.ca
            .leaf(&LeafSpec::svid(spiffe_id))
            .unwrap()
            .certified_key()
            .unwrap()
    }

    /// Pilot over mTLS, presenting an SVID for `pilot_id`, with the catalog's sender (Pilot
    /// ends its streams when the catalog source goes away).
    async fn pilot(&self, pilot_id: &str) -> (PilotHandle, watch::Sender<Arc<Catalog>>) {
        let td = TrustDomain::new(TD).unwrap();
        let verifier = SvidClientVerifier::new(self.bundle.clone(), td.clone());
        let tls = server_config(Arc::new(verifier), Arc::new(Fixed(self.leaf(pilot_id)))).unwrap();
        let (tx, rx) = watch::channel(Arc::new(demo()));
        let opts = PilotOptions {
            xds_addr: "127.0.0.1:0".parse().unwrap(),
            debug_addr: "127.0.0.1:0".parse().unwrap(),
            debounce: Duration::from_millis(10),
            debounce_max: Duration::from_millis(100),
            security: Some(MeshSecurity::new(td, "dc1").unwrap()),
            tls: Some(Arc::new(tls)),
        };
        (
            rigging_pilot_server::start(opts, rx, None).await.unwrap(),
            tx,
        )
    }

    /// The proxy `web-1` with the certificate of `service`, expecting Pilot's SPIFFE ID.
    fn client(&self, pilot: &PilotHandle, service: &str) -> Running {
        let expected = ExpectedPeer::Id(SpiffeId::parse(&id("pilot")).unwrap());
        let verifier = SvidServerVerifier::new(self.bundle.clone(), expected);
        let tls =
            client_config(Arc::new(verifier), Arc::new(Fixed(self.leaf(&id(service))))).unwrap();
        let name = ServerName::try_from("pilot.rigging.invalid").unwrap();
        let uri = format!("https://{}", pilot.xds_addr()).parse().unwrap();
        let mut config =
            ClientConfig::new(uri, "web-1", "web").with_tls(PilotTls::new(Arc::new(tls), name));
        config.backoff_min = Duration::from_millis(10);
        config.backoff_max = Duration::from_millis(50);
        let sink = Arc::new(Sink::default());
        let client = XdsClient::new(config, sink.clone());
        let status = client.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(client.run(async {
            let _ = stopped.await;
        }));
        Running {
            sink,
            status,
            _stop: stop,
            task,
        }
    }
}

struct Running {
    sink: Arc<Sink>,
    status: watch::Receiver<ClientStatus>,
    _stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn demo() -> Catalog {
    catalog(
        vec![
            service("web", Protocol::Http, vec![]),
            service(
                "api",
                Protocol::Http,
                vec![sidecar_endpoint(
                    "api-1",
                    "127.0.0.1:21001",
                    Health::Passing,
                    "a",
                )],
            ),
        ],
        vec![proxy("web-1", "web", 21000, 8080, &[("api", 9191)])],
    )
}

#[tokio::test]
async fn client_over_mtls_gets_its_configuration() {
    let mesh = Mesh::new();
    let (pilot, _catalog) = mesh.pilot(&id("pilot")).await;
    let mut client = mesh.client(&pilot, "web");
    tokio::time::timeout(WAIT, client.status.wait_for(|s| s.ready))
        .await
        .unwrap()
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !client
        .sink
        .applied
        .lock()
        .unwrap()
        .contains_key(&ResourceType::Endpoint)
    {
        assert!(tokio::time::Instant::now() < deadline, "no EDS over mTLS");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let names = client.sink.names(ResourceType::Endpoint);
    assert_eq!(names, ["api"]);
    let st = pilot.status();
    assert!(
        st.iter().any(|p| p.proxy == "web-1" && p.connected),
        "{st:?}"
    );
    pilot.shutdown().await;
}

#[tokio::test]
async fn another_services_certificate_gets_nothing_and_the_client_keeps_trying() {
    let mesh = Mesh::new();
    let (pilot, _catalog) = mesh.pilot(&id("pilot")).await;
    let client = mesh.client(&pilot, "api");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(client.sink.applied.lock().unwrap().is_empty());
    assert!(!client.status.borrow().ready);
    assert!(
        !client.task.is_finished(),
        "a refusal is retried with backoff"
    );
    pilot.shutdown().await;
}

#[tokio::test]
async fn a_pilot_with_another_identity_is_refused() {
    let mesh = Mesh::new();
    let (pilot, _catalog) = mesh.pilot(&id("impostor")).await;
    let client = mesh.client(&pilot, "web");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(client.sink.applied.lock().unwrap().is_empty());
    assert!(!client.status.borrow().connected);
    assert!(
        pilot.status().is_empty(),
        "no stream reached pilot: {:?}",
        pilot.status()
    );
    pilot.shutdown().await;
}
