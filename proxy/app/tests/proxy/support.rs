//! Echo upstreams, clients and configuration builders for the tests.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rigging_proxy_app::{Proxy, ProxyHandle, ProxyOptions};
use rigging_proxy_config::{
    Cluster, ClusterEndpoints, Direction, Discovery, Endpoint, EndpointHealth, LbPolicy, Listener,
    ListenerKind, Locality, PathMatch, ProxyConfig, Route, RouteAction, RouteConfig,
    RouteDestination, UpstreamProtocol, VirtualHost,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub type Body = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

pub const LOOPBACK0: &str = "127.0.0.1:0";

/// An echo upstream speaking HTTP/1.1 and h2c. It answers with `x-upstream: <tag>`,
/// `x-seen-version`, `x-seen-host`, `x-seen-te`, `x-seen-trailers` (the request's trailers,
/// `name=value,…`) and the request body; `/slow/<ms>` waits first
/// (and reports on `started` when one begins); `/trailers` adds a `grpc-status: 0` trailer.
pub struct Echo {
    pub addr: SocketAddr,
    pub started: mpsc::UnboundedReceiver<()>,
    /// Requests received, of any path.
    pub hits: Arc<AtomicUsize>,
}

pub async fn echo(tag: &'static str) -> Echo {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, started) = mpsc::unbounded_channel();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    respond(tag, tx.clone(), req)
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Echo {
        addr,
        started,
        hits,
    }
}

async fn respond(
    tag: &'static str,
    started: mpsc::UnboundedSender<()>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    if let Some(ms) = path.strip_prefix("/slow/") {
        let _ = started.send(());
        tokio::time::sleep(Duration::from_millis(ms.parse().unwrap())).await;
    }
    let version = format!("{:?}", req.version());
    let host = req
        .headers()
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default();
    let te = req
        .headers()
        .get(http::header::TE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let xfcc = req
        .headers()
        .get("x-forwarded-client-cert")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let collected = req.into_body().collect().await.ok();
    let seen_trailers = collected
        .as_ref()
        .and_then(|c| c.trailers())
        .map(|t| {
            t.iter()
                .map(|(k, v)| format!("{k}={}", v.to_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let body = collected.map(|b| b.to_bytes()).unwrap_or_default();
    let builder = Response::builder()
        .header("x-seen-trailers", seen_trailers)
        .header("x-upstream", tag)
        .header("x-seen-xfcc", xfcc)
        .header("x-seen-version", version)
        .header("x-seen-host", host)
        .header("x-seen-te", te);
    let resp = if path == "/trailers" {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let frames = vec![
            Ok::<_, hyper::Error>(Frame::data(body)),
            Ok(Frame::trailers(trailers)),
        ];
        builder.body(StreamBody::new(futures::stream::iter(frames)).boxed())
    } else {
        builder.body(Full::new(body).map_err(|e| match e {}).boxed())
    };
    Ok(resp.unwrap())
}

/// Asserts that the proxy's `/metrics` contains `want`.
pub async fn assert_metric(proxy: &ProxyHandle, want: &str) {
    let metrics = admin_get(proxy, "/metrics").await;
    assert!(metrics.contains(want), "missing {want} in\n{metrics}");
}

/// A TCP upstream echoing bytes back.
pub async fn tcp_echo() -> SocketAddr {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// A TCP listener `out` relaying to the cluster `db` of `endpoints`.
pub fn tcp_config(endpoints: Vec<SocketAddr>) -> ProxyConfig {
    let mut config = ProxyConfig::default();
    config
        .listeners
        .insert("out".into(), tcp_listener("out", "db"));
    config.clusters.insert(
        "db".into(),
        cluster("db", UpstreamProtocol::Http1, LbPolicy::RoundRobin),
    );
    config.endpoints.insert(
        "db".into(),
        ClusterEndpoints {
            cluster: "db".into(),
            endpoints: endpoints.into_iter().map(endpoint).collect(),
        },
    );
    config
}

/// Sends `msg` through the proxy's listener `out`, closes the sending side, and returns all
/// that came back.
pub async fn round_trip(proxy: &ProxyHandle, msg: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(proxy.listener_addr("out").unwrap())
        .await
        .unwrap();
    stream.write_all(msg).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    out
}

/// A proxy without Pilot, admin on an ephemeral port.
pub async fn proxy() -> ProxyHandle {
    let mut opts = ProxyOptions::new("test-proxy", "");
    opts.admin_addr = LOOPBACK0.parse().unwrap();
    opts.drain_timeout = Duration::from_millis(200);
    Proxy::start(opts).await.unwrap()
}

pub fn h1_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub fn h2c_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http()
}

pub async fn get(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: String,
) -> (Response<()>, String) {
    let resp = client.get(url.parse().unwrap()).await.unwrap();
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    (
        Response::from_parts(parts, ()),
        String::from_utf8_lossy(&body).into_owned(),
    )
}

pub fn header<'a>(resp: &'a Response<()>, name: &str) -> &'a str {
    resp.headers().get(name).map_or("", |v| v.to_str().unwrap())
}

pub fn endpoint(addr: SocketAddr) -> Endpoint {
    endpoint_with(addr, EndpointHealth::Healthy)
}

pub fn endpoint_with(addr: SocketAddr, health: EndpointHealth) -> Endpoint {
    Endpoint {
        addr,
        health,
        locality: Locality::default(),
        weight: 1,
        metadata: BTreeMap::new(),
        priority: 0,
    }
}

pub fn cluster(name: &str, protocol: UpstreamProtocol, lb_policy: LbPolicy) -> Cluster {
    Cluster {
        name: name.into(),
        lb_policy,
        connect_timeout: Duration::from_millis(500),
        protocol,
        discovery: Discovery::Eds,
        tls: None,
        circuit_breakers: Default::default(),
        outlier_detection: None,
    }
}

pub fn http_listener(name: &str, route_config: &str) -> Listener {
    Listener {
        name: name.into(),
        addr: LOOPBACK0.parse().unwrap(),
        direction: Direction::Outbound,
        kind: ListenerKind::Http {
            route_config: route_config.into(),
            websocket: true,
            fault_filter: false,
        },
        tls: None,
    }
}

pub fn tcp_listener(name: &str, cluster: &str) -> Listener {
    Listener {
        name: name.into(),
        addr: LOOPBACK0.parse().unwrap(),
        direction: Direction::Outbound,
        kind: ListenerKind::Tcp {
            cluster: cluster.into(),
        },
        tls: None,
    }
}

pub fn route_config(name: &str, cluster: &str, timeout: Option<Duration>) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        virtual_hosts: vec![VirtualHost {
            name: "all".into(),
            domains: vec!["*".into()],
            routes: vec![Route {
                name: "default".into(),
                path: PathMatch::Prefix("/".into()),
                case_sensitive: true,
                headers: vec![],
                query_parameters: vec![],
                action: RouteAction {
                    destination: RouteDestination::Cluster(cluster.into()),
                    timeout,
                    idle_timeout: None,
                    prefix_rewrite: None,
                    retry: None,
                    hash_policies: vec![],
                    mirrors: vec![],
                },
                request_headers: Default::default(),
                response_headers: Default::default(),
                fault: None,
            }],
        }],
    }
}

/// One outbound HTTP listener `out` → route `svc` → EDS cluster `svc` over `endpoints`.
pub fn http_config(
    protocol: UpstreamProtocol,
    lb: LbPolicy,
    endpoints: Vec<Endpoint>,
    timeout: Option<Duration>,
) -> ProxyConfig {
    let mut config = ProxyConfig::default();
    config
        .listeners
        .insert("out".into(), http_listener("out", "svc"));
    config
        .routes
        .insert("svc".into(), route_config("svc", "svc", timeout));
    config
        .clusters
        .insert("svc".into(), cluster("svc", protocol, lb));
    config.endpoints.insert(
        "svc".into(),
        ClusterEndpoints {
            cluster: "svc".into(),
            endpoints,
        },
    );
    config
}

/// A proxy running `config`, and the base URL of its listener `out`.
pub async fn proxy_with(config: ProxyConfig) -> (ProxyHandle, String) {
    let proxy = proxy().await;
    proxy.apply_config(config).unwrap();
    let url = format!("http://{}", proxy.listener_addr("out").unwrap());
    (proxy, url)
}

/// The body of `GET path` on the proxy's admin port.
pub async fn admin_get(proxy: &ProxyHandle, path: &str) -> String {
    get(&h1_client(), format!("http://{}{path}", proxy.admin_addr()))
        .await
        .1
}
