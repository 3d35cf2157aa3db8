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
