//! A response body as an upstream client gave it, with the connection it arrived on: the body
//! gives the connection back to its pool itself once the exchange is complete, so whoever reads
//! it to its end (the downstream, a retry's discard, a mirror) keeps the connection warm, and
//! whoever drops it early closes the connection.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::error::BoxError;
use crate::pool::{Http1Pool, PooledBody};

/// An upstream response body.
#[derive(Debug)]
pub(crate) enum UpstreamBody {
    /// From a pooled `rigging-proxy-http1` connection (an HTTP/1.1 endpoint): the body owns
    /// the connection, and puts it back into `pool` at its end.
    Pooled {
        inner: PooledBody,
        pool: Arc<Http1Pool>,
    },
    /// A stream of an HTTP/2 endpoint's connection: it holds no connection of its own.
    Http2(rigging_proxy_h2::Body),
    /// From hyper's client: an upgraded request's response. It holds no connection of a pool.
    Hyper(Incoming),
}

impl UpstreamBody {
    pub fn pooled(inner: PooledBody, pool: Arc<Http1Pool>) -> Self {
        let mut body = Self::Pooled { inner, pool };
        body.release_if_done();
        body
    }

    pub fn hyper(inner: Incoming) -> Self {
        Self::Hyper(inner)
    }

    /// Whether the body holds an HTTP/1.1 connection that reading it to its end would give back
    /// (an HTTP/2 stream has none).
    pub fn holds_connection(&self) -> bool {
        match self {
            Self::Pooled { .. } => true,
            Self::Http2(_) | Self::Hyper(_) => false,
        }
    }

    /// A body that has nothing more to send (HEAD, 204, an empty length, its last bytes read)
    /// may never be polled again: its connection goes back now.
    fn release_if_done(&mut self) {
        if self.is_end_stream() {
            self.release();
        }
    }

    fn release(&mut self) {
        match self {
            Self::Pooled { inner, pool } => {
                // `None` unless the request is written too and the upstream keeps the
                // connection: then it closes with this body.
                if let Some(conn) = inner.take_conn() {
                    pool.put(conn);
                }
            }
            Self::Http2(_) | Self::Hyper(_) => {}
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled = match this {
            Self::Pooled { inner, .. } => Pin::new(inner).poll_frame(cx).map_err(BoxError::from),
            Self::Http2(inner) => Pin::new(inner).poll_frame(cx).map_err(BoxError::from),
            Self::Hyper(inner) => Pin::new(inner).poll_frame(cx).map_err(BoxError::from),
        };
        match &polled {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Ok(_))) => this.release_if_done(),
            // A broken body leaves the connection in an unknown state: it closes (a pooled
            // one refuses `take_conn` from now on).
            Poll::Ready(Some(Err(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Pooled { inner, .. } => inner.is_end_stream(),
            Self::Http2(inner) => inner.is_end_stream(),
            Self::Hyper(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Pooled { inner, .. } => inner.size_hint(),
            Self::Http2(inner) => inner.size_hint(),
            Self::Hyper(inner) => inner.size_hint(),
        }
    }
}
