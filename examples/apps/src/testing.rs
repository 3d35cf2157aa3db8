//! Helpers for the unit tests: servers on loopback that stop when dropped.

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::{AppIdentity, HealthReporter, HttpOptions};

/// Aborts the server task when dropped.
#[derive(Debug)]
pub(crate) struct Running(pub(crate) JoinHandle<std::io::Result<()>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) async fn listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

pub(crate) fn api_v2() -> AppIdentity {
    AppIdentity::new("api", "v2", "api-v2-1")
}

pub(crate) async fn http(id: AppIdentity) -> (SocketAddr, HealthReporter, Running) {
    let (listener, addr) = listener().await;
    let (server, reporter) = crate::serve_http_with_health(listener, id).await;
    (addr, reporter, Running(tokio::spawn(server)))
}

pub(crate) async fn http_with(id: AppIdentity, options: HttpOptions) -> (SocketAddr, Running) {
    let (listener, addr) = listener().await;
    let (server, _reporter) = crate::serve_http_with(listener, id, options).await;
    (addr, Running(tokio::spawn(server)))
}

pub(crate) async fn tcp(id: AppIdentity) -> (SocketAddr, Running) {
    let (listener, addr) = listener().await;
    (
        addr,
        Running(tokio::spawn(crate::serve_tcp_echo(listener, id))),
    )
}
