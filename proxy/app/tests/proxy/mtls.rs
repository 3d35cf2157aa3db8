//! Mesh mTLS in the proxy: inbound strict and permissive listeners, outbound origination with the
//! expected SPIFFE ID, the caller's identity handed to the application, refused peers, and a
//! certificate renewal that leaves open connections alone. Certificates come from a test CA.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rigging_citadel_client::{CertStore, Issued, Signed, WorkloadKey};
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa};
use rigging_mesh_spiffe::{
    ExpectedPeer, SharedBundle, SvidServerVerifier, TrustBundle, TrustDomain,
};
use rigging_proxy_app::{Proxy, ProxyHandle, ProxyOptions};
use rigging_proxy_config::{
    Cluster, ClusterTls, Direction, Discovery, InboundTls, InboundTlsMode, LbPolicy, Listener,
    ListenerKind, ProxyConfig, TlsClients, UpstreamProtocol, UpstreamTls,
};
use rigging_proxy_tls::MeshTls;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, SignatureScheme};
use rustls_pki_types::{ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::support::*;

mod inbound;
mod outbound;
mod renewal;

const TD: &str = "rigging.test";

fn id(svc: &str) -> String {
    format!("spiffe://{TD}/ns/default/dc/dc1/svc/{svc}")
}

/// Installs a certificate for `svc` from `ca` in `store`, valid `[now - 1 h, now + ttl]`.
fn issue(ca: &TestCa, store: &CertStore, svc: &str, ttl: Duration) {
    let key = WorkloadKey::generate().unwrap();
    let csr = key.csr(None).unwrap();
    let now = SystemTime::now();
    let cert = ca
        .sign_csr(&csr, &id(svc), now - Duration::from_secs(3600), now + ttl)
        .unwrap();
    let signed = Signed {
        chain: vec![cert],
        trust_bundle: vec![ca.root()],
    };
    store.install(Issued::verify(key, signed, UnixTime::now()).unwrap());
}

fn mesh(ca: &TestCa, svc: &str) -> Arc<MeshTls> {
    let store = Arc::new(CertStore::new(TrustBundle::new(vec![ca.root()]).unwrap()));
    issue(ca, &store, svc, Duration::from_secs(3600));
    Arc::new(MeshTls::new(store, TrustDomain::new(TD).unwrap()))
}

async fn mtls_proxy(mesh: Arc<MeshTls>) -> ProxyHandle {
    let mut opts = ProxyOptions::new("test-proxy", "");
    opts.admin_addr = LOOPBACK0.parse().unwrap();
    opts.drain_timeout = Duration::from_millis(200);
    opts.tls = Some(mesh);
    Proxy::start(opts).await.unwrap()
}

fn alpn() -> Vec<String> {
    vec!["h2".into(), "http/1.1".into()]
}

/// An inbound listener `in` (mTLS in `mode`) → the application at `app`, over HTTP or TCP.
fn inbound_config(mode: InboundTlsMode, app: SocketAddr, http: bool) -> ProxyConfig {
    let mut config = ProxyConfig::default();
    let kind = if http {
        config
            .routes
            .insert("in".into(), route_config("in", "local_app", None));
        ListenerKind::Http {
            route_config: "in".into(),
            websocket: false,
            fault_filter: false,
        }
    } else {
        ListenerKind::Tcp {
            cluster: "local_app".into(),
        }
    };
    config.listeners.insert(
        "in".into(),
        Listener {
            name: "in".into(),
            addr: LOOPBACK0.parse().unwrap(),
            direction: Direction::Inbound,
            kind,
            tls: Some(InboundTls {
                mode,
                alpn: alpn(),
                clients: TlsClients::Mesh,
            }),
        },
    );
    let mut local = cluster("local_app", UpstreamProtocol::Http1, LbPolicy::RoundRobin);
    local.discovery = Discovery::Static(vec![endpoint(app)]);
    config.clusters.insert("local_app".into(), local);
    config
}

/// The outbound HTTP config of `http_config`, with mTLS to the cluster expecting `expected`.
fn outbound_config(endpoint_addr: SocketAddr, expected: &str) -> ProxyConfig {
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(endpoint_addr)],
        None,
    );
    let svc: &mut Cluster = config.clusters.get_mut("svc").unwrap();
    svc.tls = Some(ClusterTls::Mesh(UpstreamTls {
        expected_ids: vec![id(expected)],
        sni: "api".into(),
        alpn: vec!["http/1.1".into()],
    }));
    config
}

/// A client certificate resolver that always presents one fixed certificate.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// A client that checks the server is `api` of `ca` and presents `leaf` (or nothing).
fn client(ca: &TestCa, leaf: Option<&LeafSpec>, leaf_ca: &TestCa) -> ClientConfig {
    let verifier = Arc::new(SvidServerVerifier::new(
        SharedBundle::new(TrustBundle::new(vec![ca.root()]).unwrap()),
        ExpectedPeer::Id(rigging_mesh_spiffe::SpiffeId::parse(&id("api")).unwrap()),
    ));
    let builder = ClientConfig::builder_with_provider(rigging_mesh_spiffe::config::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match leaf {
        Some(spec) => {
            let key = leaf_ca.leaf(spec).unwrap().certified_key().unwrap();
            builder.with_client_cert_resolver(Arc::new(Fixed(key)))
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// One `GET /` over TLS with `config`; the whole response, or the error that ended it.
async fn tls_get(addr: SocketAddr, config: ClientConfig) -> std::io::Result<String> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("api").unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"GET / HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n")
        .await?;
    let mut out = String::new();
    tls.read_to_string(&mut out).await?;
    Ok(out)
}

/// One plaintext `GET /`; the whole response (empty if the connection was closed).
async fn plain_get(addr: SocketAddr) -> String {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let _ = tcp
        .write_all(b"GET / HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n")
        .await;
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn metrics(proxy: &ProxyHandle) -> String {
    let (_, body) = get(
        &h1_client(),
        format!("http://{}/metrics", proxy.admin_addr()),
    )
    .await;
    body
}
