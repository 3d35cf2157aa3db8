//! The proxy's HTTP/2 server, where every stream of a connection is served by the connection's
//! task, and its HTTP/2 client ([`client`]), where a request's task opens its stream itself.
//!
//! hyper's HTTP/2 server spawns a task per stream. A proxied response then travels through
//! three tasks: the upstream connection's (which read it), the stream's (which hands it to the
//! `h2` connection) and the connection's (which writes it), each woken by the one before; and a
//! stream woken straight from its upstream socket hands over one response at a time, so the
//! connection writes them one by one. Here [`serve`] polls the `h2` connection and the futures
//! of all its streams (a `FuturesUnordered`) in one task: the streams that are ready run first,
//! then the connection writes whatever they queued, in one batch. As in Envoy and HAProxy, the
//! streams of one connection share its thread.
//!
//! The protocol itself (framing, HPACK, flow control, stream states, SETTINGS, PING, GOAWAY) is
//! the `h2` crate's. What hyper's server added on top is done here too: connection-specific
//! header fields are removed from responses, a `Date` is added when the response has none, a
//! body's known length becomes its `content-length`, a stream the client resets cancels its
//! request, and request bodies give their flow-control window back as they are read.

mod body;
pub mod client;
mod stream;

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::Poll;

use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};

pub use body::Body;

/// A boxed error, as services and bodies return them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How connections are served.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The flow-control window of each stream towards the client.
    pub initial_stream_window: u32,
    /// The flow-control window of the whole connection.
    pub initial_connection_window: u32,
    /// Streams a client may have open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_concurrent_streams: u32,
    /// The largest header list a client may send (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub max_header_list_size: u32,
    /// Bytes of response data buffered per stream before it waits for the client's window.
    pub max_send_buffer: usize,
}

impl Default for Config {
    /// hyper's server defaults, but for the windows: 64 KiB, as the protocol's own default.
    fn default() -> Self {
        Self {
            initial_stream_window: 65_535,
            initial_connection_window: 65_535,
            max_concurrent_streams: 200,
            max_header_list_size: 16 * 1024,
            max_send_buffer: 400 * 1024,
        }
    }
}

/// Why a connection ended with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("http/2 handshake failed")]
    Handshake(#[source] h2::Error),
    #[error("http/2 connection failed")]
    Connection(#[source] h2::Error),
}

/// Serves HTTP/2 on `io` (the client's preface not yet read) until the client closes the
/// connection, or, once `shutdown` fired, until the streams then open are done (a GOAWAY tells
/// the client to open no more). Streams still waiting for their response when the connection
/// ends are dropped: their requests are cancelled.
pub async fn serve<I, S, B>(
    io: I,
    config: &Config,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error>
where
    I: AsyncRead + AsyncWrite + Unpin,
    S: hyper::service::Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let mut builder = h2::server::Builder::new();
    builder
        .initial_window_size(config.initial_stream_window)
        .initial_connection_window_size(config.initial_connection_window)
        .max_concurrent_streams(config.max_concurrent_streams)
        .max_header_list_size(config.max_header_list_size)
        .max_send_buffer_size(config.max_send_buffer);
    let mut conn = builder
        .handshake::<_, Bytes>(io)
        .await
        .map_err(Error::Handshake)?;
    let mut shutdown = pin!(shutdown);
    let mut closing = false;
    let mut streams = FuturesUnordered::new();
    poll_fn(|cx| {
        if !closing && shutdown.as_mut().poll(cx).is_ready() {
            conn.graceful_shutdown();
            closing = true;
        }
        loop {
            // The streams first: the connection's poll below writes what they queued.
            while let Poll::Ready(Some(())) = streams.poll_next_unpin(cx) {}
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    let (parts, recv) = req.into_parts();
                    let body = Body::new(recv, &parts.headers);
                    let req = Request::from_parts(parts, body);
                    let response = stream::Boxed::new(service.call(req));
                    // Pushed as it is: `push` moves it into a task node of its own, and
                    // `Respond` is a few hundred bytes (the `async fn` it replaced was 1.7 KB
                    // and was boxed first).
                    streams.push(stream::Respond::new(response, respond));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(Error::Connection(e))),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await
}
