//! Route actions on real traffic: weighted splits, header mutations, prefix rewrites, retries
//! and the retry budget, hash policies, fault injection, mirroring and idle timeouts, against
//! upstreams on loopback.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rigging_proxy_config::{
    ClusterEndpoints, HeaderAdd, HeaderAppend, LbPolicy, ListenerKind, ProxyConfig, RetryOn,
    RetryPolicy, Route, UpstreamProtocol,
};
use tokio::net::TcpListener;

use super::support::*;

mod actions;
mod fault;
mod hash;
mod idle;
mod mirror;
mod retry;

/// What an upstream saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// How a scripted upstream answers one request.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    delay: Duration,
}

/// An upstream (HTTP/1.1 and h2c) whose answers a script decides from the count of requests
/// it got before; it records every request.
struct Scripted {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    /// Connections accepted.
    conns: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

fn reply(status: u16) -> Reply {
    Reply {
        status,
        headers: vec![],
        delay: Duration::ZERO,
    }
}

async fn scripted(
    tag: &'static str,
    script: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> Scripted {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let conns = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(script);
    let (h, c, s) = (Arc::clone(&hits), Arc::clone(&conns), Arc::clone(&seen));
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            c.fetch_add(1, Ordering::SeqCst);
            let (h, s, script) = (Arc::clone(&h), Arc::clone(&s), Arc::clone(&script));
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let n = h.fetch_add(1, Ordering::SeqCst);
                    let r = script(n);
                    let s = Arc::clone(&s);
                    async move {
                        let path = req
                            .uri()
                            .path_and_query()
                            .map_or("/".into(), |p| p.as_str().to_owned());
                        let headers = req.headers().clone();
                        let body = req.into_body().collect().await;
                        let body = body.map(|b| b.to_bytes()).unwrap_or_default();
                        s.lock().unwrap().push(Seen {
                            path,
                            headers,
                            body,
                        });
                        tokio::time::sleep(r.delay).await;
                        let mut resp = Response::builder()
                            .status(r.status)
                            .header("x-upstream", tag);
                        for (k, v) in r.headers {
                            resp = resp.header(k, v);
                        }
                        Ok::<_, Infallible>(resp.body(Full::new(Bytes::from(tag))).unwrap())
                    }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    Scripted {
        addr,
        hits,
        conns,
        seen,
    }
}

fn hits(s: &Scripted) -> usize {
    s.hits.load(Ordering::SeqCst)
}

/// An address nothing listens on.
async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind(LOOPBACK0).await.unwrap();
    l.local_addr().unwrap()
}

fn add_cluster(config: &mut ProxyConfig, name: &str, lb: LbPolicy, addrs: &[SocketAddr]) {
    add_cluster_with(config, name, UpstreamProtocol::Http1, lb, addrs);
}

fn add_cluster_with(
    config: &mut ProxyConfig,
    name: &str,
    protocol: UpstreamProtocol,
    lb: LbPolicy,
    addrs: &[SocketAddr],
) {
    config
        .clusters
        .insert(name.into(), cluster(name, protocol, lb));
    config.endpoints.insert(
        name.into(),
        ClusterEndpoints {
            cluster: name.into(),
            endpoints: addrs.iter().copied().map(endpoint).collect(),
        },
    );
}

/// Listener `out` → route config `svc` (one `*` virtual host with `route`) and the clusters.
fn config_with(route: Route, clusters: &[(&str, &[SocketAddr])]) -> ProxyConfig {
    let mut config = ProxyConfig::default();
    config
        .listeners
        .insert("out".into(), http_listener("out", "svc"));
    let mut rc = route_config("svc", "unused", None);
    rc.virtual_hosts[0].routes = vec![route];
    config.routes.insert("svc".into(), rc);
    for (name, addrs) in clusters {
        add_cluster(&mut config, name, LbPolicy::RoundRobin, addrs);
    }
    config
}

/// The default route of the support module, to `cluster`.
fn route_to(cluster: &str) -> Route {
    route_config("x", cluster, None).virtual_hosts[0].routes[0].clone()
}

fn retry(on: &[RetryOn], num_retries: u32) -> Option<RetryPolicy> {
    Some(RetryPolicy {
        retry_on: on.iter().copied().collect(),
        num_retries,
        retriable_status_codes: Default::default(),
    })
}

fn add(name: &str, value: &str, action: HeaderAppend) -> HeaderAdd {
    HeaderAdd {
        name: name.into(),
        value: value.into(),
        action,
    }
}

fn with_fault_filter(mut config: ProxyConfig) -> ProxyConfig {
    for l in config.listeners.values_mut() {
        if let ListenerKind::Http { fault_filter, .. } = &mut l.kind {
            *fault_filter = true;
        }
    }
    config
}

/// Sends `n` GETs to `url`, `concurrency` at a time; the responses' status and `x-upstream`.
async fn load(url: &str, n: usize, concurrency: usize) -> Vec<(StatusCode, String, Duration)> {
    let client = h1_client();
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, next, url) = (client.clone(), Arc::clone(&next), url.to_owned());
            tokio::spawn(async move {
                let mut out = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let start = Instant::now();
                    let (resp, _) = get(&client, url.clone()).await;
                    out.push((
                        resp.status(),
                        header(&resp, "x-upstream").to_owned(),
                        start.elapsed(),
                    ));
                }
                out
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all
}
