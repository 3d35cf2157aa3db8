use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::*;

#[tokio::test]
async fn tcp_echo_through_tcp_listener() {
    let upstream = tcp_echo().await;
    let proxy = proxy().await;
    proxy.apply_config(tcp_config(vec![upstream])).unwrap();
    assert_eq!(round_trip(&proxy, b"ping").await, b"ping");
    proxy.shutdown().await;
}

#[tokio::test]
async fn tcp_tries_the_next_endpoint_when_one_refuses() {
    let upstream = tcp_echo().await;
    let dead = std::net::TcpListener::bind(LOOPBACK0)
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = proxy().await;
    proxy
        .apply_config(tcp_config(vec![dead, upstream]))
        .unwrap();
    for _ in 0..3 {
        assert_eq!(round_trip(&proxy, b"again").await, b"again");
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn tcp_without_endpoints_closes_the_connection() {
    let proxy = proxy().await;
    proxy.apply_config(tcp_config(vec![])).unwrap();
    let mut stream = TcpStream::connect(proxy.listener_addr("out").unwrap())
        .await
        .unwrap();
    let _ = stream.write_all(b"lost").await;
    let mut buf = [0u8; 8];
    assert_eq!(stream.read(&mut buf).await.unwrap_or(0), 0);
    proxy.shutdown().await;
}
