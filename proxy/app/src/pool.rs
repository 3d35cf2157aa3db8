//! HTTP/1.1 connections to one endpoint, reused last-in first-out.
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
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Request, Response};
use rigging_proxy_http1::client::{ClientBody, ClientConn, ClientError, SendError};
use rigging_proxy_resilience::{Limit, Overflow, Permit};

use crate::body::RequestBody;
use crate::cluster::{ConnectError, EndpointConnector, Limits};

mod counted;

use counted::Counted;

/// Idle connections kept per endpoint: enough for a burst of concurrency to come
/// back to warm connections, bounded so a spike does not pin file descriptors until the idle
/// timeout.
const MAX_IDLE: usize = 256;
/// How long an idle connection is kept: shorter than the usual 60 s+ server idle timeouts, so
/// the proxy closes first and does not send on a connection the upstream is closing.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
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
    /// The circuit breaker refused a new connection or one more request waiting for one.
    #[error(transparent)]
    Overflow(Overflow),
}

/// The HTTP/1.1 connections of one endpoint.
#[derive(Debug)]
pub(crate) struct Http1Pool {
    connector: EndpointConnector,
    limits: Limits,
    idle: Mutex<VecDeque<Idle>>,
}

#[derive(Debug)]
struct Idle {
    conn: ClientConn<Counted>,
    since: Instant,
}

impl Http1Pool {
    pub(crate) fn new(connector: EndpointConnector, limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            connector,
            limits,
            idle: Mutex::new(VecDeque::new()),
        })
    }

    /// Sends `req` (origin-form URI, `Host` set) on an idle connection or a new one. A request
    /// that a pooled connection could not take (closed meanwhile) is sent again on another: it
    /// was never written, so this is safe for any method.
    ///
    /// Returns an `async` block rather than being an `async fn`, which would keep its arguments
    /// twice in every request's future.
    pub(crate) fn send(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> impl Future<Output = Result<Response<PooledBody>, PoolError>> + Send + use<> {
        let pool = Arc::clone(self);
        async move {
            loop {
                let (conn, fresh) = match pool.take_idle() {
                    Some(c) => (c, false),
                    // Boxed: a connect (TCP, maybe a TLS handshake) is large and, with a warm
                    // pool, rare; inline it would grow every request's future.
                    None => (Box::pin(pool.connect()).await?, true),
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
        loop {
            let Idle { mut conn, since } = self.lock().pop_back()?;
            if since.elapsed() < IDLE_TIMEOUT && conn.is_reusable() {
                return Some(conn);
            }
        }
    }

    /// Takes back a connection whose exchange is complete, dropping first the idle connections
    /// that expired and, at [`MAX_IDLE`], the oldest.
    pub(crate) fn put(&self, conn: ClientConn<Counted>) {
        let now = Instant::now();
        let mut idle = self.lock();
        while idle
            .front()
            .is_some_and(|i| now.duration_since(i.since) >= IDLE_TIMEOUT || idle.len() >= MAX_IDLE)
        {
            idle.pop_front();
        }
        idle.push_back(Idle { conn, since: now });
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        // The queue holds no invariant a panic could break; keep using it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}
