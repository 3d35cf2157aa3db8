//! HTTP forwarding: route a request, apply the route's actions (fault injection, weighted
//! split, header mutations, prefix rewrite, hash policies, mirrors), then send it to an
//! endpoint of the cluster through the endpoint's pool, retrying as the route says.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use futures::FutureExt as _;
use http::header::{self, HeaderValue};
use http::uri::Authority;
use http::{Request, Response, Uri, Version};
use prometheus_client::metrics::counter::Counter;
use rigging_proxy_tls::XFCC;

use crate::body::{DownstreamBody, Held, ResponseBody};
use crate::cluster::ClusterState;
use crate::error::{ErrorKind, ForwardError, OVERLOADED_HEADER};
use crate::fault;
use crate::hash::request_hash;
use crate::headers::{is_upgrade, is_websocket, strip_hop_by_hop};
use crate::idle::IdleTimer;
use crate::mirror;
use crate::retry::{self, Outgoing, Upstreamed};
use crate::rewrite::PrefixRewrite;
use crate::routing::{Action, strip_port};
use crate::snapshot::Snapshot;
use crate::upgrade;

mod upstream;

pub(crate) use upstream::{Deadline, attempt};

/// The header naming why the proxy, not the upstream, produced a response.
const ERROR_HEADER: &str = "x-rigging-error";

/// What an HTTP listener's connections share.
#[derive(Debug)]
pub(crate) struct HttpContext {
    pub listener: String,
    pub route_config: String,
    /// Whether WebSocket upgrades are allowed on this listener.
    pub websocket: bool,
    /// Whether the listener has the fault filter: only then do routes' faults apply.
    pub fault_filter: bool,
    pub state: Arc<ArcSwap<Snapshot>>,
    pub metrics: ActionMetrics,
}

/// Counters of the route actions taken on one listener's requests.
#[derive(Debug, Clone, Default)]
pub(crate) struct ActionMetrics {
    /// Requests a fault delayed.
    pub fault_delays: Counter,
    /// Requests a fault aborted.
    pub fault_aborts: Counter,
    /// Retries sent.
    pub retries: Counter,
    /// Retries the cluster's retry budget refused.
    pub retry_budget_exhausted: Counter,
    /// Copies sent to mirror clusters.
    pub mirrors: Counter,
}

/// The service of every request on an HTTP listener; failures become responses.
///
/// `caller` is the `x-forwarded-client-cert` value of an mTLS connection: the header is removed
/// from every request (a caller cannot forge it) and set to this value when there is one.
/// `peer` is the downstream connection's address (the source IP hash policy).
pub(crate) fn handle(
    ctx: Arc<HttpContext>,
    caller: Option<HeaderValue>,
    peer: Option<SocketAddr>,
    mut req: Request<DownstreamBody>,
) -> impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send + use<> {
    let headers = req.headers_mut();
    match caller {
        Some(v) => {
            headers.insert(XFCC, v);
        }
        None => {
            headers.remove(XFCC);
        }
    }
    // `forward`'s future mapped, not awaited inside another one: no second copy of the request.
    // Boxed where it is made: the connections move the service's future on (HTTP/1.1 boxes it
    // in the exchange, HTTP/2 spawns it as a task), and each move of a future of some
    // kilobytes is a copy of all of it; a box moves as a pointer. Written into a box allocated
    // first: `Box::pin(forward(..))` built the future on the stack and then copied all of its
    // 2.4 KB into the box, where only the arguments needed writing (a uprobe on memmove).
    let slot = Box::new_uninit();
    Box::into_pin(Box::write(slot, forward(Arc::clone(&ctx), peer, req))).map(move |result| {
        Ok(match result {
            Ok(resp) => resp,
            Err(e) => error_response(&ctx, &e),
        })
    })
}

async fn forward(
    ctx: Arc<HttpContext>,
    peer: Option<SocketAddr>,
    mut req: Request<DownstreamBody>,
) -> Result<Response<ResponseBody>, ForwardError> {
    let action = route(&ctx, &req)?;
    if ctx.fault_filter
        && let Some(f) = &action.fault
    {
        fault::inject(f, &ctx.listener, &action.route, &ctx.metrics).await?;
    }
    let dest = action.destination();
    let cluster = dest.cluster.clone().ok_or_else(|| {
        ForwardError::new(
            ErrorKind::NoCluster,
            format!("cluster {:?} is not configured", dest.name),
        )
    })?;
    // The destination's mutations first, then the route's, as Envoy orders them.
    dest.request_headers.apply(req.headers_mut());
    action.request_headers.apply(req.headers_mut());
    if let Some(rewrite) = &action.prefix_rewrite {
        rewrite_path(&mut req, rewrite)?;
    }
    if is_allowed_upgrade(&ctx, &req)? {
        // Boxed: upgrades are rare, and their future would grow every request's.
        return Box::pin(upgrade::forward(&cluster, req)).await;
    }
    let hashed = request_hash(
        &action.hash_policies,
        req.headers(),
        req.uri(),
        peer.map(|p| p.ip()),
    );
    let permit = cluster.admit()?;
    let mirrors = mirror::chosen(&action.mirrors);
    let replay = action.retry.is_some() || !mirrors.is_empty();
    let idle = action.idle_timeout.map(IdleTimer::start);
    let mut outgoing = if Outgoing::buffers(&req, replay) {
        Outgoing::buffered(req).await?
    } else {
        Outgoing::streamed(req, idle.as_ref())
    };
    if let Some(idle) = &idle {
        // A buffered request body has just been read whole.
        idle.touch();
    }
    mirror::send(&mirrors, &outgoing, action.timeout, &ctx.metrics);
    // Lent, not given: the attempts take the request out of it where they send it, and it is
    // not copied into the retries' future on its way.
    let send = |outgoing| {
        retry::send(
            &cluster,
            outgoing,
            action.retry.as_ref(),
            action.timeout,
            hashed.hash,
            &ctx.metrics,
        )
    };
    // Made where it is awaited, not kept in a local first: a future of some kilobytes moved
    // from a local into the await is a copy of all of it. Awaited in place without an idle
    // timeout; the rarer race with the idle timer is boxed so that it does not double the
    // size of every request's future.
    let up = match idle.as_deref() {
        None => send(&mut outgoing).await?,
        Some(timer) => Box::pin(within_idle_timeout(timer, &cluster, send(&mut outgoing))).await?,
    };
    let mut resp = up.resp;
    let headers = resp.headers_mut();
    strip_hop_by_hop(headers, false);
    // The destination's mutations first, then the route's, as Envoy orders them.
    dest.response_headers.apply(headers);
    action.response_headers.apply(headers);
    if let Some(cookie) = hashed.set_cookie {
        headers.append(header::SET_COOKIE, cookie);
    }
    let held = Held {
        permit,
        active: up.active,
        retry: up.retry,
    };
    Ok(resp.map(|b| ResponseBody::upstream(b, Some(up.guard), Some(held), idle)))
}

/// Waits for the response headers, failing once the stream has been idle (no request body
/// bytes sent either) for the route's idle timeout.
async fn within_idle_timeout(
    idle: &IdleTimer,
    cluster: &ClusterState,
    sent: impl Future<Output = Result<Upstreamed, ForwardError>>,
) -> Result<Upstreamed, ForwardError> {
    tokio::select! {
        biased;
        up = sent => up,
        () = idle.expired() => Err(ForwardError::new(
            ErrorKind::IdleTimeout,
            format!(
                "cluster {:?}: no response headers, and no request bytes sent, within the route's idle timeout of {:?}",
                cluster.name,
                idle.limit()
            ),
        )),
    }
}

/// Whether the request is an HTTP/1.1 upgrade the listener allows (WebSocket where enabled);
/// an error for an upgrade it does not allow.
fn is_allowed_upgrade<B>(ctx: &HttpContext, req: &Request<B>) -> Result<bool, ForwardError> {
    if req.version() > Version::HTTP_11 || !is_upgrade(req.headers()) {
        return Ok(false);
    }
    if ctx.websocket && is_websocket(req.headers()) {
        return Ok(true);
    }
    let what = req.headers().get(header::UPGRADE).cloned();
    Err(ForwardError::new(
        ErrorKind::UpgradeRefused,
        format!(
            "upgrade to {what:?} is not enabled on listener {:?}",
            ctx.listener
        ),
    ))
}

/// Replaces the route's matched prefix in the request's path (query kept).
fn rewrite_path<B>(req: &mut Request<B>, rewrite: &PrefixRewrite) -> Result<(), ForwardError> {
    let Some(pq) = req.uri().path_and_query() else {
        return Ok(());
    };
    let Some(rewritten) = rewrite.apply(pq) else {
        return Ok(());
    };
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    parts.path_and_query = Some(rewritten);
    *req.uri_mut() = Uri::from_parts(parts).map_err(|e| {
        ForwardError::new(
            ErrorKind::BadRequest,
            "the rewritten path is not a valid request target",
        )
        .with_cause(e)
    })?;
    Ok(())
}

/// Finds the action of the request's route. The snapshot guard is dropped before returning: the
/// request keeps only the action (and, through it, its clusters).
fn route<B>(ctx: &HttpContext, req: &Request<B>) -> Result<Arc<Action>, ForwardError> {
    let snapshot = ctx.state.load();
    let table = snapshot.routes.get(&ctx.route_config).ok_or_else(|| {
        ForwardError::new(
            ErrorKind::NoRouteConfig,
            format!(
                "route configuration {:?} is not configured",
                ctx.route_config
            ),
        )
    })?;
    let host = req
        .uri()
        .authority()
        .map(Authority::as_str)
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .map_or("", strip_port);
    let path = req.uri().path();
    let entry = table.find(host, req).ok_or_else(|| {
        ForwardError::new(
            ErrorKind::NoRoute,
            format!(
                "no route for host {host:?} path {path:?} in {:?}",
                ctx.route_config
            ),
        )
    })?;
    Ok(Arc::clone(&entry.action))
}

pub(crate) fn no_healthy_upstream(cluster: &ClusterState) -> ForwardError {
    ForwardError::new(
        ErrorKind::NoHealthyUpstream,
        format!(
            "cluster {:?} has no serving endpoint ({} configured)",
            cluster.name,
            cluster.balancer.endpoints().len()
        ),
    )
}

fn error_response(ctx: &HttpContext, e: &ForwardError) -> Response<ResponseBody> {
    let kind = e.kind();
    match kind {
        ErrorKind::NoRoute
        | ErrorKind::BadRequest
        | ErrorKind::UpgradeRefused
        | ErrorKind::FaultAbort => {
            tracing::debug!(listener = %ctx.listener, reason = kind.code(), error = %e, "request not forwarded");
        }
        _ => {
            tracing::warn!(listener = %ctx.listener, reason = kind.code(), error = %e, cause = ?std::error::Error::source(e), "request not forwarded");
        }
    }
    if let Some(code) = e.grpc_status() {
        return grpc_error_response(kind, code);
    }
    let mut resp = Response::new(ResponseBody::local(format!(
        "{}: {}\n",
        kind.code(),
        e.detail()
    )));
    *resp.status_mut() = e.status();
    let headers = resp.headers_mut();
    headers.insert(ERROR_HEADER, HeaderValue::from_static(kind.code()));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if kind == ErrorKind::Overflow {
        headers.insert(OVERLOADED_HEADER, HeaderValue::from_static("true"));
    }
    resp
}

/// A gRPC trailers-only answer: HTTP 200, `content-type: application/grpc`, the status in the
/// headers and no body.
fn grpc_error_response(kind: ErrorKind, code: u32) -> Response<ResponseBody> {
    let mut resp = Response::new(ResponseBody::Local(None));
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(code));
    headers.insert("grpc-message", HeaderValue::from_static(kind.code()));
    headers.insert(ERROR_HEADER, HeaderValue::from_static(kind.code()));
    resp
}
