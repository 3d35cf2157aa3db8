//! HTTP/1.1 upgrades (WebSocket and others): a dedicated upstream connection, then two byte
//! streams joined once both sides have switched protocols.

use std::sync::Arc;
use std::time::Instant;

use http::uri::PathAndQuery;
use http::{Request, Response, StatusCode, Uri, Version};
use hyper::upgrade::OnUpgrade as UpstreamUpgrade;
use hyper_util::rt::TokioIo;
use rigging_proxy_balance::InFlight;
use rigging_proxy_http1::OnUpgrade;
use rigging_proxy_resilience::{Outcome, Permit};

use crate::body::{DownstreamBody, ResponseBody, UpstreamBody};
use crate::cluster::{ClusterState, RequestPermit};
use crate::error::{BoxError, ErrorKind, ForwardError};
use crate::headers::strip_hop_by_hop;
use crate::http::no_healthy_upstream;

/// Forwards an upgrade request. No route timeout applies: the tunnel lives as long as both
/// sides keep it open. The cluster's circuit breaker counts the tunnel as one request and one
/// connection for its whole life (503 at once when either limit is reached), and outlier
/// detection sees its outcome: a failed connect, a 5xx answer, or a switch.
pub(crate) async fn forward(
    cluster: &Arc<ClusterState>,
    mut req: Request<DownstreamBody>,
) -> Result<Response<ResponseBody>, ForwardError> {
    // Our HTTP/1.1 server puts it in every request that may switch protocols.
    let downstream = req.extensions_mut().remove::<OnUpgrade>().ok_or_else(|| {
        ForwardError::new(
            ErrorKind::BadRequest,
            "the request's connection cannot switch protocols",
        )
    })?;
    let request_permit = cluster.admit()?;
    let connection_permit = cluster
        .try_connection()
        .map_err(|o| ForwardError::overflow(&cluster.name, o))?;
    let pick = cluster
        .pick(None)
        .ok_or_else(|| no_healthy_upstream(cluster))?;
    let (addr, index) = (pick.endpoint.addr, pick.index);
    let detail = || format!("cluster {:?}: endpoint {addr} (upgrade)", cluster.name);
    let start = Instant::now();
    let stream = cluster.connector(addr).connect().await.map_err(|e| {
        cluster.record(index, Outcome::LocalOriginFailure);
        cluster.metrics.connect_failures.inc();
        if e.is_tls() {
            cluster.metrics.tls_failures.inc();
        }
        cluster
            .metrics
            .request(StatusCode::SERVICE_UNAVAILABLE, start.elapsed());
        ForwardError::new(ErrorKind::ConnectFailed, detail()).with_cause(e)
    })?;
    let reset = |e: hyper::Error| {
        cluster.record(index, Outcome::LocalOriginFailure);
        cluster
            .metrics
            .request(StatusCode::BAD_GATEWAY, start.elapsed());
        ForwardError::new(ErrorKind::UpstreamReset, detail()).with_cause(e)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(reset)?;
    // Both the connection (until a non-101 answer's body is read) and the tunnel (after a
    // switch) hold the breaker's permits: they are released when both are done.
    let permits = Arc::new((request_permit, connection_permit));
    let conn_permits = Arc::clone(&permits);
    tokio::spawn(async move {
        let _permits = conn_permits;
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream upgrade connection failed");
        }
    });

    strip_hop_by_hop(req.headers_mut(), true);
    let path = req
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *req.uri_mut() = Uri::from(path);
    *req.version_mut() = Version::HTTP_11;

    let mut resp = sender.send_request(req).await.map_err(reset)?;
    cluster.metrics.request(resp.status(), start.elapsed());
    let outcome = if resp.status().is_server_error() {
        Outcome::ServerError
    } else {
        Outcome::Success
    };
    cluster.record(index, outcome);
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        strip_hop_by_hop(resp.headers_mut(), false);
        let guard = Some(pick.guard);
        return Ok(resp.map(|b| ResponseBody::upstream(UpstreamBody::hyper(b), guard, None, None)));
    }
    strip_hop_by_hop(resp.headers_mut(), true);
    let upstream = hyper::upgrade::on(&mut resp);
    tokio::spawn(tunnel(
        downstream,
        upstream,
        (pick.guard, permits),
        cluster.name.clone(),
    ));
    Ok(resp.map(|b| ResponseBody::upstream(UpstreamBody::hyper(b), None, None, None)))
}

/// Joins the two upgraded connections once both have switched, until either side closes. The
/// endpoint counts the tunnel as in flight, and the breaker as a request and a connection,
/// meanwhile.
async fn tunnel(
    downstream: OnUpgrade,
    upstream: UpstreamUpgrade,
    guard: (InFlight, Arc<(RequestPermit, Permit)>),
    cluster: String,
) {
    let joined = tokio::try_join!(
        async { downstream.upgraded().await.map_err(BoxError::from) },
        async { upstream.await.map_err(BoxError::from) },
    );
    match joined {
        Ok((mut d, u)) => {
            let mut u = TokioIo::new(u);
            if let Err(e) = tokio::io::copy_bidirectional(&mut d, &mut u).await {
                tracing::debug!(%cluster, error = %e, "upgraded connection ended");
            }
        }
        Err(e) => tracing::debug!(%cluster, error = %e, "upgrade did not complete"),
    }
    drop(guard);
}
