use std::net::SocketAddr;

use rigging_proxy_config::{ClusterEndpoints, LbPolicy, ProxyConfig, UpstreamProtocol};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::support::*;

async fn tcp_echo() -> SocketAddr {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let (mut r, mut w) = stream.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

fn tcp_config(endpoints: Vec<SocketAddr>) -> ProxyConfig {
    let mut config = ProxyConfig::default();
    config
        .listeners
        .insert("out".into(), tcp_listener("out", "db"));
    config.clusters.insert(
        "db".into(),
        cluster("db", UpstreamProtocol::Http1, LbPolicy::RoundRobin),
    );
    config.endpoints.insert(
        "db".into(),
        ClusterEndpoints {
            cluster: "db".into(),
            endpoints: endpoints.into_iter().map(endpoint).collect(),
        },
    );
    config
}

async fn round_trip(proxy: &rigging_proxy_app::ProxyHandle, msg: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(proxy.listener_addr("out").unwrap())
        .await
        .unwrap();
    stream.write_all(msg).await.unwrap();
    stream.shutdown().await.unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).await.unwrap();
    out
}

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
