//! The response body sent downstream: an upstream body streamed through, or the proxy's own.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use rigging_proxy_balance::InFlight;

/// Either the upstream's body, streamed frame by frame (trailers included) with the endpoint's
/// in-flight guard held until it ends, or a body the proxy generated.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    Upstream {
        inner: Incoming,
        guard: Option<InFlight>,
    },
    Local(Option<Bytes>),
}

impl ResponseBody {
    pub fn upstream(inner: Incoming, guard: Option<InFlight>) -> Self {
        let mut body = Self::Upstream { inner, guard };
        body.release_if_done();
        body
    }

    pub fn local(text: impl Into<Bytes>) -> Self {
        Self::Local(Some(text.into()))
    }

    fn release_if_done(&mut self) {
        if let Self::Upstream { inner, guard } = self
            && guard.is_some()
            && inner.is_end_stream()
        {
            *guard = None;
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        match this {
            Self::Upstream { inner, guard } => {
                let polled = Pin::new(inner).poll_frame(cx);
                if matches!(polled, Poll::Ready(None | Some(Err(_)))) {
                    *guard = None;
                } else {
                    this.release_if_done();
                }
                polled
            }
            Self::Local(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream { inner, .. } => inner.is_end_stream(),
            Self::Local(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream { inner, .. } => inner.size_hint(),
            Self::Local(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}
