//! The proxy's HTTP/2 client: a request goes on the `h2` connection straight from the task that
//! forwards it.
//!
//! hyper's client hands each request to the connection's task over a channel, which spawns a
//! task per request to wait for its response and hands the response back over another channel:
//! three tasks and two channels per exchange. Here [`Sender::send`] opens the stream itself and
//! its [`ResponseFuture`] is `h2`'s, polled by the forwarding task: the connection's task (which
//! polls [`Connection`]) only reads and writes frames. A request body still to come is sent by
//! a task of its own, as the response may start before it ends (gRPC streams both ways); one
//! that has arrived whole (a unary call's message) is sent with the head.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::body::PipeGuard;
use crate::stream::{NextFrame, pipe, set_content_length, strip_connection_specific};
use crate::{Body, BoxError, Error};

/// How connections to an upstream are set up.
#[derive(Debug, Clone, Copy)]
pub struct ClientConfig {
    /// The flow-control window of each stream towards the upstream.
    pub initial_stream_window: u32,
    /// The flow-control window of the whole connection.
    pub initial_connection_window: u32,
    /// Bytes of request data buffered per stream before it waits for the upstream's window.
    pub max_send_buffer: usize,
}

impl Default for ClientConfig {
    /// The protocol's default windows (64 KiB), and the server side's send buffer.
    fn default() -> Self {
        Self {
            initial_stream_window: 65_535,
            initial_connection_window: 65_535,
            max_send_buffer: 400 * 1024,
        }
    }
}

/// The connection's I/O: reads and writes frames until the upstream closes it, or until every
/// [`Sender`] is dropped and its streams are done. To be polled by a task of its own.
pub type Connection<I> = h2::client::Connection<I, Bytes>;

/// Opens streams on one connection; clones share it.
#[derive(Debug, Clone)]
pub struct Sender {
    inner: h2::client::SendRequest<Bytes>,
}

/// Sends the connection preface and settings on `io` (a connected stream, TLS done).
pub async fn handshake<I>(io: I, config: &ClientConfig) -> Result<(Sender, Connection<I>), Error>
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let mut builder = h2::client::Builder::new();
    builder
        .initial_window_size(config.initial_stream_window)
        .initial_connection_window_size(config.initial_connection_window)
        .max_send_buffer_size(config.max_send_buffer);
    let (inner, conn) = builder
        .handshake::<_, Bytes>(io)
        .await
        .map_err(Error::Handshake)?;
    Ok((Sender { inner }, conn))
}

impl Sender {
    /// Waits until the connection takes one more stream (the upstream's
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`); fails once the connection is closed or going away.
    pub async fn ready(self) -> Result<Self, h2::Error> {
        Ok(Self {
            inner: self.inner.ready().await?,
        })
    }

    /// Whether the connection takes one more stream right now: `Ok(false)` if the request
    /// would have to wait (then [`ready`](Self::ready) waits), an error once the connection is
    /// closed or going away.
    pub fn try_ready(&mut self) -> Result<bool, h2::Error> {
        // A waker nobody listens to: on `Pending` the caller turns to `ready`, which polls again
        // with its task's.
        let mut cx = Context::from_waker(Waker::noop());
        match self.inner.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => Ok(true),
            Poll::Ready(Err(e)) => Err(e),
            Poll::Pending => Ok(false),
        }
    }

    /// Opens a stream for `req` (its URI absolute: `h2` takes `:scheme` and `:authority` from
    /// it) and sends its head, with the end of the stream when the body is empty; a body that
    /// is already whole goes with it, and a body still to come is sent by a task of its own. The connection-specific fields HTTP/2 forbids are
    /// removed first, and `te` but for `te: trailers`.
    ///
    /// Fails if the connection is closed or going away: call it right after
    /// [`ready`](Self::ready), which says so without taking the request.
    pub fn send<B>(&mut self, req: Request<B>) -> Result<ResponseFuture, h2::Error>
    where
        B: http_body::Body<Data = Bytes, Error = BoxError> + Send + Unpin + 'static,
    {
        let (mut parts, body) = req.into_parts();
        strip_connection_specific(&mut parts.headers);
        if parts
            .headers
            .get(header::TE)
            .is_some_and(|te| te != HeaderValue::from_static("trailers"))
        {
            parts.headers.remove(header::TE);
        }
        set_content_length(&mut parts.headers, &body);
        let mut body = body;
        // `None`: the head ends the stream (no body, or one that ended without a frame);
        // `Some(taken)`: a body to send, with its first frame if it was there already.
        let first = if body.is_end_stream() {
            None
        } else {
            match poll_now(&mut body) {
                Some(None) => None,
                taken => Some(taken),
            }
        };
        let head = Request::from_parts(parts, ());
        let Some(first) = first else {
            return Ok(ResponseFuture {
                inner: self.inner.send_request(head, true)?.0,
                pipe: None,
            });
        };
        let (response, mut tx) = self.inner.send_request(head, false)?;
        // A body that has arrived whole, as a unary gRPC call's one message usually has (the
        // server reads what the socket holds before it hands the request over), is sent from
        // here: no task of its own, and its frame leaves with the head. `h2` holds it until
        // the upstream's window takes it; it is the body's last frame, so nothing piles up.
        let first = match first {
            Some(Some(Ok(frame))) if body.is_end_stream() => {
                match frame.into_data() {
                    Ok(data) => tx.send_data(data, true)?,
                    Err(frame) => match frame.into_trailers() {
                        Ok(trailers) => tx.send_trailers(trailers)?,
                        Err(_) => tx.send_data(Bytes::new(), true)?,
                    },
                }
                return Ok(ResponseFuture {
                    inner: response,
                    pipe: None,
                });
            }
            taken => taken,
        };
        let task = tokio::spawn(async move {
            if let Err(e) = pipe(body, tx, first).await {
                tracing::debug!(error = %e, "http/2 request body not sent whole");
            }
        });
        Ok(ResponseFuture {
            inner: response,
            pipe: Some(PipeGuard(task.abort_handle())),
        })
    }
}

/// The body's next frame if it is there now (`Some`), without waiting: whoever polls it next
/// registers the waker that matters.
fn poll_now<B>(body: &mut B) -> Option<NextFrame>
where
    B: http_body::Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let mut cx = Context::from_waker(Waker::noop());
    match Pin::new(body).poll_frame(&mut cx) {
        Poll::Ready(frame) => Some(frame),
        Poll::Pending => None,
    }
}

/// The response to a request [`Sender::send`] sent: its head once the upstream sent it.
/// Dropping it (or the response's body) stops sending the request's body and resets the stream.
#[derive(Debug)]
pub struct ResponseFuture {
    inner: h2::client::ResponseFuture,
    pipe: Option<PipeGuard>,
}

impl Future for ResponseFuture {
    type Output = Result<Response<Body>, h2::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let resp = ready!(Pin::new(&mut self.inner).poll(cx))?;
        let (parts, recv) = resp.into_parts();
        let body = Body::new(recv, &parts.headers).with_pipe(self.pipe.take());
        Poll::Ready(Ok(Response::from_parts(parts, body)))
    }
}
