use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use rigging_proxy_config::{LbPolicy, RetryOn, RetryPolicy, UpstreamProtocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::support::*;

/// A raw HTTP/1.1 upstream that counts its connections; with `close`, it ends every connection
/// after one response, so the proxy's pooled connection goes stale between requests.
async fn counting_upstream(close: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    failing_first(close, 0).await
}

/// [`counting_upstream`], answering its first `failures` requests (over all connections) 503.
async fn failing_first(close: bool, failures: usize) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    let requests = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let requests = Arc::clone(&requests);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut pending = Vec::new();
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    pending.extend_from_slice(&buf[..n]);
                    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        pending.drain(..end + 4);
                        let resp: &[u8] = if requests.fetch_add(1, Ordering::SeqCst) < failures {
                            b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 4\r\n\r\nfail"
                        } else if close {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        } else {
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
                        };
                        if s.write_all(resp).await.is_err() || close {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn sequential_requests_reuse_one_upstream_connection() {
    let (addr, accepted) = counting_upstream(false).await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();
    for _ in 0..10 {
        let (resp, _) = get(&client, format!("{url}/")).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the pool should reuse its connection"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn connections_the_upstream_closed_are_not_reused() {
    let (addr, accepted) = counting_upstream(true).await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();
    for _ in 0..10 {
        let (resp, _) = get(&client, format!("{url}/")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        // Let the upstream's close reach the pooled connection, or not: both must work.
        tokio::task::yield_now().await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
    proxy.shutdown().await;
}

#[tokio::test]
async fn h2c_requests_reuse_upstream_connections_too() {
    let (addr, accepted) = counting_upstream(false).await;
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h2c_client();
    for _ in 0..10 {
        let (resp, body) = get(&client, format!("{url}/")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body, "ok");
    }
    // Concurrent streams need concurrent connections, which come back to the pool.
    let burst = (0..8).map(|_| get(&client, format!("{url}/")));
    futures::future::join_all(burst).await;
    let after_burst = accepted.load(Ordering::SeqCst);
    assert!(
        after_burst <= 8,
        "{after_burst} connections for 8 concurrent streams"
    );
    for _ in 0..10 {
        get(&client, format!("{url}/")).await;
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        after_burst,
        "the pool should reuse its connections"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn retried_responses_give_their_connection_back() {
    // HTTP/1.1 requests retry from their connection's task, h2c ones from their HTTP/2
    // connection's, which serves every stream.
    for client in [h1_client(), h2c_client()] {
        let (addr, accepted) = failing_first(false, 2).await;
        let mut config = http_config(
            UpstreamProtocol::Http1,
            LbPolicy::RoundRobin,
            vec![endpoint(addr)],
            None,
        );
        let route = &mut config.routes.get_mut("svc").unwrap().virtual_hosts[0].routes[0];
        route.action.retry = Some(RetryPolicy {
            retry_on: [RetryOn::FiveXx].into_iter().collect(),
            num_retries: 3,
            retriable_status_codes: Default::default(),
        });
        let (proxy, url) = proxy_with(config).await;
        let (resp, body) = get(&client, format!("{url}/")).await;
        assert_eq!((resp.status(), body.as_str()), (StatusCode::OK, "ok"));
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            1,
            "the retried 503s' connection was reused"
        );
        proxy.shutdown().await;
    }
}

/// An HTTP/2 upstream (`h2`'s server) that counts its connections and answers every stream
/// `ok`; with `goaway`, each connection says GOAWAY after its first response and closes.
async fn counting_h2_upstream(goaway: bool) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(mut conn) = h2::server::handshake(s).await else {
                    return;
                };
                while let Some(Ok((_req, mut respond))) = conn.accept().await {
                    let resp = http::Response::new(());
                    if let Ok(mut body) = respond.send_response(resp, false) {
                        let _ = body.send_data(bytes::Bytes::from_static(b"ok"), true);
                    }
                    if goaway {
                        conn.graceful_shutdown();
                    }
                }
            });
        }
    });
    (addr, accepted)
}

#[tokio::test]
async fn http2_upstreams_take_every_request_on_one_connection() {
    let (addr, accepted) = counting_h2_upstream(false).await;
    let config = http_config(
        UpstreamProtocol::Http2,
        LbPolicy::RoundRobin,
        vec![endpoint(addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    for client in [h1_client(), h2c_client()] {
        for _ in 0..5 {
            let (resp, body) = get(&client, format!("{url}/")).await;
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(body, "ok");
        }
        let burst = (0..16).map(|_| get(&client, format!("{url}/")));
        for (resp, body) in futures::future::join_all(burst).await {
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(body, "ok");
        }
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "sequential and concurrent requests share one multiplexed connection"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn an_http2_connection_the_upstream_closes_is_replaced() {
    let (addr, accepted) = counting_h2_upstream(true).await;
    let config = http_config(
        UpstreamProtocol::Http2,
        LbPolicy::RoundRobin,
        vec![endpoint(addr)],
        None,
    );
    let (proxy, url) = proxy_with(config).await;
    let client = h1_client();
    for i in 0..10 {
        let (resp, body) = get(&client, format!("{url}/")).await;
        assert_eq!(resp.status(), StatusCode::OK, "request {i}");
        assert_eq!(body, "ok");
        // Let the GOAWAY reach the proxy, or not: both must work.
        tokio::task::yield_now().await;
    }
    let opened = accepted.load(Ordering::SeqCst);
    assert!(
        opened >= 2,
        "a connection that went away must be replaced ({opened} opened)"
    );
    proxy.shutdown().await;
}
