//! An HTTP listener's connection: HTTP/1.1 served by `rigging-proxy-http1`, HTTP/2 (h2c, or
//! after the TLS handshake) by `rigging-proxy-h2`, both handing requests to [`http::handle`].

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use ::http::{HeaderValue, Request};
use rigging_proxy_http1::{Outcome, Rewind};
use rigging_proxy_tls::MeshStream;
use tokio::net::TcpStream;

use super::{ConnectionGuard, HttpServer, InboundTls, accept};
use crate::body::DownstreamBody;
use crate::drain::Draining;
use crate::http::{self, HttpContext};
use crate::metrics::ListenerMetrics;

/// One connection of an HTTP listener: HTTP/1.1 with `rigging-proxy-http1`, or, when it opens
/// with the HTTP/2 preface, HTTP/2 with `rigging-proxy-h2`.
///
/// An idle keep-alive connection costs little more than this future, so it holds each value
/// once: a plain function returning an `async` block (an `async fn` keeps its arguments twice),
/// the TLS handshake and the HTTP/2 server boxed while they run.
#[allow(clippy::manual_async_fn)] // On purpose: an `async fn` keeps its arguments twice.
pub(super) fn http_connection(
    stream: TcpStream,
    tls: Option<Arc<(InboundTls, ListenerMetrics)>>,
    peer: SocketAddr,
    ctx: Arc<HttpContext>,
    server: Arc<HttpServer>,
    drain: Draining,
    guard: ConnectionGuard,
) -> impl Future<Output = ()> + Send {
    async move {
        let Some((stream, caller)) = accept(stream, tls, &ctx.listener).await else {
            return;
        };
        // Boxed: most connections are plaintext, and the value is cloned into each request.
        let caller = caller.map(Box::new);
        let service = hyper::service::service_fn(|req: Request<rigging_proxy_http1::Body>| {
            let caller = caller.as_deref().cloned();
            let req = req.map(DownstreamBody::Http1);
            http::handle(Arc::clone(&ctx), caller, Some(peer), req)
        });
        let signal = drain.fired();
        tokio::pin!(signal);
        let config = rigging_proxy_http1::Config::default();
        // The outcome is consumed before the next await, so it takes no room in this future.
        let h2 = match rigging_proxy_http1::serve(stream, service, config, signal).await {
            Ok(Outcome::Http2 { io, drained }) => {
                let caller = caller.as_deref().cloned();
                Some(Box::pin(serve_h2(
                    &server, &ctx, io, caller, peer, &drain, drained,
                )))
            }
            Ok(_) => None,
            Err(e) => {
                tracing::debug!(listener = %ctx.listener, error = %e, "http connection ended with an error");
                None
            }
        };
        if let Some(h2) = h2 {
            h2.await;
        }
        drop(guard);
    }
}

async fn serve_h2(
    server: &HttpServer,
    ctx: &Arc<HttpContext>,
    io: Rewind<MeshStream>,
    caller: Option<HeaderValue>,
    peer: SocketAddr,
    drain: &Draining,
    already_drained: bool,
) {
    let service = hyper::service::service_fn(move |req: Request<rigging_proxy_h2::Body>| {
        let req = req.map(DownstreamBody::Http2);
        http::handle(Arc::clone(ctx), caller.clone(), Some(peer), req)
    });
    let shutdown = async {
        if !already_drained {
            drain.fired().await;
        }
    };
    if let Err(e) = rigging_proxy_h2::serve(io, server, service, shutdown).await {
        tracing::debug!(listener = %ctx.listener, error = %e, "http/2 connection ended with an error");
    }
}
