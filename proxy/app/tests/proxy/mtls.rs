//! Mesh mTLS in the proxy: inbound strict and permissive listeners, outbound origination with the
//! expected SPIFFE ID, the caller's identity handed to the application, refused peers, and a
//! certificate renewal that leaves open connections alone. Certificates come from a test CA.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use rcgen::KeyUsagePurpose;
use rigging_citadel_client::{CertStore, Issued, Signed, WorkloadKey};
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa};
use rigging_mesh_spiffe::{
    ExpectedPeer, SharedBundle, SvidServerVerifier, TrustBundle, TrustDomain,
};
use rigging_proxy_app::{Proxy, ProxyHandle, ProxyOptions};
use rigging_proxy_config::{
    Cluster, ClusterEndpoints, Direction, Discovery, InboundTls, InboundTlsMode, LbPolicy,
    Listener, ListenerKind, ProxyConfig, UpstreamProtocol, UpstreamTls,
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
            tls: Some(InboundTls { mode, alpn: alpn() }),
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
    svc.tls = Some(UpstreamTls {
        expected_ids: vec![id(expected)],
        sni: "api".into(),
        alpn: vec!["http/1.1".into()],
    });
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

#[tokio::test]
async fn strict_inbound_hands_the_callers_identity_to_the_app() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("app").await;
    let proxy = mtls_proxy(mesh(&ca, "api")).await;
    proxy
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let addr = proxy.listener_addr("in").unwrap();

    let resp = tls_get(addr, client(&ca, Some(&LeafSpec::svid(&id("web"))), &ca))
        .await
        .unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let xfcc = format!("x-seen-xfcc: By={};URI={}", id("api"), id("web"));
    assert!(resp.contains(&xfcc), "{resp}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn strict_inbound_refuses_bad_peers_and_nothing_reaches_the_app() {
    let ca = TestCa::new("mesh").unwrap();
    let stranger = TestCa::new("stranger").unwrap();
    let app = echo("app").await;
    let proxy = mtls_proxy(mesh(&ca, "api")).await;
    proxy
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let addr = proxy.listener_addr("in").unwrap();
    let now = SystemTime::now();
    let hour = Duration::from_secs(3600);
    let web = id("web");
    let cases: Vec<(&str, Option<LeafSpec>, &TestCa)> = vec![
        (
            "two uri sans",
            Some(LeafSpec::svid(&web).extra_uri(&id("db"))),
            &ca,
        ),
        (
            "ca certificate as leaf",
            Some(LeafSpec::svid(&web).ca()),
            &ca,
        ),
        (
            "keyCertSign on a leaf",
            Some(LeafSpec::svid(&web).key_usages(vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyCertSign,
            ])),
            &ca,
        ),
        (
            "wrong trust domain",
            Some(LeafSpec::svid(
                "spiffe://other.test/ns/default/dc/dc1/svc/web",
            )),
            &ca,
        ),
        (
            "expired",
            Some(LeafSpec::svid(&web).validity(now - 2 * hour, now - hour)),
            &ca,
        ),
        (
            "not yet valid",
            Some(LeafSpec::svid(&web).validity(now + hour, now + 2 * hour)),
            &ca,
        ),
        ("unknown root", Some(LeafSpec::svid(&web)), &stranger),
        ("no client certificate", None, &ca),
    ];
    for (what, spec, leaf_ca) in &cases {
        let result = tls_get(addr, client(&ca, spec.as_ref(), leaf_ca)).await;
        match result {
            Err(_) => {}
            Ok(resp) => assert!(
                !resp.starts_with("HTTP/1.1"),
                "{what}: the request got an answer: {resp}"
            ),
        }
    }
    let resp = plain_get(addr).await;
    assert!(resp.is_empty(), "plaintext got an answer: {resp}");
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
    // The same client with a good certificate gets through: the refusals were about the peers.
    let ok = tls_get(addr, client(&ca, Some(&LeafSpec::svid(&web)), &ca))
        .await
        .unwrap();
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    assert_eq!(app.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    let text = metrics(&proxy).await;
    let refused = metric(
        &text,
        "rig_downstream_tls_handshake_failures_total{listener=\"in\"}",
    );
    assert_eq!(refused, cases.len() as u64 + 1, "{text}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn permissive_inbound_takes_mtls_and_plaintext() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("app").await;
    let proxy = mtls_proxy(mesh(&ca, "api")).await;
    proxy
        .apply_config(inbound_config(InboundTlsMode::Permissive, app.addr, true))
        .unwrap();
    let addr = proxy.listener_addr("in").unwrap();

    let tls = tls_get(addr, client(&ca, Some(&LeafSpec::svid(&id("web"))), &ca))
        .await
        .unwrap();
    assert!(tls.starts_with("HTTP/1.1 200"), "{tls}");
    assert!(tls.contains(&format!("URI={}", id("web"))), "{tls}");

    // Plaintext is served, and a forged caller header does not reach the app.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!(
            "GET / HTTP/1.1\r\nhost: api\r\nx-forwarded-client-cert: URI={}\r\nconnection: close\r\n\r\n",
            id("admin")
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut plain = String::new();
    tcp.read_to_string(&mut plain).await.unwrap();
    assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
    assert!(plain.contains("x-seen-xfcc: \r\n"), "{plain}");
    let text = metrics(&proxy).await;
    assert_eq!(
        metric(
            &text,
            "rig_downstream_plaintext_connections_total{listener=\"in\"}"
        ),
        1
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn outbound_originates_mtls_and_checks_the_destination_identity() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("api-app").await;
    let server = mtls_proxy(mesh(&ca, "api")).await;
    server
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let inbound = server.listener_addr("in").unwrap();

    let caller = mtls_proxy(mesh(&ca, "web")).await;
    caller
        .apply_config(outbound_config(inbound, "api"))
        .unwrap();
    let url = format!("http://{}", caller.listener_addr("out").unwrap());
    let client = h1_client();
    for _ in 0..3 {
        let (resp, _) = get(&client, format!("{url}/x")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header(&resp, "x-seen-xfcc"),
            format!("By={};URI={}", id("api"), id("web"))
        );
    }

    // Expecting another identity: the handshake fails before a byte of the request is sent.
    caller.apply_config(outbound_config(inbound, "db")).unwrap();
    let (resp, _) = get(&client, format!("{url}/x")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-rigging-error"), "connect_failed");
    let text = metrics(&caller).await;
    assert!(
        metric(&text, "rig_upstream_tls_failures_total{cluster=\"svc\"}") >= 1,
        "{text}"
    );
    caller.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn tcp_through_mtls_both_ways() {
    let ca = TestCa::new("mesh").unwrap();
    let echo_addr = tcp_echo().await;
    let server = mtls_proxy(mesh(&ca, "db")).await;
    server
        .apply_config(inbound_config(InboundTlsMode::Strict, echo_addr, false))
        .unwrap();
    let inbound = server.listener_addr("in").unwrap();

    let caller = mtls_proxy(mesh(&ca, "web")).await;
    let mut config = ProxyConfig::default();
    config
        .listeners
        .insert("out".into(), tcp_listener("out", "db"));
    let mut db = cluster("db", UpstreamProtocol::Http1, LbPolicy::RoundRobin);
    db.tls = Some(UpstreamTls {
        expected_ids: vec![id("db")],
        sni: "db".into(),
        alpn: vec![],
    });
    config.clusters.insert("db".into(), db);
    config.endpoints.insert(
        "db".into(),
        ClusterEndpoints {
            cluster: "db".into(),
            endpoints: vec![endpoint(inbound)],
        },
    );
    caller.apply_config(config).unwrap();
    let mut conn = TcpStream::connect(caller.listener_addr("out").unwrap())
        .await
        .unwrap();
    conn.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"ping");

    // Plaintext straight to the strict TCP port is refused.
    let mut raw = TcpStream::connect(inbound).await.unwrap();
    raw.write_all(b"ping").await.unwrap();
    let mut out = Vec::new();
    let _ = raw.read_to_end(&mut out).await;
    assert!(out.is_empty());
    caller.shutdown().await;
    server.shutdown().await;
}

#[tokio::test]
async fn mtls_config_without_a_certificate_source_is_rejected() {
    let app = echo("app").await;
    let plain = proxy().await;
    let err = plain
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap_err();
    assert!(err.to_string().contains("mTLS"), "{err}");
    assert!(plain.listener_addr("in").is_none());
    plain.shutdown().await;
}

#[tokio::test]
async fn renewal_reaches_new_connections_and_leaves_open_ones_alone() {
    let ca = TestCa::new("mesh").unwrap();
    let app = echo("api-app").await;
    let server_mesh = mesh(&ca, "api");
    let server = mtls_proxy(server_mesh.clone()).await;
    server
        .apply_config(inbound_config(InboundTlsMode::Strict, app.addr, true))
        .unwrap();
    let inbound = server.listener_addr("in").unwrap();
    let caller = mtls_proxy(mesh(&ca, "web")).await;
    caller
        .apply_config(outbound_config(inbound, "api"))
        .unwrap();
    let url = format!("http://{}", caller.listener_addr("out").unwrap());
    let client = h1_client();
    let (resp, _) = get(&client, format!("{url}/a")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let before = server_mesh.store().svid().unwrap();

    let old_leaf = served_leaf(inbound, client_for_web(&ca)).await;

    issue(&ca, server_mesh.store(), "api", Duration::from_secs(7200));
    let after = server_mesh.store().svid().unwrap();
    assert_ne!(before.not_after, after.not_after);
    // The pooled connection, opened with the old certificate, keeps carrying requests ...
    let downstream_before = metric(
        &metrics(&server).await,
        "rig_downstream_connections_total{listener=\"in\"}",
    );
    for _ in 0..5 {
        let (resp, _) = get(&client, format!("{url}/b")).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let downstream_after = metric(
        &metrics(&server).await,
        "rig_downstream_connections_total{listener=\"in\"}",
    );
    assert_eq!(
        downstream_before, downstream_after,
        "no new connection was needed"
    );
    // ... and a new handshake gets the new one.
    let new_leaf = served_leaf(inbound, client_for_web(&ca)).await;
    assert_ne!(old_leaf, new_leaf);
    let current = server_mesh.store().certified_key().unwrap();
    assert_eq!(new_leaf, current.cert[0]);
    caller.shutdown().await;
    server.shutdown().await;
}

/// The leaf certificate the server at `addr` presents.
async fn served_leaf(
    addr: SocketAddr,
    mut config: ClientConfig,
) -> rustls_pki_types::CertificateDer<'static> {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(addr).await.unwrap();
    let tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("api").unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

fn client_for_web(ca: &TestCa) -> ClientConfig {
    client(ca, Some(&LeafSpec::svid(&id("web"))), ca)
}
