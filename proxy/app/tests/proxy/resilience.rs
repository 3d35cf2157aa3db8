//! Cluster-level traffic rules on real traffic: load-balancing policies, priority failover,
//! outlier detection and circuit breakers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use rigging_proxy_app::ProxyHandle;
use rigging_proxy_config::{
    CircuitBreakers, EndpointHealth, LbPolicy, OutlierDetection, UpstreamProtocol,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::*;

/// An HTTP/1.1 upstream that answers every request with `status`, and counts them.
async fn failing(status: u16) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req| {
                    counter.fetch_add(1, Ordering::Relaxed);
                    let mut resp = Response::new(Full::new(Bytes::from_static(b"failing\n")));
                    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
                    async move { Ok::<_, Infallible>(resp) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (addr, hits)
}

/// An address nothing listens on: connections to it are refused.
async fn dead_addr() -> SocketAddr {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    listener.local_addr().unwrap()
}

/// Ejects after `consecutive_5xx` failures for `base` (sweeping every 50 ms), any share of the
/// cluster.
fn outlier(consecutive_5xx: u32, base: Duration) -> OutlierDetection {
    OutlierDetection {
        consecutive_5xx,
        interval: Duration::from_millis(50),
        base_ejection_time: base,
        max_ejection_percent: 100,
        ..OutlierDetection::default()
    }
}

fn with_priority(
    addr: SocketAddr,
    priority: u32,
    health: EndpointHealth,
) -> rigging_proxy_config::Endpoint {
    let mut e = endpoint_with(addr, health);
    e.priority = priority;
    e
}

async fn ejected(proxy: &ProxyHandle, cluster: &str) -> Vec<String> {
    let dump: serde_json::Value =
        serde_json::from_str(&admin_get(proxy, "/config_dump").await).unwrap();
    dump["clusters"][cluster]["ejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

/// Sends `n` GETs one after the other; returns their statuses.
async fn get_n(url: &str, n: usize) -> Vec<StatusCode> {
    let client = h1_client();
    let mut statuses = Vec::with_capacity(n);
    for _ in 0..n {
        statuses.push(get(&client, format!("{url}/")).await.0.status());
    }
    statuses
}

#[tokio::test]
async fn every_lb_policy_is_accepted_and_serves() {
    let upstreams = [echo("a").await, echo("b").await, echo("c").await];
    let endpoints: Vec<_> = upstreams.iter().map(|u| endpoint(u.addr)).collect();
    let proxy = proxy().await;
    let url = format!("http://{}", {
        proxy
            .apply_config(http_config(
                UpstreamProtocol::Http1,
                LbPolicy::RoundRobin,
                endpoints.clone(),
                None,
            ))
            .unwrap();
        proxy.listener_addr("out").unwrap()
    });
    for lb in [
        LbPolicy::Random,
        LbPolicy::LeastRequest {
            choice_count: NonZeroU32::new(3).unwrap(),
        },
        LbPolicy::RingHash {
            minimum_ring_size: 64,
            maximum_ring_size: 1024,
        },
        LbPolicy::Maglev,
    ] {
        proxy
            .apply_config(http_config(
                UpstreamProtocol::Http1,
                lb,
                endpoints.clone(),
                None,
            ))
            .unwrap();
        let before: usize = upstreams
            .iter()
            .map(|u| u.hits.load(Ordering::Relaxed))
            .sum();
        let statuses = get_n(&url, 30).await;
        assert!(
            statuses.iter().all(|s| *s == StatusCode::OK),
            "{lb:?}: {statuses:?}"
        );
        let after: usize = upstreams
            .iter()
            .map(|u| u.hits.load(Ordering::Relaxed))
            .sum();
        assert_eq!(after - before, 30, "{lb:?}");
    }
    // Without a request hash, ring hash and Maglev pick at random, as Envoy does: every
    // endpoint got some of the traffic.
    for u in &upstreams {
        assert!(u.hits.load(Ordering::Relaxed) > 0);
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn invalid_lb_settings_are_rejected_and_the_previous_config_serves() {
    let a = echo("a").await;
    let (proxy, url) = proxy_with(http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    ))
    .await;
    let bad = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RingHash {
            minimum_ring_size: 4096,
            maximum_ring_size: 1024,
        },
        vec![endpoint(a.addr)],
        None,
    );
    let err = proxy.apply_config(bad).unwrap_err();
    assert!(
        format!("{err:?}").contains("RingSizeOrder"),
        "unexpected error {err:?}"
    );
    assert_eq!(get_n(&url, 1).await, [StatusCode::OK]);
    proxy.shutdown().await;
}

#[tokio::test]
async fn priority_failover_follows_endpoint_health() {
    let primary = echo("primary").await;
    let failover = echo("failover").await;
    let config = |health| {
        http_config(
            UpstreamProtocol::Http1,
            LbPolicy::RoundRobin,
            vec![
                with_priority(primary.addr, 0, health),
                with_priority(failover.addr, 1, EndpointHealth::Healthy),
            ],
            None,
        )
    };
    let (proxy, url) = proxy_with(config(EndpointHealth::Unhealthy)).await;
    let client = h1_client();
    for _ in 0..5 {
        let (resp, _) = get(&client, format!("{url}/")).await;
        assert_eq!(header(&resp, "x-upstream"), "failover");
    }
    // The primary is back: all traffic returns to priority 0.
    proxy.apply_config(config(EndpointHealth::Healthy)).unwrap();
    for _ in 0..5 {
        let (resp, _) = get(&client, format!("{url}/")).await;
        assert_eq!(header(&resp, "x-upstream"), "primary");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn consecutive_5xx_eject_an_endpoint_until_its_time_is_up() {
    let (bad, bad_hits) = failing(500).await;
    let a = echo("a").await;
    let b = echo("b").await;
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(bad), endpoint(a.addr), endpoint(b.addr)],
        None,
    );
    let base = Duration::from_millis(1500);
    config.clusters.get_mut("svc").unwrap().outlier_detection = Some(outlier(3, base));
    let (proxy, url) = proxy_with(config).await;

    let statuses = get_n(&url, 30).await;
    let failures = statuses.iter().filter(|s| s.is_server_error()).count();
    assert_eq!(failures, 3, "{statuses:?}");
    assert_eq!(bad_hits.load(Ordering::Relaxed), 3);
    assert_eq!(ejected(&proxy, "svc").await, [bad.to_string()]);
    let dump: serde_json::Value =
        serde_json::from_str(&admin_get(&proxy, "/config_dump").await).unwrap();
    let svc = &dump["config"]["clusters"]["svc"];
    assert_eq!(svc["outlier_detection"]["consecutive_5xx"], 3);
    assert_eq!(svc["circuit_breakers"]["max_requests"], 1024);
    assert_eq!(dump["clusters"]["svc"]["endpoints"][0]["ejected"], true);
    let metrics = admin_get(&proxy, "/metrics").await;
    for want in [
        r#"rig_outlier_ejections_total{cluster="svc"} 1"#,
        r#"rig_outlier_ejections_active{cluster="svc"} 1"#,
    ] {
        assert!(metrics.contains(want), "missing {want} in\n{metrics}");
    }

    // Returned after base_ejection_time, by the sweep timer, without traffic meanwhile.
    tokio::time::sleep(base + Duration::from_millis(300)).await;
    assert!(ejected(&proxy, "svc").await.is_empty());
    get_n(&url, 6).await;
    assert!(
        bad_hits.load(Ordering::Relaxed) > 3,
        "the endpoint gets traffic again"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_ejected_priority_fails_over_to_the_next() {
    let (bad, bad_hits) = failing(503).await;
    let failover = echo("failover").await;
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![
            with_priority(bad, 0, EndpointHealth::Healthy),
            with_priority(failover.addr, 1, EndpointHealth::Healthy),
        ],
        None,
    );
    let base = Duration::from_millis(1000);
    config.clusters.get_mut("svc").unwrap().outlier_detection = Some(outlier(2, base));
    let (proxy, url) = proxy_with(config).await;

    let statuses = get_n(&url, 10).await;
    assert_eq!(statuses[..2], [StatusCode::SERVICE_UNAVAILABLE; 2]);
    assert!(
        statuses[2..].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(failover.hits.load(Ordering::Relaxed), 8);

    // Back to priority 0 once the ejection is over.
    tokio::time::sleep(base + Duration::from_millis(300)).await;
    get_n(&url, 1).await;
    assert_eq!(bad_hits.load(Ordering::Relaxed), 3);
    proxy.shutdown().await;
}

#[tokio::test]
async fn tcp_connect_failures_eject_the_endpoint() {
    let dead = dead_addr().await;
    let live = tcp_echo().await;
    let mut config = tcp_config(vec![dead, live]);
    let base = Duration::from_millis(800);
    config.clusters.get_mut("db").unwrap().outlier_detection = Some(outlier(2, base));
    let proxy = proxy().await;
    proxy.apply_config(config).unwrap();
    // Every connection reaches the live endpoint (a failed connect falls back to it); the
    // dead one is ejected after its second failure.
    for _ in 0..6 {
        assert_eq!(round_trip(&proxy, b"ping").await, b"ping");
    }
    assert_eq!(ejected(&proxy, "db").await, [dead.to_string()]);
    let metrics = admin_get(&proxy, "/metrics").await;
    assert!(
        metrics.contains(r#"rig_outlier_ejections_total{cluster="db"} 1"#),
        "{metrics}"
    );
    // The timer returns it without any traffic.
    tokio::time::sleep(base + Duration::from_millis(300)).await;
    assert!(ejected(&proxy, "db").await.is_empty());
    proxy.shutdown().await;
}

/// A proxy in front of one echo upstream over HTTP/1.1, its cluster's circuit breakers set by
/// `limit`: the upstream, the proxy and its URL.
async fn behind_breakers(limit: impl FnOnce(&mut CircuitBreakers)) -> (Echo, ProxyHandle, String) {
    let slow = echo("slow").await;
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(slow.addr)],
        None,
    );
    limit(&mut config.clusters.get_mut("svc").unwrap().circuit_breakers);
    let (proxy, url) = proxy_with(config).await;
    (slow, proxy, url)
}

#[tokio::test]
async fn max_requests_overflow_is_answered_503_at_once() {
    let (_slow, proxy, url) = behind_breakers(|b| b.max_requests = 2).await;
    let client = h1_client();
    let requests = (0..10).map(|_| {
        let client = client.clone();
        let url = format!("{url}/slow/1000");
        tokio::spawn(async move {
            let start = Instant::now();
            let (resp, _) = get(&client, url).await;
            let overloaded = header(&resp, "x-envoy-overloaded") == "true";
            (resp.status(), overloaded, start.elapsed())
        })
    });
    let results = futures::future::join_all(requests).await;
    let mut ok = 0;
    let mut refused = 0;
    for r in results {
        let (status, overloaded, elapsed) = r.unwrap();
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(overloaded);
                assert!(
                    elapsed < Duration::from_millis(500),
                    "refused after {elapsed:?}"
                );
                refused += 1;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((ok, refused), (2, 8));
    assert_metric(
        &proxy,
        r#"rig_upstream_overflow_total{cluster="svc",limit="requests"} 8"#,
    )
    .await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn max_connections_refuses_a_second_http1_connection() {
    // Requests that came over HTTP/1.1...
    refuses_a_second_upstream_connection(h1_client()).await;
}

#[tokio::test]
async fn max_connections_bounds_the_connections_of_h2c_streams() {
    // ... and streams of one HTTP/2 connection, served by one task: the same limit holds.
    refuses_a_second_upstream_connection(h2c_client()).await;
}

/// With `max_connections = 1`, a request that needs a second upstream connection while the
/// first is busy is refused at once, and the first connection carries later requests.
async fn refuses_a_second_upstream_connection(client: Client<HttpConnector, Full<Bytes>>) {
    let (slow, proxy, url) = behind_breakers(|b| b.max_connections = 1).await;
    let first = tokio::spawn({
        let client = client.clone();
        let url = format!("{url}/slow/800");
        async move { get(&client, url).await.0.status() }
    });
    let mut started = slow.started;
    started.recv().await.unwrap();
    // The only connection is busy: a second request would need another.
    let (resp, _) = get(&client, format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-envoy-overloaded"), "true");
    assert_eq!(first.await.unwrap(), StatusCode::OK);
    // Once it is idle again, the connection carries the next request.
    let (resp, _) = get(&client, format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_metric(
        &proxy,
        r#"rig_upstream_overflow_total{cluster="svc",limit="connections"} 1"#,
    )
    .await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn max_connections_refuses_a_second_tcp_connection() {
    let live = tcp_echo().await;
    let mut config = tcp_config(vec![live]);
    config
        .clusters
        .get_mut("db")
        .unwrap()
        .circuit_breakers
        .max_connections = 1;
    let proxy = proxy().await;
    proxy.apply_config(config).unwrap();
    let out = proxy.listener_addr("out").unwrap();

    let mut first = TcpStream::connect(out).await.unwrap();
    first.write_all(b"one").await.unwrap();
    let mut buf = [0u8; 3];
    first.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"one");

    // Over the limit: closed at once, nothing relayed.
    let mut second = TcpStream::connect(out).await.unwrap();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(2), second.read_to_end(&mut rest)).await;
    assert!(matches!(read, Ok(Ok(0))), "{read:?}");

    // Closing the first frees the permit (once the proxy saw it close).
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut third = TcpStream::connect(out).await.unwrap();
        third.write_all(b"three").await.unwrap();
        let mut buf = [0u8; 5];
        if third.read_exact(&mut buf).await.is_ok() {
            assert_eq!(&buf, b"three");
            break;
        }
        assert!(Instant::now() < deadline, "the permit was never released");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_metric(
        &proxy,
        r#"rig_upstream_overflow_total{cluster="db",limit="connections"}"#,
    )
    .await;
    proxy.shutdown().await;
}
