//! Listeners: binding (before a configuration is committed), accept loops, draining.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ::http::HeaderValue;
use arc_swap::ArcSwap;
use rigging_proxy_config::{InboundTlsMode, Listener, ListenerKind, TlsClients};
use rigging_proxy_sds::SdsCertificate;
use rigging_proxy_tls::{
    HANDSHAKE_TIMEOUT, MeshStream, MeshTls, SNIFF_TIMEOUT, Sniffed, sniff, xfcc_value,
};
use socket2::{Domain, Socket, Type};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio_rustls::TlsAcceptor;

use crate::drain::{Drain, Draining};
use crate::error::ApplyError;
use crate::http::HttpContext;
use crate::metrics::{ListenerMetrics, Metrics};
use crate::snapshot::Snapshot;
use crate::tcp::{self, Target, TcpContext};

mod connection;
mod tls;

pub(crate) use tls::CertSources;

/// Pending connections the kernel queues per listener: above the 128 default so a burst of
/// new connections (a load test, a client pool warming up) is not refused.
const LISTEN_BACKLOG: i32 = 1024;
/// Pause after a failed accept (out of file descriptors, mostly) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// How every HTTP listener serves the connections that open with the HTTP/2 preface
/// (`rigging-proxy-h2`); HTTP/1.1 on the same port is served by `rigging-proxy-http1`.
pub(crate) type HttpServer = rigging_proxy_h2::Config;

/// A listener that is accepting connections.
#[derive(Debug)]
pub(crate) struct RunningListener {
    pub def: Listener,
    pub local_addr: SocketAddr,
    socket: Arc<TcpListener>,
    /// Fired (or dropped) to stop accepting and drain the listener's HTTP connections.
    drain: Drain,
    /// The SDS certificates its TLS serves: it cannot serve before they arrived.
    sds: Vec<SdsCertificate>,
    started: Instant,
}

/// How long a listener's SDS certificates may hold the proxy's first readiness back: Envoy's
/// default `initial_fetch_timeout`.
const SDS_INITIAL_FETCH_TIMEOUT: Duration = Duration::from_secs(15);

impl RunningListener {
    /// Whether every certificate it serves from SDS has arrived, or it waited for them long
    /// enough (Envoy's initial fetch timeout; a missing secret is then the SDS server's to
    /// fix, and the listener's handshakes fail meanwhile).
    pub fn certificates_ready(&self) -> bool {
        self.sds.iter().all(SdsCertificate::ready)
            || self.started.elapsed() >= SDS_INITIAL_FETCH_TIMEOUT
    }
}

/// What an update does to the listeners, prepared (sockets bound) before anything changes.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    start: Vec<(Listener, Arc<TcpListener>, Option<InboundTls>)>,
    stop: Vec<String>,
}

/// How an mTLS listener secures its connections.
#[derive(Clone)]
struct InboundTls {
    mode: InboundTlsMode,
    acceptor: TlsAcceptor,
    /// Our identity, for the `By` element of the caller header.
    own_id: Option<rigging_proxy_tls::SpiffeId>,
    /// The SDS certificates it serves.
    sds: Vec<SdsCertificate>,
    /// Clients outside the mesh (an ingress gateway's TLS), not mesh peers.
    public: bool,
}

impl std::fmt::Debug for InboundTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundTls")
            .field("mode", &self.mode)
            .field("own_id", &self.own_id)
            .finish_non_exhaustive()
    }
}

/// Everything an accept loop needs besides its socket.
#[derive(Debug, Clone)]
pub(crate) struct Env {
    pub state: Arc<ArcSwap<Snapshot>>,
    pub server: Arc<HttpServer>,
    pub tracker: Arc<ConnectionTracker>,
}

/// Counts open downstream connections so a shutdown can wait for them.
#[derive(Debug, Default)]
pub(crate) struct ConnectionTracker {
    active: AtomicUsize,
    idle: Notify,
}

/// Held by each connection task; updates the tracker and the listener's gauge.
struct ConnectionGuard {
    tracker: Arc<ConnectionTracker>,
    active: prometheus_client::metrics::gauge::Gauge,
}

/// Binds what `next` needs and is not bound yet, and builds the TLS configs of its mTLS
/// listeners. Nothing changes on error: the sockets bound so far are closed when the plan is
/// dropped.
pub(crate) fn plan(
    running: &HashMap<String, RunningListener>,
    next: &BTreeMap<String, Listener>,
    sources: CertSources<'_>,
) -> Result<Plan, ApplyError> {
    let mut plan = Plan::default();
    let mut seen: HashMap<SocketAddr, &str> = HashMap::new();
    for (name, def) in next {
        if def.addr.port() != 0
            && let Some(other) = seen.insert(def.addr, name)
        {
            return Err(ApplyError::Bind {
                listener: name.clone(),
                addr: def.addr,
                source: std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("address also used by listener {other:?}"),
                ),
            });
        }
        let current = running.get(name);
        if current.is_some_and(|r| r.def == *def) {
            continue;
        }
        // A changed listener on the same address (or a renamed one) keeps its socket, so the
        // port is never closed in between.
        let reusable = running
            .values()
            .find(|r| {
                def.addr.port() != 0
                    && r.def.addr == def.addr
                    && !next.get(&r.def.name).is_some_and(|n| *n == r.def)
            })
            .map(|r| Arc::clone(&r.socket));
        let tls = match &def.tls {
            None => None,
            Some(t) => {
                let (config, sds) = tls::server_config(name, t, sources)?;
                Some(InboundTls {
                    mode: t.mode,
                    acceptor: TlsAcceptor::from(config),
                    own_id: sources.mesh.and_then(MeshTls::identity),
                    sds,
                    public: matches!(t.clients, TlsClients::Public(_)),
                })
            }
        };
        let socket = match reusable {
            Some(s) => s,
            None => bind(name, def.addr)?,
        };
        plan.start.push((def.clone(), socket, tls));
    }
    for (name, r) in running {
        if next.get(name) != Some(&r.def) {
            plan.stop.push(name.clone());
        }
    }
    Ok(plan)
}

/// Applies a prepared plan: stops what goes, starts what comes.
pub(crate) fn commit(
    plan: Plan,
    running: &mut HashMap<String, RunningListener>,
    env: &Env,
    metrics: &Metrics,
) {
    for name in plan.stop {
        if let Some(r) = running.remove(&name) {
            tracing::info!(listener = %name, addr = %r.local_addr, "listener stopped; draining its connections");
            r.drain.fire();
        }
    }
    for (def, socket, tls) in plan.start {
        let sds = tls.as_ref().map(|t| t.sds.clone()).unwrap_or_default();
        let local_addr = socket.local_addr().unwrap_or(def.addr);
        let (drain, draining) = Drain::new();
        let listener_metrics = metrics.listener(&def.name);
        let handler = match &def.kind {
            ListenerKind::Http {
                route_config,
                websocket,
                fault_filter,
            } => Handler::Http(Arc::new(HttpContext {
                listener: def.name.clone(),
                route_config: route_config.clone(),
                websocket: *websocket,
                fault_filter: *fault_filter,
                state: Arc::clone(&env.state),
                metrics: metrics.actions(&def.name),
            })),
            ListenerKind::Tcp { cluster } => Handler::Tcp(Arc::new(TcpContext {
                listener: def.name.clone(),
                target: Target::Cluster(cluster.clone()),
                state: Arc::clone(&env.state),
                metrics: listener_metrics.clone(),
            })),
            ListenerKind::Sni { routes } => Handler::Tcp(Arc::new(TcpContext {
                listener: def.name.clone(),
                target: Target::Sni(
                    routes
                        .iter()
                        .flat_map(|r| {
                            r.server_names
                                .iter()
                                .map(|n| (n.clone(), r.cluster.clone()))
                        })
                        .collect(),
                ),
                state: Arc::clone(&env.state),
                metrics: listener_metrics.clone(),
            })),
        };
        tracing::info!(listener = %def.name, addr = %local_addr, "listener started");
        tokio::spawn(accept_loop(
            Arc::clone(&socket),
            handler,
            tls,
            env.clone(),
            listener_metrics,
            draining,
        ));
        running.insert(
            def.name.clone(),
            RunningListener {
                def,
                local_addr,
                socket,
                drain,
                sds,
                started: Instant::now(),
            },
        );
    }
}

/// Stops every listener and drains their connections.
pub(crate) fn drain_all(running: &mut HashMap<String, RunningListener>) {
    for (_, r) in running.drain() {
        r.drain.fire();
    }
}

fn bind(name: &str, addr: SocketAddr) -> Result<Arc<TcpListener>, ApplyError> {
    let err = |source| ApplyError::Bind {
        listener: name.to_owned(),
        addr,
        source,
    };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    let listener = TcpListener::from_std(socket.into()).map_err(err)?;
    Ok(Arc::new(listener))
}

#[derive(Debug, Clone)]
enum Handler {
    Http(Arc<HttpContext>),
    Tcp(Arc<TcpContext>),
}

async fn accept_loop(
    socket: Arc<TcpListener>,
    handler: Handler,
    tls: Option<InboundTls>,
    env: Env,
    metrics: ListenerMetrics,
    drain: Draining,
) {
    // Shared by the connections, so each task holds a pointer rather than the TLS settings.
    let tls = tls.map(|t| Arc::new((t, metrics.clone())));
    loop {
        let accepted = tokio::select! {
            biased;
            () = drain.fired() => return,
            accepted = socket.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        metrics.connections_total.inc();
        let guard = ConnectionGuard::new(&env.tracker, &metrics);
        // One task per connection, spawned per kind so an HTTP connection's task is sized for
        // HTTP alone (an idle keep-alive connection is mostly this task).
        match &handler {
            Handler::Http(ctx) => {
                let conn = connection::http_connection(
                    stream,
                    tls.clone(),
                    peer,
                    Arc::clone(ctx),
                    Arc::clone(&env.server),
                    drain.clone(),
                    guard,
                );
                tokio::spawn(conn);
            }
            Handler::Tcp(ctx) => {
                let ctx = Arc::clone(ctx);
                let tls = tls.clone();
                tokio::spawn(async move {
                    let Some((stream, _)) = accept(stream, tls, &ctx.listener).await else {
                        return;
                    };
                    tcp::serve(ctx, stream).await;
                    drop(guard);
                });
            }
        }
    }
}

/// The stream to serve: the plain connection, or (on an mTLS listener) the result of
/// [`secure`], boxed since a handshake's state is large and only needed until it is done.
async fn accept(
    stream: TcpStream,
    tls: Option<Arc<(InboundTls, ListenerMetrics)>>,
    listener: &str,
) -> Option<(MeshStream, Option<HeaderValue>)> {
    match tls.as_deref() {
        None => Some((MeshStream::Plain(stream), None)),
        Some((tls, metrics)) => Box::pin(secure(stream, tls, listener, metrics)).await,
    }
}

/// Terminates mTLS on a connection of an mTLS listener (strict: always; permissive: when it
/// opens with a ClientHello). Returns the stream to serve and, for HTTP, the caller header
/// value; `None` when the connection must be closed (a failed handshake), which is logged
/// with the reason and counted. Nothing of a refused connection reaches the application.
async fn secure(
    stream: TcpStream,
    tls: &InboundTls,
    listener: &str,
    metrics: &ListenerMetrics,
) -> Option<(MeshStream, Option<HeaderValue>)> {
    let peer_addr = stream.peer_addr().ok();
    // Strict ports peek too, so that a plaintext client is refused with a clear reason
    // rather than a TLS parse error; permissive ports serve it.
    let wait = match tls.mode {
        InboundTlsMode::Strict => HANDSHAKE_TIMEOUT,
        InboundTlsMode::Permissive => SNIFF_TIMEOUT,
    };
    match (sniff(&stream, wait).await, tls.mode) {
        (Ok(Sniffed::Tls), _) => {}
        (Ok(Sniffed::Plaintext), InboundTlsMode::Permissive) => {
            metrics.plaintext_connections.inc();
            return Some((MeshStream::Plain(stream), None));
        }
        (Ok(Sniffed::Plaintext), InboundTlsMode::Strict) => {
            metrics.handshake_failures.inc();
            tracing::warn!(%listener, peer = ?peer_addr, reason = "plaintext_on_strict_port", "plaintext connection to an mTLS-only (strict) port; connection closed");
            return None;
        }
        (Ok(Sniffed::Closed), _) => return None,
        (Err(e), _) => {
            tracing::debug!(%listener, peer = ?peer_addr, error = %e, "connection failed before its first byte");
            return None;
        }
    }
    let handshake = tls.acceptor.accept(stream);
    let result = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("no handshake within {HANDSHAKE_TIMEOUT:?}"),
        )),
    };
    match result {
        Ok(s) => {
            let stream = MeshStream::Server(Box::new(s));
            let caller = stream
                .peer_id()
                .and_then(|peer| xfcc_value(tls.own_id.as_ref(), &peer));
            Some((stream, caller))
        }
        Err(e) => {
            metrics.handshake_failures.inc();
            // A public port meets scanners and old clients all day: counted, logged at debug.
            if tls.public {
                tracing::debug!(%listener, peer = ?peer_addr, reason = "handshake_failed", error = %e, "TLS handshake refused or failed; connection closed");
            } else {
                tracing::warn!(%listener, peer = ?peer_addr, reason = "handshake_failed", error = %e, cause = ?std::error::Error::source(&e), "TLS handshake refused or failed; connection closed");
            }
            None
        }
    }
}

/// Resolves once the signal is set (or its sender is gone). Returns `()` so no borrow of the
/// channel lives across later awaits.
pub(crate) async fn drained(signal: &mut watch::Receiver<bool>) {
    let _ = signal.wait_for(|d| *d).await;
}

impl ConnectionTracker {
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// Waits until no connection is open.
    pub async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.active() == 0 {
                return;
            }
            notified.await;
        }
    }
}

impl ConnectionGuard {
    fn new(tracker: &Arc<ConnectionTracker>, metrics: &ListenerMetrics) -> Self {
        tracker.active.fetch_add(1, Ordering::AcqRel);
        metrics.connections_active.inc();
        Self {
            tracker: Arc::clone(tracker),
            active: metrics.connections_active.clone(),
        }
    }
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.active.dec();
        if self.tracker.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker.idle.notify_waiters();
        }
    }
}
