//! HTTP/1.1 connections to one endpoint, reused last-in first-out.
//!
//! hyper_util's general client keys its pool by scheme and authority behind a mutex, wraps
//! every checkout in futures and reformats the URI per request; with one pool per endpoint none
//! of that is needed (bench profile). A request takes the most recently used idle connection
//! (its buffers are warm), and gives it back when its response body ends.
//!
//! The cluster's circuit breaker bounds the pool: a new connection takes a `max_connections`
//! permit for its whole life. The pool never makes a request wait for a busy connection (it
//! opens a new one instead), so the requests Envoy calls pending are those waiting for a new
//! connection to be established: each holds a `max_pending_requests` permit while it connects.
//! A request beyond either limit fails at once with [`PoolError::Overflow`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rigging_proxy_resilience::{Limit, Overflow, Permit};

use crate::body::RequestBody;
use crate::cluster::{ConnectError, EndpointConnector, Limits};

/// Idle connections kept per endpoint: enough for a burst of concurrency to come back to warm
/// connections, bounded so a spike does not pin file descriptors forever.
const MAX_IDLE: usize = 256;
/// How long an idle connection is kept: shorter than the usual 60 s+ server idle timeouts, so
/// the proxy closes first and does not send on a connection the upstream is closing.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request did not get a response from the endpoint.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PoolError {
    #[error("connect failed")]
    Connect(#[source] ConnectError),
    #[error("upstream connection failed")]
    Http(#[source] hyper::Error),
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
    sender: SendRequest<RequestBody>,
    since: Instant,
}

/// A connection lent to one request; [`Lease::release`] gives it back once the response is
/// complete. Dropped without release (an error, a client gone mid-body), the connection closes.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<Http1Pool>,
    sender: SendRequest<RequestBody>,
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
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Lease), PoolError> {
        loop {
            let (mut sender, fresh) = match self.take_idle() {
                Some(s) => (s, false),
                // Boxed: connecting is rare on a warm pool, and its future would otherwise
                // make every request's future (moved at each await up the chain) larger.
                None => (Box::pin(self.connect_within_limits()).await?, true),
            };
            if !fresh && sender.ready().await.is_err() {
                continue;
            }
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    let lease = Lease {
                        pool: Arc::clone(self),
                        sender,
                    };
                    return Ok((resp, lease));
                }
                Err(mut e) => match e.take_message() {
                    Some(unsent) if !fresh => req = unsent,
                    _ => return Err(PoolError::Http(e.into_error())),
                },
            }
        }
    }

    /// Opens a connection, holding a pending-request permit while it connects and a connection
    /// permit as long as it lives.
    async fn connect_within_limits(&self) -> Result<SendRequest<RequestBody>, PoolError> {
        let acquire = |limit| self.limits.try_acquire(limit).map_err(PoolError::Overflow);
        let _pending = acquire(Limit::PendingRequests)?;
        let connection = acquire(Limit::Connections)?;
        self.connect(connection).await
    }

    async fn connect(&self, permit: Permit) -> Result<SendRequest<RequestBody>, PoolError> {
        let stream = self.connector.connect().await.map_err(PoolError::Connect)?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(PoolError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
            drop(permit);
        });
        Ok(sender)
    }

    fn take_idle(&self) -> Option<SendRequest<RequestBody>> {
        let mut idle = self.lock();
        while let Some(i) = idle.pop_back() {
            if !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT {
                return Some(i.sender);
            }
        }
        None
    }

    fn put(&self, sender: SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.lock();
        while idle
            .front()
            .is_some_and(|i| now.duration_since(i.since) >= IDLE_TIMEOUT || idle.len() >= MAX_IDLE)
        {
            idle.pop_front();
        }
        idle.push_back(Idle { sender, since: now });
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Idle>> {
        // The queue holds no invariant a panic could break; keep using it.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Lease {
    /// The response ended cleanly: the connection may carry the next request.
    pub(crate) fn release(self) {
        self.pool.put(self.sender);
    }
}
