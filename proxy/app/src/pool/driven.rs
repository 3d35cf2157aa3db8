//! hyper's HTTP/1.1 client connections to the same endpoint, each driven by a task of its own,
//! for requests that arrived over HTTP/2.
//!
//! On the pool's own connections a request's task reads its response. Behind hyper's HTTP/2
//! server that task is the stream's, woken straight from the upstream socket, and h2c
//! throughput fell by a fifth in the bench (31,229 → 25,524 req/s, 64 streams on 8
//! connections). The profile put the extra time in the kernel's loopback writes (the wake-ups
//! of `sock_def_readable` under `writev`: 10 % of the proxy's time against 6 % with hyper's
//! client), which reads as the HTTP/2 connection writing its responses in smaller batches.
//! With a connection task reading the response apart from the stream, as on main, h2c is back
//! at main's rate. HTTP/1.1 downstream has one request per connection at a time and nothing to
//! batch: it keeps the lean connections, which cost nothing but their socket while idle.

use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;

use super::{Http1Pool, IDLE_TIMEOUT, PoolError, lock, push};
use crate::body::RequestBody;

/// A connection lent to one request; [`Lease::release`] gives it back once the response is
/// complete. Dropped without release (an error, a client gone mid-body), the connection closes.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: Arc<Http1Pool>,
    sender: SendRequest<RequestBody>,
}

/// An idle connection with its connection task.
#[derive(Debug)]
pub(super) struct Idle {
    sender: SendRequest<RequestBody>,
    since: Instant,
}

impl Http1Pool {
    /// Sends `req` (origin-form URI, `Host` set) on an idle driven connection or a new one. A
    /// request that a pooled connection could not take (closed meanwhile) is sent again on
    /// another: it was never written, so this is safe for any method.
    pub(crate) async fn send_driven(
        self: &Arc<Self>,
        mut req: Request<RequestBody>,
    ) -> Result<(Response<Incoming>, Lease), PoolError> {
        loop {
            let (mut sender, fresh) = match self.take_driven() {
                Some(s) => (s, false),
                // Boxed: a connect is large and, with a warm pool, rare.
                None => (Box::pin(self.connect_driven()).await?, true),
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
                    _ => return Err(PoolError::Driven(e.into_error())),
                },
            }
        }
    }

    /// Opens a connection, holding a pending-request permit while it connects and a connection
    /// permit as long as its task runs.
    async fn connect_driven(&self) -> Result<SendRequest<RequestBody>, PoolError> {
        let (_pending, permit) = self.permits()?;
        let stream = self.connector.connect().await.map_err(PoolError::Connect)?;
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(PoolError::Driven)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
            drop(permit);
        });
        Ok(sender)
    }

    fn take_driven(&self) -> Option<SendRequest<RequestBody>> {
        let mut idle = lock(&self.driven);
        while let Some(i) = idle.pop_back() {
            if !i.sender.is_closed() && i.since.elapsed() < IDLE_TIMEOUT {
                return Some(i.sender);
            }
        }
        None
    }

    fn put_driven(&self, sender: SendRequest<RequestBody>) {
        if sender.is_closed() {
            return;
        }
        let now = Instant::now();
        push(&self.driven, Idle { sender, since: now }, now, |i| i.since);
    }
}

impl Lease {
    /// The response ended cleanly: the connection may carry the next request.
    pub(crate) fn release(self) {
        self.pool.put_driven(self.sender);
    }
}
