use futures::{SinkExt, StreamExt};
use rigging_proxy_config::{LbPolicy, UpstreamProtocol};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

use super::support::*;

#[tokio::test]
async fn websocket_round_trip() {
    let upstream = TcpListener::bind(LOOPBACK0).await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = upstream.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() || msg.is_binary() {
                ws.send(msg).await.unwrap();
            }
        }
    });
    let config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(upstream_addr)],
        Some(std::time::Duration::from_millis(100)),
    );
    let (proxy, _) = proxy_with(config).await;
    let addr = proxy.listener_addr("out").unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut ws, resp) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .unwrap();
    assert_eq!(resp.status(), http::StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Message::text("hello")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "hello");
    // The route timeout (100 ms) does not apply to the tunnel.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    ws.send(Message::text("still there")).await.unwrap();
    let echoed = ws.next().await.unwrap().unwrap();
    assert_eq!(echoed.into_text().unwrap().as_str(), "still there");
    ws.close(None).await.unwrap();
    proxy.shutdown().await;
}

#[tokio::test]
async fn upgrades_the_listener_does_not_allow_are_refused() {
    let upstream = TcpListener::bind(LOOPBACK0).await.unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(upstream_addr)],
        None,
    );
    let (proxy, _) = proxy_with(config.clone()).await;
    let addr = proxy.listener_addr("out").unwrap();

    // A WebSocket listener still refuses other upgrades.
    let resp = raw_upgrade(addr, "h2c").await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert!(resp.contains("x-rigging-error: upgrade_refused"), "{resp}");

    // Without `upgrade_configs`, WebSocket is refused too, and nothing reaches the upstream.
    if let Some(l) = config.listeners.get_mut("out") {
        l.kind = rigging_proxy_config::ListenerKind::Http {
            route_config: "svc".into(),
            websocket: false,
            fault_filter: false,
        };
    }
    proxy.apply_config(config).unwrap();
    // The listener asks for port 0, so the changed listener has a new port.
    let addr = proxy.listener_addr("out").unwrap();
    let resp = raw_upgrade(addr, "websocket").await;
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    let accepted =
        tokio::time::timeout(std::time::Duration::from_millis(100), upstream.accept()).await;
    assert!(
        accepted.is_err(),
        "the refused upgrade reached the upstream"
    );
    proxy.shutdown().await;
}

async fn raw_upgrade(addr: std::net::SocketAddr, protocol: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "GET /ws HTTP/1.1\r\nhost: svc\r\nconnection: upgrade\r\nupgrade: {protocol}\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A WebSocket upstream echoing messages, counting the upgrades it accepted.
async fn ws_echo() -> (
    std::net::SocketAddr,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    let upstream = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = upstream.local_addr().unwrap();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = upstream.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if (msg.is_text() || msg.is_binary()) && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// A proxy to `upstream` whose breaker admits one request at a time (`max_requests = 1`).
async fn one_request_at_a_time(upstream: std::net::SocketAddr) -> rigging_proxy_app::ProxyHandle {
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(upstream)],
        None,
    );
    config
        .clusters
        .get_mut("svc")
        .unwrap()
        .circuit_breakers
        .max_requests = 1;
    proxy_with(config).await.0
}

/// The circuit breaker counts a tunnel as a request and a connection for its whole life: with
/// `max_requests = 1` a second WebSocket is refused 503 at once while the first is open, and
/// accepted once it closed.
#[tokio::test]
async fn the_breaker_limits_open_tunnels() {
    let (upstream, accepted) = ws_echo().await;
    let proxy = one_request_at_a_time(upstream).await;
    let addr = proxy.listener_addr("out").unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut first, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream)
        .await
        .unwrap();
    first.send(Message::text("one")).await.unwrap();
    assert!(first.next().await.unwrap().unwrap().is_text());

    let resp = raw_upgrade(addr, "websocket").await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(
        resp.contains("x-rigging-error: upstream_overflow"),
        "{resp}"
    );
    assert_eq!(accepted.load(std::sync::atomic::Ordering::Relaxed), 1);

    first.close(None).await.unwrap();
    drop(first);
    let mut reopened = None;
    for _ in 0..50 {
        let stream = TcpStream::connect(addr).await.unwrap();
        if let Ok((ws, _)) =
            tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await
        {
            reopened = Some(ws);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let mut second = reopened.expect("a tunnel once the first closed");
    second.send(Message::text("two")).await.unwrap();
    assert!(second.next().await.unwrap().unwrap().is_text());
    proxy.shutdown().await;
}

/// Outlier detection sees upgrades: an endpoint answering them 503 is ejected after its
/// consecutive failures, and the next upgrades go to the healthy one.
#[tokio::test]
async fn failing_upgrades_eject_the_endpoint() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bad = TcpListener::bind(LOOPBACK0).await.unwrap();
    let bad_addr = bad.local_addr().unwrap();
    let bad_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hits = bad_hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = bad.accept().await {
            hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    let (good, _) = ws_echo().await;
    let mut config = http_config(
        UpstreamProtocol::Http1,
        LbPolicy::RoundRobin,
        vec![endpoint(bad_addr), endpoint(good)],
        None,
    );
    config.clusters.get_mut("svc").unwrap().outlier_detection =
        Some(rigging_proxy_config::OutlierDetection {
            consecutive_5xx: 2,
            interval: std::time::Duration::from_millis(50),
            base_ejection_time: std::time::Duration::from_secs(30),
            max_ejection_percent: 100,
            ..rigging_proxy_config::OutlierDetection::default()
        });
    let (proxy, _) = proxy_with(config).await;
    let addr = proxy.listener_addr("out").unwrap();
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let resp = raw_upgrade(addr, "websocket").await;
        statuses.push(resp.lines().next().unwrap_or_default().to_owned());
    }
    let failed = statuses.iter().filter(|s| s.contains(" 503")).count();
    assert_eq!(failed, 2, "{statuses:?}");
    assert_eq!(bad_hits.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert!(
        statuses[statuses.len() - 5..]
            .iter()
            .all(|s| s.starts_with("HTTP/1.1 101")),
        "{statuses:?}"
    );
    proxy.shutdown().await;
}

/// An upgrade answered without switching (here 200 with a body still coming) holds its place
/// in the breaker until that body ended.
#[tokio::test]
async fn a_refused_upgrade_holds_its_permit_until_its_body_ends() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = upstream.local_addr().unwrap();
    let (finish, finished) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let (mut s, _) = upstream.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello")
            .await
            .unwrap();
        let _ = finished.await;
        s.write_all(b"world").await.unwrap();
        // Later upgrades are answered at once.
        while let Ok((mut s, _)) = upstream.accept().await {
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                .await;
        }
    });
    let proxy = one_request_at_a_time(addr).await;
    let addr = proxy.listener_addr("out").unwrap();
    let mut first = TcpStream::connect(addr).await.unwrap();
    first
        .write_all(b"GET /ws HTTP/1.1\r\nhost: svc\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));

    let resp = raw_upgrade(addr, "websocket").await;
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    assert!(
        resp.contains("x-rigging-error: upstream_overflow"),
        "{resp}"
    );

    finish.send(()).unwrap();
    let mut rest = String::from_utf8_lossy(&buf[..n]).into_owned();
    while !rest.ends_with("helloworld") {
        let n = first.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed before the body ended: {rest}");
        rest.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let mut answered = String::new();
    for _ in 0..50 {
        answered = raw_upgrade(addr, "websocket").await;
        if answered.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    proxy.shutdown().await;
}
