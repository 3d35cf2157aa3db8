//! HTTP/1.1 connections to one endpoint, reused last-in first-out (HTTP/2: [`Http2Pool`]).
//!
//! Requests go on `rigging-proxy-http1` client connections: the request's own task (its
//! HTTP/1.1 connection's, or its HTTP/2 connection's, which serves all its streams) writes it
//! and reads the response (no connection task, no channels), and an idle connection holds its
//! socket and nothing else. A request takes the most recently used idle connection (its buffers
//! are warm), and its response body gives the connection back when the exchange is complete.
//!
//! The cluster's circuit breaker bounds the pool: a new connection takes a `max_connections`
//! permit for its whole life, carried in its stream (see [`counted`]). The pool never makes a
//! request wait for a busy connection (it
//! opens a new one instead), so the requests Envoy calls pending are those waiting for a new
//! connection to be established: each holds a `max_pending_requests` permit while it connects.
//! A request beyond either limit fails at once with [`PoolError::Overflow`].

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use http::{Request, Response};
use rigging_proxy_http1::client::{ClientBody, ClientConn, ClientError, SendError, Sending};
use rigging_proxy_resilience::{Limit, Overflow, Permit};

use crate::body::RequestBody;
use crate::cluster::{ConnectError, EndpointConnector, Limits};

mod coarse;
mod counted;
mod http2;
#[cfg(test)]
mod tests;

use counted::Counted;
pub(crate) use http2::Http2Pool;

/// Idle connections kept per endpoint: enough for a burst of concurrency to come
/// back to warm connections, bounded so a spike does not pin file descriptors until the idle
/// timeout.
const MAX_IDLE: usize = 256;
/// How long an idle connection is kept: shorter than the usual 60 s+ server idle timeouts, so
/// the proxy closes first and does not send on a connection the upstream is closing.
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// Limits on what an upstream sends back: the same as on what clients send.
const CLIENT_CONFIG: rigging_proxy_http1::Config = rigging_proxy_http1::Config {
    max_head_bytes: rigging_proxy_http1::DEFAULT_MAX_HEAD_BYTES,
};

/// A response body read from a lean pooled connection.
pub(crate) type PooledBody = ClientBody<Counted, RequestBody>;

/// Why a request did not get a response from the endpoint.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("connect failed")]
    Connect(#[source] ConnectError),
    #[error("upstream connection failed")]
    Http(#[source] ClientError),
    #[error("http/2 handshake with the endpoint failed")]
    Handshake(#[source] rigging_proxy_h2::Error),
    #[error("http/2 stream failed")]
    Http2(#[source] h2::Error),
    /// The circuit breaker refused a new connection or one more request waiting for one.
    #[error(transparent)]
    Overflow(Overflow),
}

/// [`Http1Pool::send`]'s future.
#[allow(
    clippy::large_enum_variant,
    reason = "the large variant is every request's; boxing it would cost an allocation each"
)]
pub(crate) enum PoolSend {
    /// On an idle connection taken from the pool.
    Reused {
        sending: Sending<Counted, RequestBody>,
        pool: Arc<Http1Pool>,
    },
    /// Connecting, or sending again after an idle connection turned out closed.
    Slow(Pin<Box<dyn Future<Output = Result<Response<PooledBody>, PoolError>> + Send>>),
}

impl Future for PoolSend {
    type Output = Result<Response<PooledBody>, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let retry = match this {
            Self::Slow(fut) => return fut.as_mut().poll(cx),
            Self::Reused { sending, pool } => match ready!(Pin::new(sending).poll(cx)) {
                Ok(resp) => return Poll::Ready(Ok(resp)),
                // Closed while idle, before any of the request went out: another connection.
                Err(SendError {
                    unsent: Some(unsent),
                    ..
                }) => Arc::clone(pool).send_slow(unsent),
                Err(e) => return Poll::Ready(Err(PoolError::Http(e.error))),
            },
        };
        *this = Self::Slow(Box::pin(retry));
        Pin::new(this).poll(cx)
    }
}

impl std::fmt::Debug for PoolSend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Reused { .. } => "PoolSend::Reused",
            Self::Slow(_) => "PoolSend::Slow",
        })
    }
}

/// The HTTP/1.1 connections of one endpoint.
#[derive(Debug)]
pub(crate) struct Http1Pool {
    connector: EndpointConnector,
    limits: Limits,
    /// Oldest first: connections are given back at the end, with the time.
    idle: Mutex<VecDeque<Idle>>,
    idle_timeout: Duration,
    /// Whether a [`sweep`](Self::sweep) task is running (one per pool, while any connection is
    /// idle).
    sweeping: AtomicBool,
}

#[derive(Debug)]
struct Idle {
    conn: ClientConn<Counted>,
    /// When it was given back, on the [`coarse`] clock.
    since: Duration,
}

impl Http1Pool {
    /// A pool that closes a connection idle for `idle_timeout` ([`IDLE_TIMEOUT`] in the proxy).
    pub(crate) fn new(
        connector: EndpointConnector,
        limits: Limits,
        idle_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            connector,
            limits,
            idle: Mutex::new(VecDeque::new()),
            idle_timeout,
            sweeping: AtomicBool::new(false),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection or a new one. A request
    /// that a pooled connection could not take (closed meanwhile) is sent again on another: it
    /// was never written, so this is safe for any method.
    ///
    /// An idle connection is taken at once and the request's head encoded for it: the future
    /// is then the exchange itself, holding the request once. Connecting, and sending again
    /// after a connection found closed, are an `async fn` in a box: rare with a warm pool, and
    /// large (a TCP connect, maybe a TLS handshake), they would otherwise grow every request's
    /// future, which moves at each layer above.
    pub(crate) fn send(self: &Arc<Self>, req: Request<RequestBody>) -> PoolSend {
        match self.take_idle() {
            Some(conn) => PoolSend::Reused {
                sending: conn.send(req, CLIENT_CONFIG),
                pool: Arc::clone(self),
            },
            None => PoolSend::Slow(Box::pin(Arc::clone(self).send_slow(req))),
        }
    }

    /// The slow path of [`send`](Self::send): the idle connections still there, then a new
    /// one.
    async fn send_slow(
        self: Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<Response<PooledBody>, PoolError> {
        loop {
            let (conn, fresh) = match self.take_idle() {
                Some(c) => (c, false),
                None => (self.connect().await?, true),
            };
            match conn.send(req, CLIENT_CONFIG).await {
                Ok(resp) => return Ok(resp),
                Err(SendError {
                    unsent: Some(unsent),
                    ..
                }) if !fresh => req = unsent,
                Err(e) => return Err(PoolError::Http(e.error)),
            }
        }
    }

    async fn connect(&self) -> Result<ClientConn<Counted>, PoolError> {
        let (_pending, permit) = self.permits()?;
        let stream = self.connector.connect().await.map_err(PoolError::Connect)?;
        Ok(ClientConn::new(Counted::new(stream, permit)))
    }

    /// The permits of a new connection: a pending-request one, held while it connects, and a
    /// connection one, held as long as it lives.
    fn permits(&self) -> Result<(Permit, Permit), PoolError> {
        let acquire = |limit| self.limits.try_acquire(limit).map_err(PoolError::Overflow);
        let pending = acquire(Limit::PendingRequests)?;
        let connection = acquire(Limit::Connections)?;
        Ok((pending, connection))
    }

    /// The most recently used idle connection that is still open, dropping the expired and
    /// the closed on the way.
    fn take_idle(&self) -> Option<ClientConn<Counted>> {
        let now = coarse::now();
        loop {
            let Idle { mut conn, since } = self.lock().pop_back()?;
            if now.saturating_sub(since) < self.idle_timeout && conn.is_reusable() {
                return Some(conn);
            }
        }
    }

    /// Takes back a connection whose exchange is complete, dropping first the idle connections
    /// that expired and, at [`MAX_IDLE`], the oldest; starts the pool's sweep if none runs.
    pub(crate) fn put(self: &Arc<Self>, conn: ClientConn<Counted>) {
        let now = coarse::now();
        {
            let mut idle = self.lock();
            while idle.front().is_some_and(|i| {
                now.saturating_sub(i.since) >= self.idle_timeout || idle.len() >= MAX_IDLE
            }) {
                idle.pop_front();
            }
            idle.push_back(Idle { conn, since: now });
        }
        // After the push, outside the lock: a sweep that found the queue empty cleared the
        // flag under the lock, so either it saw this connection or this sees the flag clear.
        // Read first: while a sweep runs (most of the time) a request writes nothing shared.
        if !self.sweeping.load(Ordering::Acquire) && !self.sweeping.swap(true, Ordering::AcqRel) {
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn(Self::sweep(Arc::downgrade(self)))),
                Err(_) => self.sweeping.store(false, Ordering::Release),
            }
        }
    }

    /// Closes the connections idle for the pool's idle timeout when they reach it, not when the
    /// pool is next used (an endpoint that gets no more requests would otherwise keep them
    /// open, and the upstream's socket with them). Sleeps until the oldest expires; ends when
    /// no connection is idle, or with the pool.
    async fn sweep(pool: Weak<Self>) {
        loop {
            let wait = {
                let Some(pool) = pool.upgrade() else {
                    return;
                };
                let now = coarse::now();
                let mut expired = Vec::new();
                let mut idle = pool.lock();
                while idle
                    .front()
                    .is_some_and(|i| now.saturating_sub(i.since) >= pool.idle_timeout)
                {
                    expired.extend(idle.pop_front());
                }
                let Some(oldest) = idle.front() else {
                    pool.sweeping.store(false, Ordering::Release);
                    return;
                };
                let wait = pool.idle_timeout - now.saturating_sub(oldest.since);
                drop(idle);
                // Closed outside the lock.
                drop(expired);
                wait
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        // The queue holds no invariant a panic could break; keep using it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
