//! A message body read from its HTTP/2 stream: a request's on the server side, a response's on
//! the client side.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::{Frame, SizeHint};

/// The body of a request served by [`serve`](crate::serve), or of a response to a request sent
/// by a [`client::Sender`](crate::client::Sender): its DATA frames, then its trailers. Each
/// chunk's bytes are given back to the peer's flow-control window as soon as the chunk is
/// taken, so the peer sends at the pace the body is read.
#[derive(Debug)]
pub struct Body {
    recv: h2::RecvStream,
    /// A response's: the task still sending its request's body, stopped when the response's
    /// body is dropped.
    _pipe: Option<PipeGuard>,
    /// Bytes still to come of a body with a `content-length` (`h2` resets a stream whose
    /// DATA frames do not add up to it).
    remaining: Option<u64>,
    data_done: bool,
}

impl Body {
    pub(crate) fn new(recv: h2::RecvStream, headers: &HeaderMap) -> Self {
        let remaining = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse().ok());
        Self {
            recv,
            _pipe: None,
            remaining,
            data_done: false,
        }
    }

    pub(crate) fn with_pipe(mut self, pipe: Option<PipeGuard>) -> Self {
        self._pipe = pipe;
        self
    }
}

/// Aborts the task sending a request's body when dropped: nobody waits for that exchange any
/// more, and the stream is reset.
#[derive(Debug)]
pub(crate) struct PipeGuard(pub(crate) tokio::task::AbortHandle);

impl Drop for PipeGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = h2::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, h2::Error>>> {
        let me = &mut *self;
        if !me.data_done {
            match ready!(me.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Fails only once the stream is gone, which the next poll reports.
                    let _ = me.recv.flow_control().release_capacity(data.len());
                    if let Some(r) = &mut me.remaining {
                        *r = r.saturating_sub(data.len() as u64);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(e))),
                None => me.data_done = true,
            }
        }
        match ready!(me.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None if self.recv.is_end_stream() => SizeHint::with_exact(0),
            None => SizeHint::default(),
        }
    }
}
