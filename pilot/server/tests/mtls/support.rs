//! A throwaway mesh PKI and an ADS client over mTLS, for the tests of Pilot's TLS listener.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use hyper_util::rt::TokioIo;
use rigging_mesh_model::Catalog;
use rigging_mesh_spiffe::config::{client_config, provider, server_config};
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa};
use rigging_mesh_spiffe::{
    ExpectedPeer, SharedBundle, SpiffeId, SvidClientVerifier, SvidServerVerifier, TrustBundle,
    TrustDomain,
};
use rigging_mesh_xds::ResourceType;
use rigging_pilot_server::{MeshSecurity, PilotHandle, PilotOptions};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, SignatureScheme};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio_rustls::TlsConnector;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tonic::{Status, Streaming};

/// Long enough for a loaded CI machine, short enough to fail a hang quickly.
pub const WAIT: Duration = Duration::from_secs(5);
pub const TD: &str = "rigging.local";
pub const DC: &str = "dc1";

/// Consul's layout in the test mesh.
pub fn id(service: &str) -> String {
    format!("spiffe://{TD}/ns/default/dc/{DC}/svc/{service}")
}

/// Always presents the same certificate, on either side.
#[derive(Debug)]
pub struct Fixed(pub Arc<CertifiedKey>);

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

/// One root, its bundle, and Pilot's own SVID.
pub struct Pki {
    pub ca: TestCa,
    pub bundle: SharedBundle,
    pub pilot: Arc<CertifiedKey>,
}

impl Pki {
    pub fn new() -> Self {
        let ca = TestCa::new("rigging test root").unwrap();
        let bundle = SharedBundle::new(TrustBundle::new(vec![ca.root()]).unwrap());
        let pilot = ca
            .leaf(&LeafSpec::svid(&id("pilot")))
            .unwrap()
            .certified_key()
            .unwrap();
        Self { ca, bundle, pilot }
    }

    /// A leaf of this root for `spiffe_id`.
    pub fn leaf(&self, spiffe_id: &str) -> Arc<CertifiedKey> {
        self.ca
            .leaf(&LeafSpec::svid(spiffe_id))
            .unwrap()
            .certified_key()
            .unwrap()
    }

    /// Pilot's server side: its SVID, client SVIDs of the trust domain required.
    pub fn server(&self) -> Arc<rustls::ServerConfig> {
        let verifier = SvidClientVerifier::new(self.bundle.clone(), TrustDomain::new(TD).unwrap());
        Arc::new(server_config(Arc::new(verifier), Arc::new(Fixed(self.pilot.clone()))).unwrap())
    }

    /// A proxy's client side presenting `cert`, expecting Pilot's SPIFFE ID.
    pub fn client(&self, cert: Arc<CertifiedKey>) -> Arc<ClientConfig> {
        Arc::new(client_config(self.pilot_verifier(), Arc::new(Fixed(cert))).unwrap())
    }

    /// A client side that presents no certificate at all.
    pub fn anonymous_client(&self) -> Arc<ClientConfig> {
        let mut config = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(self.pilot_verifier())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec()];
        Arc::new(config)
    }

    fn pilot_verifier(&self) -> Arc<SvidServerVerifier> {
        let pilot = SpiffeId::parse(&id("pilot")).unwrap();
        Arc::new(SvidServerVerifier::new(
            self.bundle.clone(),
            ExpectedPeer::Id(pilot),
        ))
    }
}

/// Pilot over mTLS for the test mesh, on loopback.
pub async fn pilot(pki: &Pki, cat: Catalog) -> (PilotHandle, watch::Sender<Arc<Catalog>>) {
    let (tx, rx) = watch::channel(Arc::new(cat));
    let opts = PilotOptions {
        xds_addr: "127.0.0.1:0".parse().unwrap(),
        debug_addr: "127.0.0.1:0".parse().unwrap(),
        debounce: Duration::from_millis(10),
        debounce_max: Duration::from_millis(100),
        security: Some(MeshSecurity::new(TrustDomain::new(TD).unwrap(), DC).unwrap()),
        tls: Some(pki.server()),
    };
    (
        rigging_pilot_server::start(opts, rx, None).await.unwrap(),
        tx,
    )
}

/// One ADS stream over mTLS.
pub struct Client {
    tx: mpsc::Sender<DiscoveryRequest>,
    pub rx: Streaming<DiscoveryResponse>,
}

impl Client {
    /// Connects with `tls` and opens the stream; `Err` if the connection or the stream fails.
    pub async fn connect(addr: SocketAddr, tls: Arc<ClientConfig>) -> Result<Client, String> {
        let connector = TlsConnector::from(tls);
        // TLS is done by our connector, so the URI only names the authority.
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .connect_timeout(WAIT)
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let connector = connector.clone();
                async move {
                    let tcp = TcpStream::connect(addr).await?;
                    let name = ServerName::try_from("pilot.rigging.invalid")
                        .map_err(std::io::Error::other)?;
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|e| format!("{e:?}"))?;
        let (tx, rx) = mpsc::channel(16);
        let rx = tokio::time::timeout(
            WAIT,
            AggregatedDiscoveryServiceClient::new(channel)
                .stream_aggregated_resources(ReceiverStream::new(rx)),
        )
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?
        .into_inner();
        Ok(Client { tx, rx })
    }

    /// Subscribes to `ty` (wildcard) as proxy `node`.
    pub async fn subscribe(&self, node: &str, ty: ResourceType) {
        let _ = self
            .tx
            .send(DiscoveryRequest {
                node: Some(Node {
                    id: node.to_owned(),
                    ..Default::default()
                }),
                type_url: ty.type_url().to_owned(),
                ..Default::default()
            })
            .await;
    }

    /// The next message of the stream, or its error.
    pub async fn next(&mut self) -> Result<Option<DiscoveryResponse>, Status> {
        tokio::time::timeout(WAIT, self.rx.message())
            .await
            .expect("a response or an error in time")
    }
}
