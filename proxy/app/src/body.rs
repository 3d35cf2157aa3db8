//! Bodies crossing the proxy: the downstream request body (read by the proxy's HTTP/1.1 server
//! or `rigging-proxy-h2`), the request body sent upstream (streamed, or buffered so that it
//! can be sent again), and the response body sent downstream (an upstream body streamed
//! through, or the proxy's own).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use rigging_proxy_balance::InFlight;
use rigging_proxy_resilience::{ActiveRequest, RetryPermit};
use tokio::time::Sleep;

use crate::cluster::RequestPermit;
use crate::error::{BoxError, ErrorKind};
use crate::idle::{IdleTimeoutElapsed, IdleTimer};

mod upstream;

pub(crate) use upstream::UpstreamBody;

/// A downstream request's body as its connection's server reads it.
#[derive(Debug)]
pub(crate) enum DownstreamBody {
    Http1(rigging_proxy_http1::Body),
    Http2(rigging_proxy_h2::Body),
}

/// A request body on its way upstream: the downstream body streamed through (sent once), or the
/// whole body in memory, which retries and mirrors send again.
#[derive(Debug)]
pub(crate) enum RequestBody {
    /// With the route's idle timer, told of every frame.
    Streamed(DownstreamBody, Option<Arc<IdleTimer>>),
    /// The buffered data, then the trailers; each `None` once sent. The trailers are boxed:
    /// a `HeaderMap` inline would more than double the size of every request, which moves
    /// from layer to layer on its way upstream.
    Buffered(Option<Bytes>, Option<Box<HeaderMap>>),
}

/// A request body read whole, to be sent again (retries, mirrors): data and trailers.
#[derive(Debug, Clone, Default)]
pub(crate) struct BufferedBody {
    pub data: Bytes,
    pub trailers: Option<HeaderMap>,
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
        /// Gives its connection back to its pool once it ended.
        inner: UpstreamBody,
        guard: Option<InFlight>,
        /// Released with `guard`.
        held: Option<Held>,
        /// The route's idle timeout: the body ends with an error when the stream stays idle.
        idle: Option<IdleBody>,
    },
    Local(Option<Bytes>),
}

/// A response body's side of the route's idle timer.
#[derive(Debug)]
pub(crate) struct IdleBody {
    timer: Arc<IdleTimer>,
    sleep: Pin<Box<Sleep>>,
}

impl RequestBody {
    /// A buffered copy of `body`, trailers included, for one attempt.
    pub fn buffered(body: &BufferedBody) -> Self {
        Self::Buffered(
            (!body.data.is_empty()).then(|| body.data.clone()),
            body.trailers.clone().map(Box::new),
        )
    }
}

impl Body for DownstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Http1(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
            Self::Http2(b) => Pin::new(b).poll_frame(cx).map_err(BoxError::from),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Http1(b) => b.is_end_stream(),
            Self::Http2(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Http1(b) => b.size_hint(),
            Self::Http2(b) => b.size_hint(),
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Streamed(inner, idle) => {
                let polled = Pin::new(inner).poll_frame(cx);
                if let (Some(idle), Poll::Ready(Some(Ok(_)))) = (idle, &polled) {
                    idle.touch();
                }
                polled
            }
            Self::Buffered(bytes, trailers) => Poll::Ready(
                bytes
                    .take()
                    .map(Frame::data)
                    .or_else(|| trailers.take().map(|t| Frame::trailers(*t)))
                    .map(Ok),
            ),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Streamed(inner, _) => inner.is_end_stream(),
            Self::Buffered(bytes, trailers) => bytes.is_none() && trailers.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Streamed(inner, _) => inner.size_hint(),
            Self::Buffered(bytes, _) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
        }
    }
}

impl ResponseBody {
    /// The upstream's body, holding `guard` and `held` until it ends, and ended with an error
    /// when `idle` finds the stream idle; what a body that already ended needs no more goes at
    /// once. Made in one piece: a body passed through builder methods was copied whole at
    /// each (216 bytes, three times a request).
    pub fn upstream(
        inner: UpstreamBody,
        guard: Option<InFlight>,
        held: Option<Held>,
        idle: Option<Arc<IdleTimer>>,
    ) -> Self {
        if inner.is_end_stream() {
            return Self::Upstream {
                inner,
                guard: None,
                held: None,
                idle: None,
            };
        }
        let idle = idle.map(|timer| {
            let sleep = timer.sleep();
            IdleBody { timer, sleep }
        });
        Self::Upstream {
            inner,
            guard,
            held,
            idle,
        }
    }

    pub fn local(text: impl Into<Bytes>) -> Self {
        Self::Local(Some(text.into()))
    }

    fn release_if_done(&mut self) {
        if let Self::Upstream { inner, .. } = self
            && inner.is_end_stream()
        {
            self.release();
        }
    }

    /// The body ended: the guards go now (the body gave its connection back itself).
    fn release(&mut self) {
        if let Self::Upstream {
            guard, held, idle, ..
        } = self
        {
            *guard = None;
            *held = None;
            *idle = None;
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match this {
            Self::Upstream { inner, idle, .. } => {
                let polled = Pin::new(inner).poll_frame(cx);
                if let Some(i) = idle {
                    match &polled {
                        Poll::Ready(Some(Ok(_))) => i.timer.touch(),
                        Poll::Pending if i.timer.poll_expired(&mut i.sleep, cx).is_ready() => {
                            let limit = i.timer.limit();
                            tracing::warn!(
                                reason = ErrorKind::IdleTimeout.code(),
                                ?limit,
                                "response body idle for the route's idle timeout: stream reset"
                            );
                            // The connection is left mid-body: closed, never pooled; the
                            // guards go with it.
                            *this = Self::Local(None);
                            return Poll::Ready(Some(Err(IdleTimeoutElapsed { limit }.into())));
                        }
                        _ => {}
                    }
                }
                match &polled {
                    // A broken body leaves the connection in an unknown state: it closes now,
                    // and the guards go with it.
                    Poll::Ready(Some(Err(_))) => *this = Self::Local(None),
                    Poll::Ready(None) => this.release(),
                    Poll::Ready(Some(Ok(_))) => this.release_if_done(),
                    Poll::Pending => {}
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
