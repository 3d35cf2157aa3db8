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
