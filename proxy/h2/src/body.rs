//! A request body read from its HTTP/2 stream.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::{Frame, SizeHint};

/// The body of a request served by [`serve`](crate::serve): its DATA frames, then its
/// trailers. Each chunk's bytes are given back to the client's flow-control window as soon as
/// the chunk is taken, so the client sends at the pace the body is read.
#[derive(Debug)]
pub struct Body {
    recv: h2::RecvStream,
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
            remaining,
            data_done: false,
        }
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
