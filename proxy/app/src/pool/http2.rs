//! One multiplexed HTTP/2 connection per endpoint, opened when a request first needs it and
//! again after it closed.
//!
//! A request opens its stream from its own task ([`rigging_proxy_h2::client`]); the
//! connection's task only reads and writes frames. The connection is given up (no new stream
//! goes on it; it closes once its streams are done) when the upstream closes it or sends
//! GOAWAY, or after [`IDLE_TIMEOUT`] to [`IDLE_TIMEOUT`] × 2 without a request.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};

use http::{Request, Response};
use rigging_proxy_h2::Body;
use rigging_proxy_h2::client::{ClientConfig, Connection, ResponseFuture, Sender};
use rigging_proxy_tls::MeshStream;

use super::{IDLE_TIMEOUT, PoolError};
use crate::body::RequestBody;
use crate::cluster::EndpointConnector;

/// The HTTP/2 client of one endpoint.
#[derive(Debug)]
pub(crate) struct Http2Pool {
    connector: EndpointConnector,
    config: ClientConfig,
    shared: Arc<Shared>,
    /// One connect at a time: the requests that arrive meanwhile wait and share its connection.
    connecting: tokio::sync::Mutex<()>,
}

/// What the connection's task sees of its pool: it holds it weakly, so that a pool dropped
/// (its endpoint gone from the configuration) drops its sender and lets the connection close.
#[derive(Debug, Default)]
struct Shared {
    current: Mutex<Option<Current>>,
    /// Requests sent, for the idle timeout: unchanged across a check means idle.
    sent: AtomicU64,
    /// The id of the next connection.
    next_id: AtomicU64,
}

/// [`Http2Pool::send`]'s future.
pub(crate) enum Http2Send {
    /// Sent on the current connection, which had room for it: waiting for the response.
    Sent(ResponseFuture),
    /// Connecting, or waiting for room on the connection, or sending on a new one after the
    /// current one turned out closed; or the error of a failed send.
    Slow(Pin<Box<dyn Future<Output = Result<Response<Body>, PoolError>> + Send>>),
}

impl Future for Http2Send {
    type Output = Result<Response<Body>, PoolError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Self::Sent(response) => Pin::new(response).poll(cx).map_err(PoolError::Http2),
            Self::Slow(slow) => slow.as_mut().poll(cx),
        }
    }
}

#[derive(Debug, Clone)]
struct Current {
    id: u64,
    sender: Sender,
}

impl Http2Pool {
    pub(crate) fn new(connector: EndpointConnector, config: ClientConfig) -> Arc<Self> {
        Arc::new(Self {
            connector,
            config,
            shared: Arc::default(),
            connecting: tokio::sync::Mutex::new(()),
        })
    }

    /// Sends `req` (absolute URI) on the endpoint's connection, opening one if there is none;
    /// the future gives the response's head. A connection found closed or going away before the
    /// request was sent is given up and the request sent on a new one: no frame of it went out.
    ///
    /// The usual case, a connection with room for one more stream, sends at once and awaits
    /// `h2`'s response future as is; the others are boxed (rare, and larger).
    pub(crate) fn send(self: &Arc<Self>, req: Request<RequestBody>) -> Http2Send {
        let req = match self.shared.try_send(req) {
            Ok(Ok(response)) => return Http2Send::Sent(response),
            Ok(Err(e)) => {
                return Http2Send::Slow(Box::pin(std::future::ready(Err(PoolError::Http2(e)))));
            }
            Err(req) => req,
        };
        let pool = Arc::clone(self);
        Http2Send::Slow(Box::pin(async move { pool.send_slow(req).await }))
    }

    async fn send_slow(&self, req: Request<RequestBody>) -> Result<Response<Body>, PoolError> {
        let Current { id, sender } = self.current().await?;
        let mut sender = match sender.ready().await {
            Ok(sender) => sender,
            Err(e) => {
                tracing::debug!(error = %e, "http/2 upstream connection closed; reconnecting");
                self.shared.retire(id);
                let current = self.current().await?;
                current.sender.ready().await.map_err(PoolError::Http2)?
            }
        };
        self.shared.sent.fetch_add(1, Ordering::Relaxed);
        let response = sender.send(req).map_err(PoolError::Http2)?;
        drop(sender);
        response.await.map_err(PoolError::Http2)
    }

    /// The connection to send on: the current one, else a new one.
    async fn current(&self) -> Result<Current, PoolError> {
        if let Some(c) = self.shared.get() {
            return Ok(c);
        }
        let _connecting = self.connecting.lock().await;
        if let Some(c) = self.shared.get() {
            return Ok(c);
        }
        let io = self.connector.connect().await.map_err(PoolError::Connect)?;
        let (sender, conn) = rigging_proxy_h2::client::handshake(io, &self.config)
            .await
            .map_err(PoolError::Handshake)?;
        let current = Current {
            id: self.shared.next_id.fetch_add(1, Ordering::Relaxed),
            sender,
        };
        *lock(&self.shared.current) = Some(current.clone());
        tokio::spawn(drive(conn, Arc::downgrade(&self.shared), current.id));
        Ok(current)
    }
}

impl Shared {
    fn get(&self) -> Option<Current> {
        lock(&self.current).clone()
    }

    /// Opens a stream for `req` on the current connection if it has room right now, with the
    /// slot's own sender (a clone and its drop would each lock the connection's state); gives
    /// the request back when there is no connection or it would have to wait.
    #[allow(
        clippy::result_large_err,
        reason = "the request comes back by value; boxing it would cost every request an allocation"
    )]
    fn try_send(
        &self,
        req: Request<RequestBody>,
    ) -> Result<Result<ResponseFuture, h2::Error>, Request<RequestBody>> {
        let mut current = lock(&self.current);
        let Some(Current { sender, .. }) = current.as_mut() else {
            return Err(req);
        };
        if !matches!(sender.try_ready(), Ok(true)) {
            return Err(req);
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        Ok(sender.send(req))
    }

    /// Sends no more requests on connection `id` (if it is still the current one).
    fn retire(&self, id: u64) {
        let mut current = lock(&self.current);
        if current.as_ref().is_some_and(|c| c.id == id) {
            *current = None;
        }
    }
}

fn lock(m: &Mutex<Option<Current>>) -> std::sync::MutexGuard<'_, Option<Current>> {
    // The slot holds a value whole or none: a panic elsewhere cannot leave it half-written.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The connection's task: its frames read and written until it closes; every
/// [`IDLE_TIMEOUT`], the connection is given up if no request was sent on it meanwhile.
async fn drive(conn: Connection<MeshStream>, shared: Weak<Shared>, id: u64) {
    let mut conn = pin!(conn);
    let mut seen = None;
    loop {
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(error = %e, "http/2 upstream connection failed");
                }
                break;
            }
            () = tokio::time::sleep(IDLE_TIMEOUT) => {
                let Some(shared) = shared.upgrade() else { continue };
                let sent = shared.sent.load(Ordering::Relaxed);
                if seen == Some(sent) {
                    shared.retire(id);
                }
                seen = Some(sent);
            }
        }
    }
    if let Some(shared) = shared.upgrade() {
        shared.retire(id);
    }
}
