//! The response body, read from the upstream connection by whoever polls it; the connection
//! goes back to its pool from here once the exchange is complete.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::head::ResponseFraming;
use super::{BoxError, ClientConn, Writer};
use crate::body::BodyError;
use crate::decode::{Decoded, Decoder};
use crate::io::Io;
use crate::read::ReadBuffer;

/// The body of a response read by [`ClientConn::send`](super::ClientConn::send).
#[derive(Debug)]
pub struct ClientBody<I, B> {
    io: Option<I>,
    rbuf: ReadBuffer,
    framing: ResponseFraming,
    /// The rest of the request body, still being written (boxed: rare, and large).
    writer: Option<Box<Writer<B>>>,
    /// The upstream keeps the connection open after this response.
    keep_alive: bool,
    done: bool,
}

impl<I: Io, B> ClientBody<I, B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    pub(super) fn new(
        io: Option<I>,
        rbuf: ReadBuffer,
        framing: ResponseFraming,
        keep_alive: bool,
        writer: Writer<B>,
    ) -> Self {
        let done = matches!(framing, ResponseFraming::Empty);
        let writer = (!writer.is_done()).then(|| Box::new(writer));
        Self {
            io,
            rbuf,
            framing,
            writer,
            keep_alive,
            done,
        }
    }

    /// The connection, once the request and the response are both complete and the upstream
    /// keeps it open; `None` otherwise (the connection then closes when this body is dropped).
    pub fn take_conn(&mut self) -> Option<ClientConn<I>> {
        if !(self.done && self.keep_alive && self.writer.is_none() && self.rbuf.is_empty()) {
            return None;
        }
        self.io.take().map(ClientConn::new)
    }

    /// Pushes the rest of the request body out, without waiting for it.
    fn poll_request(&mut self, io: &mut I, cx: &mut Context<'_>) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        match writer.poll_write(io, cx) {
            Poll::Pending => {}
            Poll::Ready(Ok(())) => self.writer = None,
            Poll::Ready(Err(e)) => {
                // The response may still come whole; the connection is done for, though.
                tracing::debug!(error = %e, "request body to the upstream failed");
                self.writer = None;
                self.keep_alive = false;
            }
        }
    }
}

impl<I: Io, B> http_body::Body for ClientBody<I, B>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let Some(mut io) = this.io.take() else {
            return Poll::Ready(None);
        };
        this.poll_request(&mut io, cx);
        let polled = this.poll_response(&mut io, cx);
        this.io = Some(io);
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.done || matches!(self.framing, ResponseFraming::Decoded(Decoder::Length(0)))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.framing {
            _ if self.done => SizeHint::with_exact(0),
            ResponseFraming::Empty => SizeHint::with_exact(0),
            ResponseFraming::Decoded(Decoder::Length(n)) => SizeHint::with_exact(*n),
            _ => SizeHint::default(),
        }
    }
}

impl<I: Io, B> ClientBody<I, B> {
    fn poll_response(
        &mut self,
        io: &mut I,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        loop {
            let decoded = match &mut self.framing {
                ResponseFraming::Empty => Ok(Decoded::End),
                ResponseFraming::Decoded(d) => d.decode(self.rbuf.get_mut()),
                ResponseFraming::Close => Ok(match self.rbuf.filled() {
                    Some(buf) => Decoded::Data(buf.split().freeze()),
                    None => Decoded::NeedMore,
                }),
            };
            match decoded {
                Ok(Decoded::Data(data)) => {
                    // The last bytes of a sized body end it now: whoever stops polling once
                    // the body says it is at its end still gets the connection back.
                    if matches!(self.framing, ResponseFraming::Decoded(Decoder::Length(0))) {
                        self.done = true;
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(Decoded::Trailers(t)) => return Poll::Ready(Some(Ok(Frame::trailers(t)))),
                Ok(Decoded::End) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Ok(Decoded::NeedMore) => {}
                Err(e) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(BodyError::Malformed(e.0))));
                }
            }
            match ready!(self.rbuf.poll_fill(io, cx)) {
                Ok(0) if matches!(self.framing, ResponseFraming::Close) => {
                    self.done = true;
                    return Poll::Ready(None);
                }
                Ok(0) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(BodyError::Incomplete)));
                }
                Ok(_) => {}
                Err(_) => {
                    self.keep_alive = false;
                    return Poll::Ready(Some(Err(BodyError::Io)));
                }
            }
        }
    }
}
