//! One connection: read a head, call the service, stream the request body in and the response
//! out at the same time, then wait for the next head holding no buffer.

mod exchange;
#[cfg(test)]
mod tests;

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use hyper::service::Service;
use tokio::sync::oneshot;

use crate::body::Body;
use crate::head::{self, Head, HeadError};
use crate::io::{Io, Rewind};
use crate::read::ReadBuffer;
use crate::response::encode_refusal;
use crate::write::{LengthError, WriteBuf};
use crate::{Config, Upgraded};

use exchange::{End, Exchange};

/// The HTTP/2 connection preface (RFC 9113 §3.4), which a client with prior knowledge sends
/// first.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How long a refused connection keeps reading (and dropping) what the client sends before it
/// is closed, and how much it reads at most: enough for a client to read the refusal.
const LINGER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
const LINGER_MAX_BYTES: usize = 256 * 1024;

/// How a connection ended.
#[derive(Debug)]
#[non_exhaustive]
pub enum Outcome<I> {
    /// Either side closed it, or the server drained it.
    Closed,
    /// It opened with the HTTP/2 preface: serve the stream (which replays what was read of it)
    /// with an HTTP/2 server. `drained` says the drain signal fired already.
    Http2 { io: Rewind<I>, drained: bool },
    /// A request switched protocols: its service took the connection through
    /// [`OnUpgrade`](crate::OnUpgrade).
    Upgraded,
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("connection i/o failed")]
    Io(#[from] io::Error),
    /// Answered with 400 or 431, then closed.
    #[error(transparent)]
    Head(#[from] HeadError),
    #[error("malformed request body: {0}")]
    RequestBody(&'static str),
    #[error("the service failed")]
    Service(#[source] BoxError),
    #[error("the response body failed")]
    ResponseBody(#[source] BoxError),
    #[error(transparent)]
    ResponseLength(#[from] LengthError),
}

/// The connection's own state, shared by the read of heads and the exchanges.
struct Conn<'d, I, D> {
    io: I,
    rbuf: ReadBuffer,
    config: Config,
    drain: Pin<&'d mut D>,
    drained: bool,
}

#[allow(clippy::large_enum_variant)] // Returned, never stored: a box would cost a malloc a request.
enum Next {
    Head(Head),
    Http2,
    Closed,
}

/// Serves HTTP/1.1 on `io` until either side closes it, `drain` resolves (the request in
/// flight, if any, is answered first, with `connection: close`), a request switches protocols,
/// or the client turns out to speak HTTP/2.
///
/// Requests are answered one at a time, in order; pipelined requests wait in the read buffer.
/// The returned future is what an idle connection costs, so it is kept small: everything is
/// held once (an `async fn` would keep its arguments twice), and what a request needs is boxed
/// while the request lasts.
pub fn serve<I, S, B, D>(
    io: I,
    service: S,
    config: Config,
    drain: Pin<&mut D>,
) -> impl Future<Output = Result<Outcome<I>, Error>>
where
    I: Io,
    S: Service<Request<Body>, Response = Response<B>>,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
    D: Future<Output = ()>,
{
    let mut conn = Conn {
        io,
        rbuf: ReadBuffer::default(),
        config,
        drain,
        drained: false,
    };
    async move {
        let mut first = true;
        loop {
            let turn = match conn.serve_one(&service, first).await {
                Ok(turn) => turn,
                Err(Error::Head(e)) => {
                    // Rare, and its write state is larger than the rest: boxed.
                    Box::pin(conn.refuse(e.status())).await;
                    return Err(Error::Head(e));
                }
                Err(e) => return Err(e),
            };
            first = false;
            match turn {
                Turn::KeepAlive => {}
                Turn::Close => {
                    conn.shutdown().await;
                    return Ok(Outcome::Closed);
                }
                Turn::Http2 => {
                    let prefix = conn.rbuf.take();
                    return Ok(Outcome::Http2 {
                        io: Rewind::new(conn.io, prefix),
                        drained: conn.drained,
                    });
                }
                Turn::Upgrade(tx) => {
                    let prefix = conn.rbuf.take();
                    let upgraded: Upgraded = Rewind::new(Box::new(conn.io), prefix);
                    // A service that dropped its `OnUpgrade` closes the connection this way.
                    let _ = tx.send(upgraded);
                    return Ok(Outcome::Upgraded);
                }
            }
        }
    }
}

/// What the connection does after one turn of [`Conn::serve_one`].
enum Turn {
    KeepAlive,
    Close,
    Http2,
    Upgrade(oneshot::Sender<Upgraded>),
}

impl<I: Io, D: Future<Output = ()>> Conn<'_, I, D> {
    /// Waits for a request and answers it. Between requests the read buffer is given back, so
    /// an idle connection holds none.
    async fn serve_one<S, B>(&mut self, service: &S, first: bool) -> Result<Turn, Error>
    where
        S: Service<Request<Body>, Response = Response<B>>,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        let head = match poll_fn(|cx| self.poll_head(cx, first)).await? {
            Next::Head(head) => head,
            Next::Http2 => return Ok(Turn::Http2),
            Next::Closed => return Ok(Turn::Close),
        };
        // Boxed: an exchange is large and lives only while a request is in flight, and the
        // connection's own future is what an idle connection costs.
        let mut exchange = Box::new(Exchange::new(head, self.drained, |req| service.call(req)));
        if exchange.reads_nothing() {
            // Nothing more to read for this request: the buffer goes back until the next one
            // (the head's bytes live on in its header values until the request is dropped).
            self.rbuf.release_if_empty();
        }
        let end = poll_fn(|cx| exchange.poll(self, cx)).await?;
        drop(exchange);
        Ok(match end {
            End::KeepAlive => {
                self.rbuf.release_if_empty();
                Turn::KeepAlive
            }
            End::Close => Turn::Close,
            End::Upgrade(tx) => Turn::Upgrade(tx),
        })
    }

    /// Waits for a complete head. While nothing is buffered the connection holds no buffer:
    /// it waits for readability, and the drain signal closes it.
    fn poll_head(&mut self, cx: &mut Context<'_>, first: bool) -> Poll<Result<Next, Error>> {
        loop {
            if let Some(buf) = self.rbuf.filled() {
                let k = buf.len().min(H2_PREFACE.len());
                if first && buf[..k] == H2_PREFACE[..k] {
                    if k == H2_PREFACE.len() {
                        return Poll::Ready(Ok(Next::Http2));
                    }
                } else if let Some(head) = head::parse(buf, self.config.max_head_bytes)? {
                    return Poll::Ready(Ok(Next::Head(head)));
                }
            }
            if self.rbuf.is_empty() {
                self.poll_drain(cx);
                if self.drained {
                    return Poll::Ready(Ok(Next::Closed));
                }
                ready!(self.io.poll_read_ready(cx))?;
            }
            if ready!(self.rbuf.poll_fill(&mut self.io, cx))? == 0 {
                // Closed between requests, or in the middle of a head (nothing to answer).
                return Poll::Ready(Ok(Next::Closed));
            }
        }
    }

    fn poll_drain(&mut self, cx: &mut Context<'_>) {
        if !self.drained && self.drain.as_mut().poll(cx).is_ready() {
            self.drained = true;
        }
    }

    /// Answers a request the connection could not read, then closes.
    async fn refuse(&mut self, status: http::StatusCode) {
        let mut w = WriteBuf::default();
        if let Some(staging) = w.staging() {
            encode_refusal(status, staging);
        }
        let written = poll_fn(|cx| {
            ready!(w.poll_write(&mut self.io, cx))?;
            w.poll_flush(&mut self.io, cx)
        })
        .await;
        if written.is_err() {
            return;
        }
        self.shutdown().await;
        // A lingering close: what the client is still sending (the rest of an oversized head)
        // is read and dropped for a moment, so closing with unread bytes does not reset the
        // connection before the client has read the answer.
        let mut scratch = [0u8; 1024];
        let linger = async {
            let mut drained = 0;
            while drained < LINGER_MAX_BYTES {
                match tokio::io::AsyncReadExt::read(&mut self.io, &mut scratch).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => drained += n,
                }
            }
        };
        let _ = tokio::time::timeout(LINGER_TIMEOUT, linger).await;
    }

    /// Closes the write side cleanly (a FIN, or TLS `close_notify` first).
    async fn shutdown(&mut self) {
        let _ = poll_fn(|cx| Pin::new(&mut self.io).poll_shutdown(cx)).await;
    }
}
