//! What the tests of the server and of the client share: a server on loopback serving every
//! connection with [`rigging_proxy_h2::serve`] and a handler.

#![allow(dead_code, reason = "each test binary uses its part")]

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt as _, Full};
use rigging_proxy_h2::{Body, BoxError, Config};
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// The services' error: a concrete type (a boxed `dyn Error` as a service's error makes the
/// connection's future not provably `Send`, a known limit of the compiler; the proxy's service
/// never fails).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Failed(pub String);

impl From<h2::Error> for Failed {
    fn from(e: h2::Error) -> Self {
        Self(e.to_string())
    }
}

pub type BoxBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;
pub type Handler = Arc<
    dyn Fn(Request<Body>) -> Pin<Box<dyn Future<Output = Result<Response<BoxBody>, Failed>> + Send>>
        + Send
        + Sync,
>;

/// A server on loopback serving every connection with `handler`; `shutdown` starts the
/// graceful shutdown of its connections, and `ended` reports how each connection ended.
pub struct Server {
    pub addr: SocketAddr,
    pub shutdown: Arc<Notify>,
    pub ended: tokio::sync::mpsc::UnboundedReceiver<Result<(), String>>,
}

pub async fn server(handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Arc::new(Notify::new());
    let (tx, ended) = tokio::sync::mpsc::unbounded_channel();
    let stop = Arc::clone(&shutdown);
    tokio::spawn(async move {
        loop {
            let (io, _) = listener.accept().await.unwrap();
            let handler = Arc::clone(&handler);
            let stop = Arc::clone(&stop);
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| handler(req));
                let result = rigging_proxy_h2::serve(io, &Config::default(), service, async move {
                    stop.notified().await;
                })
                .await;
                let _ = tx.send(result.map_err(|e| e.to_string()));
            });
        }
    });
    Server {
        addr,
        shutdown,
        ended,
    }
}

pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Request<Body>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Response<BoxBody>, Failed>> + Send + 'static,
{
    Arc::new(move |req| Box::pin(f(req)))
}

pub fn full(data: impl Into<Bytes>) -> BoxBody {
    Full::new(data.into())
        .map_err(|e: Infallible| match e {})
        .boxed_unsync()
}

/// A body bigger than the protocol's default windows (64 KiB), so that both directions wait
/// for `WINDOW_UPDATE`s.
pub fn big(seed: u8) -> Bytes {
    (0..300 * 1024).map(|i| (i % 251) as u8 ^ seed).collect()
}

/// Sets its flag when dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
