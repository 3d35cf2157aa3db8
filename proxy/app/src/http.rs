//! HTTP forwarding: route a request, pick an endpoint, stream it through the endpoint's pool.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use hyper::body::Incoming;
use rigging_proxy_config::UpstreamProtocol;
use rigging_proxy_tls::XFCC;

use crate::body::ResponseBody;
use crate::cluster::{ClusterState, Upstream, UpstreamClient};
use crate::error::{BoxError, ErrorKind, ForwardError};
use crate::headers::{is_upgrade, is_websocket, strip_hop_by_hop};
use crate::pool::{Lease, PoolError};
use crate::routing::strip_port;
use crate::snapshot::Snapshot;
use crate::upgrade;

/// The header naming why the proxy, not the upstream, produced a response.
const ERROR_HEADER: &str = "x-rigging-error";

/// What an HTTP listener's connections share.
#[derive(Debug)]
pub(crate) struct HttpContext {
    pub listener: String,
    pub route_config: String,
    /// Whether WebSocket upgrades are allowed on this listener.
    pub websocket: bool,
    pub state: Arc<ArcSwap<Snapshot>>,
}

/// The service of every request on an HTTP listener; failures become responses.
///
/// `caller` is the `x-forwarded-client-cert` value of an mTLS connection: the header is removed
/// from every request (a caller cannot forge it) and set to this value when there is one.
pub(crate) async fn handle(
    ctx: Arc<HttpContext>,
    caller: Option<HeaderValue>,
    mut req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let headers = req.headers_mut();
    match caller {
        Some(v) => {
            headers.insert(XFCC, v);
        }
        None => {
            headers.remove(XFCC);
        }
    }
    Ok(match forward(&ctx, req).await {
        Ok(resp) => resp,
        Err(e) => error_response(&ctx, &e),
    })
}

async fn forward(
    ctx: &HttpContext,
    mut req: Request<Incoming>,
) -> Result<Response<ResponseBody>, ForwardError> {
    let (cluster, timeout) = route(ctx, &req)?;
    if req.version() <= Version::HTTP_11 && is_upgrade(req.headers()) {
        if !(ctx.websocket && is_websocket(req.headers())) {
            let what = req.headers().get(header::UPGRADE).cloned();
            return Err(ForwardError::new(
                ErrorKind::UpgradeRefused,
                format!(
                    "upgrade to {what:?} is not enabled on listener {:?}",
                    ctx.listener
                ),
            ));
        }
        return upgrade::forward(&cluster, req).await;
    }
    let pick = cluster
        .balancer
        .pick()
        .ok_or_else(|| no_healthy_upstream(&cluster))?;
    prepare(&mut req, &pick.endpoint.authority, cluster.protocol)?;
    let start = Instant::now();
    let result = send(&cluster, pick.endpoint, req, timeout).await;
    cluster.metrics.request(
        result
            .as_ref()
            .map_or_else(|e| e.kind().status(), |(r, _)| r.status()),
        start.elapsed(),
    );
    let (mut resp, lease) = result?;
    strip_hop_by_hop(resp.headers_mut(), false);
    Ok(resp.map(|b| ResponseBody::upstream(b, Some(pick.guard)).with_lease(lease)))
}

/// Sends the request through the endpoint's pool, waiting at most `timeout` for the response
/// headers. HTTP/1.1 responses come with the lease of their connection, given back to the pool
/// when the body ends.
async fn send(
    cluster: &ClusterState,
    endpoint: &Upstream,
    req: Request<Incoming>,
    timeout: Option<Duration>,
) -> Result<(Response<Incoming>, Option<Lease>), ForwardError> {
    let sent = async {
        match &endpoint.client {
            UpstreamClient::Http1(pool) => pool
                .send(req)
                .await
                .map(|(resp, lease)| (resp, Some(lease)))
                .map_err(|e| {
                    if let PoolError::Connect(c) = &e
                        && c.is_tls()
                    {
                        cluster.metrics.tls_failures.inc();
                    }
                    let connect = matches!(e, PoolError::Connect(_));
                    (connect, BoxError::from(e))
                }),
            UpstreamClient::Http2(client) => client
                .request(req)
                .await
                .map(|resp| (resp, None))
                .map_err(|e| (e.is_connect(), BoxError::from(e))),
        }
    };
    let result = match timeout {
        Some(t) => tokio::time::timeout(t, sent).await.map_err(|_| {
            ForwardError::new(
                ErrorKind::UpstreamTimeout,
                format!(
                    "cluster {:?}: endpoint {} sent no response headers within {t:?}",
                    cluster.name, endpoint.addr
                ),
            )
        })?,
        None => sent.await,
    };
    result.map_err(|(connect, e)| {
        let kind = if connect {
            cluster.metrics.connect_failures.inc();
            ErrorKind::ConnectFailed
        } else {
            ErrorKind::UpstreamReset
        };
        let detail = format!("cluster {:?}: endpoint {}", cluster.name, endpoint.addr);
        ForwardError::new(kind, detail).with_cause(e)
    })
}

/// Finds the cluster and timeout of the request's route. The snapshot guard is dropped before
/// returning: the request keeps only its cluster.
fn route(
    ctx: &HttpContext,
    req: &Request<Incoming>,
) -> Result<(Arc<ClusterState>, Option<Duration>), ForwardError> {
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
    let entry = table.find(host, path).ok_or_else(|| {
        ForwardError::new(
            ErrorKind::NoRoute,
            format!(
                "no route for host {host:?} path {path:?} in {:?}",
                ctx.route_config
            ),
        )
    })?;
    let cluster = entry.cluster.clone().ok_or_else(|| {
        ForwardError::new(
            ErrorKind::NoCluster,
            format!("cluster {:?} is not configured", entry.cluster_name),
        )
    })?;
    Ok((cluster, entry.timeout))
}

/// Rewrites the request for the upstream hop: absolute URI for the pooled client, the HTTP
/// version of the cluster, the host kept (in `Host` for HTTP/1.1, in `:authority` for HTTP/2).
fn prepare(
    req: &mut Request<Incoming>,
    endpoint: &Authority,
    protocol: UpstreamProtocol,
) -> Result<(), ForwardError> {
    strip_hop_by_hop(req.headers_mut(), false);
    let mut parts = std::mem::take(req.uri_mut()).into_parts();
    let downstream_authority = parts.authority.take();
    let authority = match protocol {
        UpstreamProtocol::Http1 => {
            *req.version_mut() = Version::HTTP_11;
            if let Some(a) = &downstream_authority
                && !req.headers().contains_key(header::HOST)
            {
                let host = HeaderValue::from_str(a.as_str()).map_err(bad_request)?;
                req.headers_mut().insert(header::HOST, host);
            }
            // The connection is the endpoint's whatever the URI says; the `Host` header carries
            // the name.
            endpoint.clone()
        }
        UpstreamProtocol::Http2 => {
            *req.version_mut() = Version::HTTP_2;
            let host = req.headers_mut().remove(header::HOST);
            match (downstream_authority, host) {
                (Some(a), _) => a,
                (None, Some(h)) => Authority::try_from(h.as_bytes()).map_err(bad_request)?,
                (None, None) => endpoint.clone(),
            }
        }
    };
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(PathAndQuery::from_static("/"));
    }
    match protocol {
        // Our HTTP/1.1 pool writes the URI as is: origin-form, the host is in `Host`.
        UpstreamProtocol::Http1 => {
            parts.scheme = None;
            parts.authority = None;
        }
        // hyper_util's HTTP/2 client takes `:scheme` and `:authority` from the URI.
        UpstreamProtocol::Http2 => {
            parts.scheme = Some(Scheme::HTTP);
            parts.authority = Some(authority);
        }
    }
    *req.uri_mut() = Uri::from_parts(parts).map_err(bad_request)?;
    Ok(())
}

fn bad_request(e: impl Into<BoxError>) -> ForwardError {
    ForwardError::new(
        ErrorKind::BadRequest,
        "the request's host is not a valid authority",
    )
    .with_cause(e)
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
        ErrorKind::NoRoute | ErrorKind::BadRequest | ErrorKind::UpgradeRefused => {
            tracing::debug!(listener = %ctx.listener, reason = kind.code(), error = %e, "request not forwarded");
        }
        _ => {
            tracing::warn!(listener = %ctx.listener, reason = kind.code(), error = %e, cause = ?std::error::Error::source(e), "request not forwarded");
        }
    }
    let mut resp = Response::new(ResponseBody::local(format!(
        "{}: {}\n",
        kind.code(),
        e.detail()
    )));
    *resp.status_mut() = kind.status();
    let headers = resp.headers_mut();
    headers.insert(ERROR_HEADER, HeaderValue::from_static(kind.code()));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
