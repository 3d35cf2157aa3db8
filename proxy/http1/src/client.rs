//! The upstream side: an HTTP/1.1 connection a pool lends to one request at a time.
//!
//! It has no task of its own: the request's task writes the request and reads the response
//! (no channels, no second task to wake), and an idle connection holds its socket and nothing
//! else. The request body keeps streaming while the response is read (an upstream may answer
//! before it has read everything), and the connection is reusable once both are complete.

mod body;
mod head;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use tokio::io::ReadBuf;

use crate::Config;
use crate::io::Io;
use crate::read::ReadBuffer;
use crate::write::{Encoder, WriteBuf};

pub use body::ClientBody;
pub use head::ResponseHeadError;

use head::{encode_request, parse_response};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// An idle HTTP/1.1 connection to an upstream.
#[derive(Debug)]
pub struct ClientConn<I> {
    io: I,
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("upstream connection i/o failed")]
    Io(#[source] io::Error),
    #[error("the upstream closed the connection before a response")]
    Closed,
    #[error(transparent)]
    Head(#[from] ResponseHeadError),
    #[error(
        "the upstream switched protocols or opened a tunnel, which a pooled connection cannot carry"
    )]
    UnexpectedSwitch,
    #[error("the request body failed")]
    RequestBody(#[source] BoxError),
    #[error("the request body did not match its content-length")]
    RequestLength(#[source] crate::LengthError),
}

/// A failed [`ClientConn::send`]; `unsent` holds the request when none of it reached the
/// upstream, so it may go out on another connection whatever its method.
#[derive(Debug)]
pub struct SendError<B> {
    pub error: ClientError,
    pub unsent: Option<Request<B>>,
}

/// [`ClientConn::send`]'s future.
#[derive(Debug)]
pub struct Sending<I, B> {
    io: Option<I>,
    /// The request until its head is out (given back if that write fails).
    request: Option<Request<B>>,
    writer: Writer<B>,
    rbuf: ReadBuffer,
    head_request: bool,
    /// A `CONNECT`: a 2xx answer turns the connection into a tunnel, which a pool must not
    /// lend again.
    connect: bool,
    config: Config,
}

/// Writes a request body (and what is queued before it) as the body yields frames.
#[derive(Debug)]
pub(crate) struct Writer<B> {
    body: Option<B>,
    encoder: Encoder,
    wbuf: WriteBuf,
}

impl<I: Io> ClientConn<I> {
    pub fn new(io: I) -> Self {
        Self { io }
    }

    /// Whether an idle connection can take a request: the upstream has not closed it, nor sent
    /// anything unasked. Looks without waiting (a read that would block means "yes").
    pub fn is_reusable(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        let mut byte = [0u8; 1];
        let mut buf = ReadBuf::new(&mut byte);
        Pin::new(&mut self.io)
            .poll_read(&mut cx, &mut buf)
            .is_pending()
    }

    /// Sends `req` (origin-form target, `Host` set) and resolves with the response head; its
    /// body streams from this connection, which [`ClientBody::take_conn`] gives back once the
    /// exchange is complete.
    pub fn send<B>(self, req: Request<B>, config: Config) -> Sending<I, B>
    where
        B: http_body::Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        let mut wbuf = WriteBuf::default();
        let encoder = match wbuf.staging() {
            Some(staging) => encode_request(&req, staging),
            None => Encoder::Empty,
        };
        Sending {
            io: Some(self.io),
            head_request: req.method() == http::Method::HEAD,
            connect: req.method() == http::Method::CONNECT,
            request: Some(req),
            writer: Writer {
                body: None,
                encoder,
                wbuf,
            },
            rbuf: ReadBuffer::default(),
            config,
        }
    }
}

impl<I, B> Future for Sending<I, B>
where
    I: Io,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ClientBody<I, B>>, SendError<B>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let fail = |error| SendError {
            error,
            unsent: None,
        };
        let Some(io) = this.io.as_mut() else {
            return Poll::Ready(Err(fail(ClientError::Closed)));
        };
        if this.request.is_some() {
            // The head goes out alone, so a connection found dead on this first write leaves
            // the request whole for another one.
            match this.writer.wbuf.poll_write(io, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    let unsent = if this.writer.wbuf.untouched() {
                        this.request.take()
                    } else {
                        None
                    };
                    return Poll::Ready(Err(SendError {
                        error: ClientError::Io(e),
                        unsent,
                    }));
                }
                Poll::Ready(Ok(())) => {
                    if let Some(req) = this.request.take()
                        && this.writer.encoder != Encoder::Empty
                    {
                        this.writer.body = Some(req.into_body());
                    }
                }
            }
        }
        if let Poll::Ready(Err(e)) = this.writer.poll_write(io, cx) {
            return Poll::Ready(Err(fail(e)));
        }
        loop {
            if let Some(buf) = this.rbuf.filled() {
                let parsed = parse_response(buf, this.config.max_head_bytes, this.head_request)
                    .map_err(|e| fail(e.into()))?;
                if let Some(head) = parsed {
                    let tunnel = this.connect && head.status.is_success();
                    if head.status == StatusCode::SWITCHING_PROTOCOLS || tunnel {
                        return Poll::Ready(Err(fail(ClientError::UnexpectedSwitch)));
                    }
                    if head.status.is_informational() {
                        // `100 Continue` and other interim responses: the answer follows.
                        continue;
                    }
                    return Poll::Ready(Ok(this.respond(head)));
                }
            }
            if this.rbuf.is_empty() {
                // The response is usually not there yet when the request has just gone out:
                // wait for it before taking a buffer, or the buffer would be taken and given
                // back for nothing (an allocation per request).
                if let Err(e) = ready!(io.poll_read_ready(cx)) {
                    return Poll::Ready(Err(fail(ClientError::Io(e))));
                }
            }
            match ready!(this.rbuf.poll_fill(io, cx)) {
                Ok(0) => return Poll::Ready(Err(fail(ClientError::Closed))),
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(fail(ClientError::Io(e)))),
            }
        }
    }
}

impl<I, B> Sending<I, B>
where
    I: Io,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    fn respond(&mut self, head: head::ResponseHead) -> Response<ClientBody<I, B>> {
        let writer = std::mem::replace(
            &mut self.writer,
            Writer {
                body: None,
                encoder: Encoder::Empty,
                wbuf: WriteBuf::default(),
            },
        );
        let body = ClientBody::new(
            self.io.take(),
            std::mem::take(&mut self.rbuf),
            head.framing,
            head.keep_alive,
            writer,
        );
        let mut resp = Response::new(body);
        *resp.status_mut() = head.status;
        *resp.version_mut() = head.version;
        *resp.headers_mut() = head.headers;
        resp
    }
}

impl<B> Writer<B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Whether everything is written (and flushed).
    pub(crate) fn is_done(&self) -> bool {
        self.body.is_none() && self.wbuf.is_empty()
    }

    /// Writes queued bytes and body frames until the body is done (`Ready(Ok)`), waits, or
    /// fails.
    pub(crate) fn poll_write<I: Io>(
        &mut self,
        io: &mut I,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), ClientError>> {
        loop {
            if !self.wbuf.is_empty() {
                ready!(self.wbuf.poll_write(io, cx)).map_err(ClientError::Io)?;
            }
            let Some(body) = &mut self.body else {
                return self.wbuf.poll_flush(io, cx).map_err(ClientError::Io);
            };
            match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    let last = body.is_end_stream();
                    match frame.into_data() {
                        Ok(data) => self
                            .encoder
                            .data(data, last, &mut self.wbuf)
                            .map_err(ClientError::RequestLength)?,
                        Err(frame) => {
                            if let Ok(trailers) = frame.into_trailers() {
                                self.encoder.trailers(&trailers, &mut self.wbuf);
                            }
                        }
                    }
                    if last {
                        self.body = None;
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    self.body = None;
                    return Poll::Ready(Err(ClientError::RequestBody(e.into())));
                }
                Poll::Ready(None) => {
                    self.body = None;
                    self.encoder
                        .finish(&mut self.wbuf)
                        .map_err(ClientError::RequestLength)?;
                }
                Poll::Pending => {
                    ready!(self.wbuf.poll_flush(io, cx)).map_err(ClientError::Io)?;
                    return Poll::Pending;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
