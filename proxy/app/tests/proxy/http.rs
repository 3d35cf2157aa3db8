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

/// Streams of one HTTP/2 connection, all served by its task, each with a body bigger than
/// every flow-control window on the way: the request bodies stream to HTTP/1.1 upstreams while
/// the echoed responses stream back, concurrently.
#[tokio::test]
async fn h2c_streams_carry_big_bodies_to_h1_upstreams_and_back() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h2c_client();
    let exchanges = (0..8u8).map(|seed| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let body: Bytes = (0..(5 << 20))
                .map(|i: u32| (i % 253) as u8 ^ seed)
                .collect();
            let req = Request::post(format!("{url}/echo"))
                .body(Full::new(body.clone()))
                .unwrap();
            let resp = client.request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.version(), http::Version::HTTP_2);
            let echoed = resp.into_body().collect().await.unwrap().to_bytes();
            assert!(echoed == body, "stream {seed}: the echoed body differs");
        }
    });
    // A window never given back would stall the streams: fail, not hang.
    tokio::time::timeout(
        Duration::from_secs(30),
        futures::future::join_all(exchanges),
    )
    .await
    .expect("the streams stalled");
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

/// A request body buffered to be retried (or mirrored) keeps its trailers: h2 to h2, the
/// first attempt answered 503 and retried, the upstream sees them on both attempts.
#[tokio::test]
async fn a_replayable_request_keeps_its_trailers() {
    use std::sync::{Arc, Mutex};
    let listener = tokio::net::TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                    let record = Arc::clone(&record);
                    async move {
                        let body = req.into_body().collect().await.unwrap();
                        let trailers = body
                            .trailers()
                            .and_then(|t| t.get("x-checksum"))
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("none")
                            .to_owned();
                        let attempt = {
                            let mut seen = record.lock().unwrap();
                            seen.push(trailers);
                            seen.len()
                        };
                        let status = if attempt == 1 { 503 } else { 200 };
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(body.to_bytes()))
                                .unwrap(),
                        )
                    }
                });
                let _ =
                    hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
            });
        }
    });
    let mut config = http_config(
        UpstreamProtocol::Http2,
        LbPolicy::RoundRobin,
        vec![endpoint(addr)],
        None,
    );
    let route = &mut config.routes.get_mut("svc").unwrap().virtual_hosts[0].routes[0];
    route.action.retry = Some(rigging_proxy_config::RetryPolicy {
        retry_on: [rigging_proxy_config::RetryOn::FiveXx]
            .into_iter()
            .collect(),
        num_retries: 2,
        retriable_status_codes: Default::default(),
    });
    let (proxy, url) = proxy_with(config).await;
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc".parse().unwrap());
    let frames = vec![
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(Bytes::from_static(b"payload"))),
        Ok(hyper::body::Frame::trailers(trailers)),
    ];
    let req = Request::post(format!("{url}/x"))
        .header("content-length", "7")
        .body(http_body_util::StreamBody::new(futures::stream::iter(
            frames,
        )))
        .unwrap();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "payload");
    assert_eq!(*seen.lock().unwrap(), ["abc", "abc"]);
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

/// Writes `request` on a fresh connection to `addr` and reads until the proxy closes it.
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out))
        .await
        .expect("the proxy did not close the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn pipelined_requests_with_chunked_bodies_both_ways() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, _) = proxy_with(config).await;
    let addr = proxy.listener_addr("out").unwrap();
    let resp = raw_exchange(
        addr,
        b"POST /echo HTTP/1.1\r\nhost: svc\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n0\r\n\r\n\
          GET /trailers HTTP/1.1\r\nhost: svc\r\n\r\n\
          POST /echo HTTP/1.1\r\nhost: svc\r\ncontent-length: 5\r\nconnection: close\r\n\r\nthird",
    )
    .await;
    let answers: Vec<&str> = resp.split("HTTP/1.1 200 OK\r\n").skip(1).collect();
    assert_eq!(answers.len(), 3, "{resp}");
    assert!(answers[0].ends_with("\r\n\r\nfirst"), "{resp}");
    // The upstream streams `/trailers` without a length: it reaches the client chunked.
    assert!(
        answers[1].contains("transfer-encoding: chunked\r\n"),
        "{resp}"
    );
    assert!(answers[1].ends_with("0\r\n\r\n"), "{resp}");
    assert!(answers[2].contains("connection: close\r\n"), "{resp}");
    assert!(answers[2].ends_with("\r\n\r\nthird"), "{resp}");
    assert_eq!(a.hits.load(std::sync::atomic::Ordering::Relaxed), 3);
    proxy.shutdown().await;
}

#[tokio::test]
async fn expect_continue_goes_through_the_proxy() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, _) = proxy_with(config).await;
    let addr = proxy.listener_addr("out").unwrap();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        b"PUT /echo HTTP/1.1\r\nhost: svc\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"HTTP/1.1 100 Continue\r\n\r\n");
    s.write_all(b"body").await.unwrap();
    let mut resp = Vec::new();
    while !resp.ends_with(b"body") {
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "{}", String::from_utf8_lossy(&resp));
        resp.extend_from_slice(&buf[..n]);
    }
    assert!(resp.starts_with(b"HTTP/1.1 200 OK\r\n"));
    proxy.shutdown().await;
}

#[tokio::test]
async fn oversized_and_malformed_requests_are_refused_and_closed() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, _) = proxy_with(config).await;
    let addr = proxy.listener_addr("out").unwrap();
    let big = format!(
        "GET / HTTP/1.1\r\nhost: svc\r\nx-big: {}\r\n\r\n",
        "a".repeat(70 * 1024)
    );
    let resp = raw_exchange(addr, big.as_bytes()).await;
    assert!(
        resp.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{resp}"
    );
    let resp = raw_exchange(addr, b"GET / HTTP/1.1\r\nhost: svc\r\nbad header\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    let resp = raw_exchange(
        addr,
        b"POST / HTTP/1.1\r\nhost: svc\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    // Two hosts: the proxy would route on one and the upstream might read the other.
    let resp = raw_exchange(addr, b"GET / HTTP/1.1\r\nhost: svc\r\nhost: other\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    // obs-fold is refused, not passed on.
    let resp = raw_exchange(addr, b"GET / HTTP/1.1\r\nhost: svc\r\nx-a: 1\r\n 2\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert_eq!(
        a.hits.load(std::sync::atomic::Ordering::Relaxed),
        0,
        "nothing refused reached the upstream"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn http10_and_head_requests() {
    let a = echo("a").await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(a.addr)],
        None,
    );
    let (proxy, _) = proxy_with(config).await;
    let addr = proxy.listener_addr("out").unwrap();
    let resp = raw_exchange(addr, b"GET /x HTTP/1.0\r\nhost: svc\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.0 200 OK\r\n"), "{resp}");
    assert!(resp.contains("x-seen-version: HTTP/1.1\r\n"), "{resp}");
    let resp = raw_exchange(
        addr,
        b"HEAD /x HTTP/1.1\r\nhost: svc\r\n\r\nGET /x HTTP/1.1\r\nhost: svc\r\nconnection: close\r\n\r\n",
    )
    .await;
    let answers: Vec<&str> = resp.split("HTTP/1.1 200 OK\r\n").skip(1).collect();
    assert_eq!(answers.len(), 2, "{resp}");
    assert!(answers[0].ends_with("\r\n\r\n"), "HEAD has no body: {resp}");
    proxy.shutdown().await;
}
