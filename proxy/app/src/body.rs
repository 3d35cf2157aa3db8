//! Bodies crossing the proxy: the request body sent upstream (streamed, or buffered so that it
//! can be sent again), and the response body sent downstream (an upstream body streamed
//! through, or the proxy's own).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use rigging_proxy_balance::InFlight;
use rigging_proxy_resilience::{ActiveRequest, RetryPermit};

use crate::cluster::RequestPermit;
use crate::pool::Lease;

/// A request body on its way upstream: the downstream body streamed through (sent once), or the
/// whole body in memory, which retries and mirrors send again.
#[derive(Debug)]
pub(crate) enum RequestBody {
    Streamed(Incoming),
    Buffered(Option<Bytes>),
}

/// What a request holds until its response body ends, released with the endpoint's in-flight
/// guard.
#[derive(Debug)]
#[allow(dead_code, reason = "guards, kept for their drop")]
pub(crate) struct Held {
    /// Its place within the cluster's `max_requests` (circuit breaker).
    pub permit: RequestPermit,
    /// The last attempt, active in the cluster's retry budget.
    pub active: ActiveRequest,
    /// The last attempt's retry permit, when it was a retry.
    pub retry: Option<RetryPermit>,
}

/// Either the upstream's body, streamed frame by frame (trailers included) with the endpoint's
/// in-flight guard held until it ends, or a body the proxy generated.
#[derive(Debug)]
pub(crate) enum ResponseBody {
    Upstream {
        inner: Incoming,
        guard: Option<InFlight>,
        /// The HTTP/1.1 connection the body arrives on, back to its pool once the body ended.
        lease: Option<Lease>,
        /// Released with `guard`.
        held: Option<Held>,
    },
    Local(Option<Bytes>),
}

impl RequestBody {
    /// A buffered copy of `bytes`, for one attempt.
    pub fn buffered(bytes: &Bytes) -> Self {
        Self::Buffered((!bytes.is_empty()).then(|| bytes.clone()))
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.get_mut() {
            Self::Streamed(inner) => Pin::new(inner).poll_frame(cx),
            Self::Buffered(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streamed(inner) => inner.is_end_stream(),
            Self::Buffered(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streamed(inner) => inner.size_hint(),
            Self::Buffered(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

impl ResponseBody {
    pub fn upstream(inner: Incoming, guard: Option<InFlight>) -> Self {
        let mut body = Self::Upstream {
            inner,
            guard,
            lease: None,
            held: None,
        };
        body.release_if_done();
        body
    }

    /// Gives `lease` back to its pool when the body ends (at once if it already has).
    pub fn with_lease(mut self, lease: Option<Lease>) -> Self {
        if let Self::Upstream { lease: slot, .. } = &mut self {
            *slot = lease;
        }
        self.release_if_done();
        self
    }

    /// Keeps `guard` alive until the body ends (dropped at once if it already has).
    pub fn with_held(mut self, guard: Held) -> Self {
        if let Self::Upstream { held, .. } = &mut self {
            *held = Some(guard);
        }
        self.release_if_done();
        self
    }

    pub fn local(text: impl Into<Bytes>) -> Self {
        Self::Local(Some(text.into()))
    }

    fn release_if_done(&mut self) {
        if let Self::Upstream {
            inner,
            guard,
            lease,
            held,
        } = self
            && inner.is_end_stream()
        {
            *guard = None;
            *held = None;
            if let Some(l) = lease.take() {
                l.release();
            }
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
            Self::Upstream {
                inner,
                guard,
                lease,
                held,
            } => {
                let polled = Pin::new(inner).poll_frame(cx);
                match &polled {
                    Poll::Ready(None) => {
                        *guard = None;
                        *held = None;
                        if let Some(l) = lease.take() {
                            l.release();
                        }
                    }
                    // A broken body leaves the connection in an unknown state: drop it.
                    Poll::Ready(Some(Err(_))) => {
                        *guard = None;
                        *held = None;
                        *lease = None;
                    }
                    _ => this.release_if_done(),
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
