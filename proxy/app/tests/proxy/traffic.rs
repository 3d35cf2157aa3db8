//! Route actions on real traffic: weighted splits, header mutations, prefix rewrites, retries
//! and the retry budget, hash policies, fault injection, mirroring and idle timeouts, against
//! upstreams on loopback.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rigging_proxy_config::{
    AbortStatus, BasisPoints, ClusterEndpoints, FaultAbort, FaultDelay, FaultInjection, HashPolicy,
    HashPolicyKind, HeaderAdd, HeaderAppend, HeaderMutations, LbPolicy, ListenerKind, PathMatch,
    ProxyConfig, RequestMirror, RetryOn, RetryPolicy, Route, RouteDestination, UpstreamProtocol,
    WeightedCluster,
};
use tokio::net::TcpListener;

use super::support::*;

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

#[tokio::test]
async fn weighted_split_sends_90_10_and_applies_each_clusters_headers() {
    let (a, b) = (
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
    );
    let split = |name: &str, weight, tag: &str| WeightedCluster {
        name: name.into(),
        weight: NonZeroU32::new(weight).unwrap(),
        request_headers: HeaderMutations {
            add: vec![add("x-split", tag, HeaderAppend::Overwrite)],
            remove: vec![],
        },
        response_headers: HeaderMutations {
            add: vec![add("x-split-resp", tag, HeaderAppend::Overwrite)],
            remove: vec![],
        },
    };
    let mut route = route_to("unused");
    route.action.destination =
        RouteDestination::Weighted(vec![split("a", 9000, "to-a"), split("b", 1000, "to-b")]);
    let config = config_with(route, &[("a", &[a.addr]), ("b", &[b.addr])]);
    let (proxy, url) = proxy_with(config).await;

    let n = 2_000;
    let results = load(&format!("{url}/"), n, 8).await;
    assert!(results.iter().all(|r| r.0 == StatusCode::OK));
    let to_b = results.iter().filter(|r| r.1 == "b").count();
    // 10 % of 2,000 is 200, with a standard deviation of about 13.4: ±60 is 4.5σ.
    assert!((140..=260).contains(&to_b), "{to_b} of {n} went to b");
    assert_eq!(hits(&a) + hits(&b), n);
    assert!(
        a.seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.headers["x-split"] == "to-a")
    );
    assert!(
        b.seen
            .lock()
            .unwrap()
            .iter()
            .all(|s| s.headers["x-split"] == "to-b")
    );
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    let want = if header(&resp, "x-upstream") == "a" {
        "to-a"
    } else {
        "to-b"
    };
    assert_eq!(header(&resp, "x-split-resp"), want);
    proxy.shutdown().await;
}

#[tokio::test]
async fn header_mutations_reach_the_upstream_and_the_client() {
    let up = scripted("a", |_| Reply {
        headers: vec![
            ("x-secret", "s3cr3t".into()),
            ("x-resp-set", "upstream".into()),
        ],
        ..reply(200)
    })
    .await;
    let mut route = route_to("svc");
    route.request_headers = HeaderMutations {
        add: vec![
            add("x-append", "proxy", HeaderAppend::Append),
            add("x-set", "proxy", HeaderAppend::Overwrite),
        ],
        remove: vec!["x-drop".into()],
    };
    route.response_headers = HeaderMutations {
        add: vec![
            add("x-resp-add", "proxy", HeaderAppend::Append),
            add("x-resp-set", "proxy", HeaderAppend::Overwrite),
        ],
        remove: vec!["x-secret".into()],
    };
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[up.addr])])).await;

    let req = Request::get(format!("{url}/"))
        .header("x-append", "client")
        .header("x-set", "client")
        .header("x-drop", "client")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let h = resp.headers();
    assert_eq!(h["x-resp-add"], "proxy");
    assert_eq!(h["x-resp-set"], "proxy");
    assert_eq!(h.get_all("x-resp-set").iter().count(), 1);
    assert!(!h.contains_key("x-secret"));

    let seen = up.seen.lock().unwrap()[0].headers.clone();
    let appended: Vec<_> = seen.get_all("x-append").iter().collect();
    assert_eq!(appended, ["client", "proxy"]);
    assert_eq!(seen.get_all("x-set").iter().collect::<Vec<_>>(), ["proxy"]);
    assert!(!seen.contains_key("x-drop"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn prefix_rewrite_is_what_the_upstream_sees() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.path = PathMatch::Prefix("/api/".into());
    route.action.prefix_rewrite = Some("/v2/".into());
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[up.addr])])).await;

    let (resp, _) = get(&h1_client(), format!("{url}/api/users?id=7")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (resp, _) = get(&h2c_client(), format!("{url}/api/x")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let paths: Vec<_> = up
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert_eq!(paths, ["/v2/users?id=7", "/v2/x"]);
    proxy.shutdown().await;
}

#[tokio::test]
async fn retries_turn_a_flaky_upstreams_503s_into_200s() {
    // Two 503s, then 200s.
    let flaky = scripted("a", |n| reply(if n < 2 { 503 } else { 200 })).await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::FiveXx], 3);
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[flaky.addr])])).await;

    let req = Request::post(format!("{url}/"))
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(hits(&flaky), 3);
    let bodies: Vec<_> = flaky
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| s.body.clone())
        .collect();
    assert_eq!(bodies, ["payload"; 3], "every attempt carries the body");
    let conns = flaky.conns.load(Ordering::SeqCst);
    assert_eq!(conns, 1, "the retried 503s' connection was reused");
    proxy.shutdown().await;

    // One endpoint always fails: a retry goes to the other one.
    let bad = scripted("bad", |_| reply(503)).await;
    let good = scripted("good", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::GatewayError], 1);
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[bad.addr, good.addr])])).await;
    let results = load(&format!("{url}/"), 20, 1).await;
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::OK && r.1 == "good"),
        "{results:?}"
    );
    assert_eq!(hits(&good), 20);
    proxy.shutdown().await;
}

#[tokio::test]
async fn retry_on_connect_failure_skips_a_dead_endpoint() {
    let live = scripted("live", |_| reply(200)).await;
    let dead = dead_addr().await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::ConnectFailure], 1);
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[dead, live.addr])])).await;
    let results = load(&format!("{url}/"), 10, 1).await;
    assert!(results.iter().all(|r| r.0 == StatusCode::OK), "{results:?}");
    assert_eq!(hits(&live), 10);
    proxy.shutdown().await;
}

#[tokio::test]
async fn no_retry_when_retry_on_does_not_match() {
    let up = scripted("a", |_| reply(503)).await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::ConnectFailure, RetryOn::Retriable4xx], 3);
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[up.addr])])).await;
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-upstream"), "a", "the upstream's own 503");
    assert_eq!(hits(&up), 1);
    proxy.shutdown().await;
}

#[tokio::test]
async fn retry_budget_caps_concurrent_retries() {
    // Slow enough that every first attempt is in flight before the first retry ends, so no
    // retry permit is given back and taken again during the test.
    let up = scripted("a", |_| Reply {
        delay: Duration::from_millis(600),
        ..reply(503)
    })
    .await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::FiveXx], 1);
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[up.addr])])).await;

    let n = 20;
    let results = load(&format!("{url}/"), n, n).await;
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::SERVICE_UNAVAILABLE)
    );
    // Envoy's default budget: 20 % of the 20 requests in flight, at least 3 → 4 retries.
    let allowed = (n / 5).max(3);
    let got = hits(&up);
    assert!(got > n, "some retries were allowed: {got}");
    assert!(got <= n + allowed, "{got} attempts for {n} requests");
    proxy.shutdown().await;
}

#[tokio::test]
async fn grpc_retry_on_unavailable() {
    let up = scripted("a", |n| Reply {
        headers: vec![
            ("content-type", "application/grpc".into()),
            ("grpc-status", if n == 0 { "14" } else { "0" }.into()),
        ],
        ..reply(200)
    })
    .await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::Unavailable], 2);
    let mut config = config_with(route, &[]);
    add_cluster_with(
        &mut config,
        "svc",
        UpstreamProtocol::Http2,
        LbPolicy::RoundRobin,
        &[up.addr],
    );
    let (proxy, url) = proxy_with(config).await;
    let req = Request::post(format!("{url}/pkg.Svc/Call"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    let resp = h2c_client().request(req).await.unwrap();
    assert_eq!(resp.headers()["grpc-status"], "0");
    assert_eq!(hits(&up), 2);
    proxy.shutdown().await;
}

#[tokio::test]
async fn header_hash_policy_keeps_a_key_on_one_endpoint() {
    let ups = [
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
        scripted("c", |_| reply(200)).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut route = route_to("svc");
    route.action.hash_policies = vec![HashPolicy {
        kind: HashPolicyKind::Header("x-user".into()),
        terminal: false,
    }];
    let mut config = config_with(route, &[]);
    let ring = LbPolicy::RingHash {
        minimum_ring_size: 1024,
        maximum_ring_size: 8192,
    };
    add_cluster(&mut config, "svc", ring, &addrs);
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for user in 0..20 {
        for _ in 0..5 {
            let req = Request::get(format!("{url}/"))
                .header("x-user", format!("user-{user}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            by_user
                .entry(format!("user-{user}"))
                .or_default()
                .push(resp.headers()["x-upstream"].to_str().unwrap().to_owned());
        }
    }
    for (user, seen) in &by_user {
        assert!(seen.windows(2).all(|w| w[0] == w[1]), "{user}: {seen:?}");
    }
    let endpoints: BTreeSet<_> = by_user.values().map(|v| v[0].clone()).collect();
    assert!(
        endpoints.len() > 1,
        "keys spread over endpoints: {endpoints:?}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn cookie_hash_policy_sets_the_cookie_when_missing() {
    let ups = [
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut route = route_to("svc");
    route.action.hash_policies = vec![HashPolicy {
        kind: HashPolicyKind::Cookie {
            name: "sticky".into(),
            ttl: Some(Duration::from_secs(3600)),
            path: Some("/".into()),
        },
        terminal: true,
    }];
    let mut config = config_with(route, &[]);
    add_cluster(&mut config, "svc", LbPolicy::Maglev, &addrs);
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();

    let (resp, _) = get(&client, format!("{url}/")).await;
    let cookie = header(&resp, "set-cookie").to_owned();
    let value = cookie
        .strip_prefix("sticky=")
        .and_then(|c| c.split(';').next())
        .unwrap_or_else(|| panic!("set-cookie: {cookie:?}"))
        .to_owned();
    assert_eq!(
        cookie,
        format!("sticky={value}; Max-Age=3600; Path=/; HttpOnly")
    );
    let first = header(&resp, "x-upstream").to_owned();
    for _ in 0..10 {
        let req = Request::get(format!("{url}/"))
            .header("cookie", format!("other=1; sticky={value}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let resp = client.request(req).await.unwrap();
        assert!(!resp.headers().contains_key("set-cookie"));
        assert_eq!(resp.headers()["x-upstream"], first.as_str());
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn delay_fault_delays_about_its_share() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    let delay = Duration::from_millis(500);
    route.fault = Some(FaultInjection {
        delay: Some(FaultDelay {
            delay,
            percentage: BasisPoints::from_percent(50),
        }),
        abort: None,
    });
    let config = config_with(route, &[("svc", &[up.addr])]);
    let (proxy, url) = proxy_with(with_fault_filter(config.clone())).await;
    let n = 100;
    // A few at a time, and a delay long enough that an undelayed request stays far below it
    // even on a busy machine.
    let results = load(&format!("{url}/"), n, 10).await;
    let delayed = results.iter().filter(|r| r.2 >= delay).count();
    // 50 % of 100, σ = 5: ±22 is over 4σ.
    assert!((28..=72).contains(&delayed), "{delayed} of {n} delayed");
    assert!(results.iter().all(|r| r.0 == StatusCode::OK));
    assert_eq!(hits(&up), n);
    proxy.shutdown().await;

    // Without the fault filter on the listener, the route's fault does not apply.
    let (proxy, url) = proxy_with(config).await;
    let results = load(&format!("{url}/"), 20, 20).await;
    assert!(results.iter().all(|r| r.2 < delay), "{results:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn abort_fault_aborts_its_share_before_the_upstream() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.fault = Some(FaultInjection {
        delay: None,
        abort: Some(FaultAbort {
            status: AbortStatus::Http(418),
            percentage: BasisPoints::from_percent(30),
        }),
    });
    let config = with_fault_filter(config_with(route, &[("svc", &[up.addr])]));
    let (proxy, url) = proxy_with(config).await;
    let n = 1_000;
    let results = load(&format!("{url}/"), n, 8).await;
    let aborted = results
        .iter()
        .filter(|r| r.0 == StatusCode::IM_A_TEAPOT)
        .count();
    // 30 % of 1,000, σ ≈ 14.5: ±70 is almost 5σ.
    assert!((230..=370).contains(&aborted), "{aborted} of {n} aborted");
    assert_eq!(
        hits(&up),
        n - aborted,
        "aborted requests never reach the upstream"
    );
    let metrics = admin_get(&proxy, "/metrics").await;
    let want =
        format!(r#"rig_route_actions_total{{listener="out",action="fault_abort"}} {aborted}"#);
    assert!(metrics.contains(&want), "missing {want} in\n{metrics}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn grpc_abort_fault_is_a_trailers_only_response() {
    let up = scripted("a", |_| reply(200)).await;
    let mut route = route_to("svc");
    route.fault = Some(FaultInjection {
        delay: None,
        abort: Some(FaultAbort {
            status: AbortStatus::Grpc(14),
            percentage: BasisPoints::ALL,
        }),
    });
    let config = with_fault_filter(config_with(route, &[("svc", &[up.addr])]));
    let (proxy, url) = proxy_with(config).await;
    let req = Request::post(format!("{url}/pkg.Svc/Call"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let resp = h2c_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["grpc-status"], "14");
    assert_eq!(resp.headers()["content-type"], "application/grpc");
    let body = resp.into_body().collect().await.unwrap();
    assert!(body.to_bytes().is_empty());
    assert_eq!(hits(&up), 0);
    proxy.shutdown().await;
}

#[tokio::test]
async fn mirror_copies_its_share_to_the_shadow() {
    let main = scripted("main", |_| reply(200)).await;
    let shadow = scripted("shadow", |_| reply(500)).await;
    let mut route = route_to("svc");
    route.action.mirrors = vec![RequestMirror {
        cluster: "shadow".into(),
        fraction: BasisPoints::from_percent(50),
    }];
    let config = config_with(route, &[("svc", &[main.addr]), ("shadow", &[shadow.addr])]);
    let (proxy, url) = proxy_with(config).await;
    let n = 400;
    let results = load(&format!("{url}/m"), n, 8).await;
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::OK && r.1 == "main")
    );
    // Mirrors run in the background: wait for them to land.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut last = 0;
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = hits(&shadow);
        if now == last && now > 0 {
            break;
        }
        last = now;
    }
    let mirrored = hits(&shadow);
    // 50 % of 400, σ = 10: ±50 is 5σ.
    assert!(
        (150..=250).contains(&mirrored),
        "{mirrored} of {n} mirrored"
    );
    assert_eq!(hits(&main), n);
    let host_of = |s: &Scripted| {
        s.seen.lock().unwrap()[0].headers["host"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let host = url.trim_start_matches("http://");
    let (name, port) = host.rsplit_once(':').unwrap();
    assert_eq!(host_of(&main), host);
    assert_eq!(host_of(&shadow), format!("{name}-shadow:{port}"));
    assert_eq!(shadow.seen.lock().unwrap()[0].path, "/m");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_slow_or_dead_shadow_does_not_affect_the_client() {
    let main = scripted("main", |_| reply(200)).await;
    let slow = scripted("slow", |_| Reply {
        delay: Duration::from_secs(5),
        ..reply(200)
    })
    .await;
    let dead = dead_addr().await;
    let mut route = route_to("svc");
    route.action.mirrors = vec![
        RequestMirror {
            cluster: "slow".into(),
            fraction: BasisPoints::ALL,
        },
        RequestMirror {
            cluster: "dead".into(),
            fraction: BasisPoints::ALL,
        },
    ];
    let config = config_with(
        route,
        &[
            ("svc", &[main.addr]),
            ("slow", &[slow.addr]),
            ("dead", &[dead]),
        ],
    );
    let (proxy, url) = proxy_with(config).await;
    let results = load(&format!("{url}/"), 20, 4).await;
    assert!(
        results
            .iter()
            .all(|r| r.0 == StatusCode::OK && r.1 == "main")
    );
    let slowest = results.iter().map(|r| r.2).max().unwrap();
    // The slow shadow takes 5 s; a busy machine may add a little to each request.
    assert!(
        slowest < Duration::from_secs(3),
        "slowest request took {slowest:?}"
    );
    proxy.shutdown().await;
}

/// An HTTP/2 upstream that resets its first `refuse` streams with `REFUSED_STREAM`, then
/// answers 200; counts the streams it got.
async fn refusing_h2(refuse: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let streams = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&streams);
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(socket).await else {
                    return;
                };
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    if counter.fetch_add(1, Ordering::SeqCst) < refuse {
                        respond.send_reset(h2::Reason::REFUSED_STREAM);
                    } else {
                        let _ = respond.send_response(Response::new(()), true);
                    }
                }
            });
        }
    });
    (addr, streams)
}

#[tokio::test]
async fn refused_streams_are_retried_with_refused_stream() {
    for (refuse, on, want_status, want_streams) in [
        (1, RetryOn::RefusedStream, StatusCode::OK, 2),
        (
            usize::MAX,
            RetryOn::RefusedStream,
            StatusCode::SERVICE_UNAVAILABLE,
            3,
        ),
        (1, RetryOn::Retriable4xx, StatusCode::SERVICE_UNAVAILABLE, 1),
    ] {
        let (addr, streams) = refusing_h2(refuse).await;
        let mut route = route_to("svc");
        route.action.retry = retry(&[on], 2);
        let mut config = config_with(route, &[]);
        add_cluster_with(
            &mut config,
            "svc",
            UpstreamProtocol::Http2,
            LbPolicy::RoundRobin,
            &[addr],
        );
        let (proxy, url) = proxy_with(config).await;
        let (resp, _) = get(&h1_client(), format!("{url}/")).await;
        assert_eq!(resp.status(), want_status, "{on}");
        if want_status != StatusCode::OK {
            assert_eq!(header(&resp, "x-rigging-error"), "upstream_refused_stream");
        }
        assert_eq!(streams.load(Ordering::SeqCst), want_streams, "{on}");
        proxy.shutdown().await;
    }
}

#[tokio::test]
async fn a_body_over_the_buffer_limit_is_sent_once_without_retry() {
    let flaky = scripted("a", |n| reply(if n == 0 { 503 } else { 200 })).await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::FiveXx], 3);
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[flaky.addr])])).await;

    let big = Bytes::from(vec![b'x'; 100 * 1024]);
    let req = Request::post(format!("{url}/"))
        .body(Full::new(big.clone()))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(hits(&flaky), 1);
    assert_eq!(
        flaky.seen.lock().unwrap()[0].body,
        big,
        "streamed through whole"
    );

    // At the limit, the body is buffered and the retry happens.
    let small = Bytes::from(vec![b'y'; 64 * 1024]);
    let req = Request::post(format!("{url}/"))
        .body(Full::new(small.clone()))
        .unwrap();
    let resp = h1_client().request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(flaky.seen.lock().unwrap()[1].body, small);
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_route_timeout_bounds_all_attempts() {
    let slow = scripted("a", |_| Reply {
        delay: Duration::from_millis(150),
        ..reply(503)
    })
    .await;
    let mut route = route_to("svc");
    route.action.retry = retry(&[RetryOn::FiveXx], 20);
    route.action.timeout = Some(Duration::from_millis(400));
    let (proxy, url) = proxy_with(config_with(route, &[("svc", &[slow.addr])])).await;
    let start = Instant::now();
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    let took = start.elapsed();
    // The last 503 when no retry fits in the time left, else the timeout's 504.
    assert!(
        [StatusCode::SERVICE_UNAVAILABLE, StatusCode::GATEWAY_TIMEOUT].contains(&resp.status()),
        "{}",
        resp.status()
    );
    // 20 retries of 150 ms would take over 3 s.
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert!((1..=3).contains(&hits(&slow)), "{} attempts", hits(&slow));
    proxy.shutdown().await;
}

#[tokio::test]
async fn source_ip_hash_policy_keeps_a_client_on_one_endpoint() {
    let ups = [
        scripted("a", |_| reply(200)).await,
        scripted("b", |_| reply(200)).await,
        scripted("c", |_| reply(200)).await,
    ];
    let addrs: Vec<_> = ups.iter().map(|u| u.addr).collect();
    let mut route = route_to("svc");
    route.action.hash_policies = vec![HashPolicy {
        kind: HashPolicyKind::SourceIp,
        terminal: true,
    }];
    let mut config = config_with(route, &[]);
    add_cluster(&mut config, "svc", LbPolicy::Maglev, &addrs);
    let (proxy, url) = proxy_with(config).await;
    // Three connections (three source ports), one source IP.
    let seen: BTreeSet<_> = load(&format!("{url}/"), 30, 3)
        .await
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(seen.len(), 1, "{seen:?}");
    proxy.shutdown().await;
}

/// An upstream that answers 200 at once, then sends each chunk of its body after the chunk's
/// delay.
async fn dribbling(chunks: Vec<(Duration, &'static str)>) -> SocketAddr {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chunks = Arc::new(chunks);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let chunks = Arc::clone(&chunks);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let chunks = Arc::clone(&chunks);
                    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
                    tokio::spawn(async move {
                        for (delay, chunk) in chunks.iter() {
                            tokio::time::sleep(*delay).await;
                            if tx.send(Bytes::from_static(chunk.as_bytes())).await.is_err() {
                                return;
                            }
                        }
                    });
                    let frames = futures::stream::unfold(rx, |mut rx| async move {
                        let chunk = rx.recv().await?;
                        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
                    });
                    async move { Ok::<_, Infallible>(Response::new(StreamBody::new(frames))) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A proxy whose route to `svc` at `addr` has an idle timeout of `idle` (and no route timeout).
async fn idle_proxy(idle: Duration, addr: SocketAddr) -> (rigging_proxy_app::ProxyHandle, String) {
    let mut route = route_to("svc");
    route.action.idle_timeout = Some(idle);
    proxy_with(config_with(route, &[("svc", &[addr])])).await
}

#[tokio::test]
async fn idle_timeout_cuts_a_response_body_that_stalls() {
    let up = dribbling(vec![
        (Duration::ZERO, "first;"),
        (Duration::from_secs(3), "too late"),
    ])
    .await;
    let (proxy, url) = idle_proxy(Duration::from_millis(300), up).await;

    let start = Instant::now();
    let resp = h1_client()
        .get(format!("{url}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the headers came in time");
    let body = resp.into_body().collect().await;
    assert!(body.is_err(), "the body is cut, not ended: {body:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "cut after the idle timeout, not the upstream's stall: {:?}",
        start.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_lets_a_slow_but_steady_body_through() {
    let gap = Duration::from_millis(100);
    let chunks = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let up = dribbling(chunks.iter().map(|c| (gap, *c)).collect()).await;
    let (proxy, url) = idle_proxy(Duration::from_millis(400), up).await;

    let start = Instant::now();
    let (resp, body) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body, "abcdefgh");
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "the whole body took longer than the idle timeout: {:?}",
        start.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_answers_408_while_waiting_for_the_headers() {
    let up = scripted("slow", |_| Reply {
        delay: Duration::from_secs(3),
        ..reply(200)
    })
    .await;
    let (proxy, url) = idle_proxy(Duration::from_millis(300), up.addr).await;

    let start = Instant::now();
    let (resp, body) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(header(&resp, "x-rigging-error"), "idle_timeout");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    proxy.shutdown().await;
}
