use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use rigging_proxy_config::{EndpointHealth, LbPolicy, PathMatch, UpstreamProtocol};

use super::support::*;

#[tokio::test]
async fn http1_through_outbound_listener() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();

    let (resp, _) = get(&client, format!("{url}/hello")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-upstream"), "a");
    assert_eq!(header(&resp, "x-seen-version"), "HTTP/1.1");
    assert_eq!(
        header(&resp, "x-seen-host"),
        url.trim_start_matches("http://")
    );

    let req = Request::post(format!("{url}/echo"))
        .header("connection", "keep-alive")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes(),
        "payload"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn h2c_downstream_to_h1_upstream() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;

    let (resp, _) = get(&h2c_client(), format!("{url}/x")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(header(&resp, "x-seen-version"), "HTTP/1.1");
    // The downstream :authority becomes the upstream Host.
    assert_eq!(
        header(&resp, "x-seen-host"),
        url.trim_start_matches("http://")
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn h2_upstream_cluster_keeps_authority_and_trailers() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http2,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;

    // h1 downstream → h2 upstream.
    let (resp, _) = get(&h1_client(), format!("{url}/x")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, "x-seen-version"), "HTTP/2.0");
    assert_eq!(
        header(&resp, "x-seen-host"),
        url.trim_start_matches("http://")
    );

    // h2 both sides: `te: trailers` and the trailers cross, as gRPC needs.
    let req = Request::post(format!("{url}/trailers"))
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"grpc")))
        .unwrap();
    let resp = h2c_client().request(req).await.unwrap();
    assert_eq!(resp.headers()["x-seen-te"], "trailers");
    let collected = resp.into_body().collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), "grpc");
    proxy.shutdown().await;
}

#[tokio::test]
async fn round_robin_alternates_between_two_upstreams() {
    let (a, b) = (echo("a").await, echo("b").await);
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr), endpoint(b.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();
    let mut seen = Vec::new();
    for _ in 0..6 {
        let (resp, _) = get(&client, format!("{url}/")).await;
        seen.push(header(&resp, "x-upstream").to_owned());
    }
    assert_eq!(seen.iter().filter(|s| *s == "a").count(), 3, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "{seen:?}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn least_request_prefers_the_idle_upstream() {
    let (mut a, mut b) = (echo("a").await, echo("b").await);
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::LeastRequest {
            choice_count: rigging_proxy_config::DEFAULT_CHOICE_COUNT,
        },
        vec![endpoint(a.addr), endpoint(b.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let slow_url = format!("{url}/slow/600");
    let slow = tokio::spawn(async move { get(&h1_client(), slow_url).await });
    let busy = tokio::select! {
        _ = a.started.recv() => "a",
        _ = b.started.recv() => "b",
    };
    let client = h1_client();
    for _ in 0..5 {
        let (resp, _) = get(&client, format!("{url}/")).await;
        assert_ne!(header(&resp, "x-upstream"), busy);
    }
    let (resp, _) = slow.await.unwrap();
    assert_eq!(header(&resp, "x-upstream"), busy);
    proxy.shutdown().await;
}

#[tokio::test]
async fn no_serving_endpoint_is_503() {
    let a = echo("a").await;
    for endpoints in [
        vec![],
        vec![endpoint_with(a.addr, EndpointHealth::Unhealthy)],
    ] {
        let config = http_config(
            UpstreamProtocol::Http1,
            LbPolicy::RoundRobin,
            endpoints,
            None,
        );
        let (proxy, url) = proxy_with(config).await;
        let (resp, body) = get(&h1_client(), format!("{url}/")).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&resp, "x-rigging-error"), "no_healthy_upstream");
        assert!(body.contains("\"svc\""), "{body}");
        proxy.shutdown().await;
    }
}

#[tokio::test]
async fn unknown_path_is_404_and_missing_config_is_503() {
    let a = echo("a").await;
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let routes = &mut config.routes.get_mut("svc").unwrap().virtual_hosts[0].routes;
    routes[0].path = PathMatch::Exact("/only".into());
    let (proxy, url) = proxy_with(config.clone()).await;
    let client = h1_client();

    let (resp, _) = get(&client, format!("{url}/only")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (resp, _) = get(&client, format!("{url}/other")).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&resp, "x-rigging-error"), "no_route");

    config.clusters.clear();
    proxy.apply_config(config.clone()).unwrap();
    let (resp, _) = get(&client, format!("{url}/only")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-rigging-error"), "no_cluster");

    config.routes.clear();
    proxy.apply_config(config).unwrap();
    let (resp, _) = get(&client, format!("{url}/only")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-rigging-error"), "no_route_config");
    proxy.shutdown().await;
}

#[tokio::test]
async fn slow_upstream_is_504_after_the_route_timeout() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        Some(Duration::from_millis(100)),
    );
    let (proxy, url) = proxy_with(config).await;
    let start = Instant::now();
    let (resp, _) = get(&h1_client(), format!("{url}/slow/1000")).await;
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(header(&resp, "x-rigging-error"), "upstream_timeout");
    assert!(start.elapsed() < Duration::from_millis(900));
    proxy.shutdown().await;
}

#[tokio::test]
async fn refused_connection_is_503() {
    // A port that was just free: nothing listens there.
    let dead = std::net::TcpListener::bind(LOOPBACK0)
        .unwrap()
        .local_addr()
        .unwrap();
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(dead)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let (resp, _) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&resp, "x-rigging-error"), "connect_failed");
    proxy.shutdown().await;
}

#[tokio::test]
async fn concurrent_streams_each_get_their_own_body() {
    let (a, b) = (echo("a").await, echo("b").await);
    for protocol in [UpstreamProtocol::Http1, UpstreamProtocol::Http2] {
        let config = http_config(
            protocol,
            LbPolicy::LeastRequest {
                choice_count: rigging_proxy_config::DEFAULT_CHOICE_COUNT,
            },
            vec![endpoint(a.addr), endpoint(b.addr)],
            Some(Duration::from_secs(1)),
        );
        let (proxy, url) = proxy_with(config).await;
        let client = h2c_client();
        let requests = (0..64).map(|i| {
            let client = client.clone();
            let url = format!("{url}/n/{i}");
            async move {
                let body = format!("request {i}");
                let req = Request::post(url)
                    .body(Full::new(Bytes::from(body.clone())))
                    .unwrap();
                let resp = client.request(req).await.unwrap();
                assert_eq!(resp.status(), StatusCode::OK);
                assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), body);
            }
        });
        futures::future::join_all(requests).await;
        proxy.shutdown().await;
    }
}
