//! The upstream side of a forwarded request: rewrite it for the endpoint's protocol, send it
//! through the endpoint's pool or HTTP/2 client, and wait for the response headers until the
//! attempt's deadline.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
use futures::future::Either;
use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri, Version};
use rigging_proxy_config::UpstreamProtocol;
use tokio::time::Instant;

use crate::body::{RequestBody, UpstreamBody};
use crate::cluster::{ClusterState, Upstream, UpstreamClient};
use crate::error::{BoxError, ErrorKind, ForwardError};
use crate::headers::strip_hop_by_hop;
use crate::pool::PoolError;

/// Whether an HTTP/2 upstream reset the stream with `REFUSED_STREAM`: it did not process the
/// request, so sending it again is safe whatever the method.
fn is_refused_stream(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if let Some(h2) = err.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        next = err.source();
    }
    false
}

/// When an attempt stops waiting for the response headers, and the timeout that set it (for
/// the error). Made from a clock reading the caller already has: the request's one reading
/// serves its deadline, its first attempt's timer and its latency metric.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    pub at: Instant,
    pub timeout: Duration,
}

impl Deadline {
    pub(crate) fn after(start: Instant, timeout: Duration) -> Self {
        Self {
            at: start + timeout,
            timeout,
        }
    }
}

/// One attempt: rewrites `req` for `endpoint` of `cluster` and sends it, waiting for the
/// response headers until `deadline`.
///
/// Not an `async fn`: the request is prepared at once and `send`'s future returned as is, so
/// that no extra layer wraps it (every layer's whole size is copied at each `.await` above).
pub(crate) fn attempt<'a>(
    cluster: &'a ClusterState,
    endpoint: &'a Upstream,
    mut req: Request<RequestBody>,
    deadline: Option<Deadline>,
) -> impl Future<Output = Result<Response<UpstreamBody>, ForwardError>> + 'a {
    match prepare(&mut req, &endpoint.authority, cluster.protocol) {
        Ok(()) => Either::Left(send(cluster, endpoint, req, deadline)),
        Err(e) => Either::Right(std::future::ready(Err(e))),
    }
}

/// Sends the request through the endpoint's pool, waiting for the response headers until
/// `deadline`. HTTP/1.1 response bodies give their connection back to the pool when they end.
///
/// The exchange is started here and the `async` block only awaits it (it is `Unpin`, so by
/// reference): made inside the block, the block would hold the request as well as the
/// exchange holding it, and each layer above copies the whole of it when it moves.
fn send<'a>(
    cluster: &'a ClusterState,
    endpoint: &'a Upstream,
    req: Request<RequestBody>,
    deadline: Option<Deadline>,
) -> impl Future<Output = Result<Response<UpstreamBody>, ForwardError>> + 'a {
    let pool_failure = move |e: PoolError| {
        if let PoolError::Connect(c) = &e
            && c.is_tls()
        {
            cluster.metrics.tls_failures.inc();
        }
        let connect = matches!(e, PoolError::Connect(_) | PoolError::Handshake(_));
        (connect, BoxError::from(e))
    };
    let mut sent = match &endpoint.client {
        UpstreamClient::Http1(pool) => Either::Left(pool.send(req).map(move |r| {
            r.map(|resp| resp.map(|b| UpstreamBody::pooled(b, Arc::clone(pool))))
                .map_err(pool_failure)
        })),
        UpstreamClient::Http2(pool) => Either::Right(pool.send(req).map(move |r| {
            r.map(|resp| resp.map(UpstreamBody::Http2))
                .map_err(pool_failure)
        })),
    };
    async move {
        let result = match deadline {
            Some(d) => tokio::time::timeout_at(d.at, &mut sent)
                .await
                .map_err(|_| {
                    ForwardError::new(
                        ErrorKind::UpstreamTimeout,
                        format!(
                            "cluster {:?}: endpoint {} sent no response headers within {:?}",
                            cluster.name, endpoint.addr, d.timeout
                        ),
                    )
                })?,
            None => (&mut sent).await,
        };
        result.map_err(|(connect, e)| {
            // The pool's circuit breaker refused a connection: 503 at once, not an upstream
            // failure.
            if let Some(PoolError::Overflow(o)) = e.downcast_ref::<PoolError>() {
                return ForwardError::overflow(&cluster.name, *o);
            }
            let kind = if connect {
                cluster.metrics.connect_failures.inc();
                ErrorKind::ConnectFailed
            } else if is_refused_stream(&*e) {
                ErrorKind::UpstreamRefusedStream
            } else {
                ErrorKind::UpstreamReset
            };
            let detail = format!("cluster {:?}: endpoint {}", cluster.name, endpoint.addr);
            ForwardError::new(kind, detail).with_cause(e)
        })
    }
}

/// Rewrites the request for the upstream hop: absolute URI for the pooled client, the HTTP
/// version of the cluster, the host kept (in `Host` for HTTP/1.1, in `:authority` for HTTP/2).
fn prepare(
    req: &mut Request<RequestBody>,
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
        // The HTTP/2 client (`h2`) takes `:scheme` and `:authority` from the URI.
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
