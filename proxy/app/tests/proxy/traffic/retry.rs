//! Retries: the retry-on conditions, the retry budget, gRPC statuses and refused HTTP/2 streams,
//! the body buffer limit, and the route timeout over all attempts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use rigging_proxy_config::{LbPolicy, RetryOn, UpstreamProtocol};
use tokio::net::TcpListener;

use super::{
    Reply, add_cluster_with, config_with, dead_addr, hits, load, reply, retry, route_to, scripted,
};
use crate::proxy::support::*;

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
