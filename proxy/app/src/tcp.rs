//! TCP proxying: one upstream connection per downstream connection, bytes copied both ways.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rigging_proxy_balance::InFlight;
use rigging_proxy_resilience::{Outcome, Permit};
use rigging_proxy_tls::MeshStream;

use crate::cluster::ClusterState;
use crate::metrics::ListenerMetrics;
use crate::snapshot::Snapshot;

/// What a TCP listener's connections share.
#[derive(Debug)]
pub(crate) struct TcpContext {
    pub listener: String,
    pub target: Target,
    pub state: Arc<ArcSwap<Snapshot>>,
    pub metrics: ListenerMetrics,
}

/// Where a TCP listener's connections go.
#[derive(Debug)]
pub(crate) enum Target {
    /// Every connection to one cluster.
    Cluster(String),
    /// Each mTLS connection to the cluster of the server name it sent (a terminating
    /// gateway).
    Sni(HashMap<String, String>),
}

/// Relays one downstream connection; when no endpoint can be reached (or, on an SNI
/// listener, the server name it sent is not served) it is closed.
pub(crate) async fn serve(ctx: Arc<TcpContext>, mut downstream: MeshStream) {
    let name = match &ctx.target {
        Target::Cluster(name) => name,
        Target::Sni(routes) => {
            let sni = downstream.server_name();
            let Some(name) = sni.and_then(|s| routes.get(s)) else {
                let peer = downstream.peer_id();
                tracing::warn!(listener = %ctx.listener, sni = ?sni, peer = ?peer.as_ref().map(ToString::to_string), reason = "unknown_server_name", "closing connection: no service of this gateway has the server name it asked for");
                return;
            };
            name
        }
    };
    let cluster = ctx.state.load().clusters.get(name).cloned();
    let Some(cluster) = cluster else {
        tracing::warn!(listener = %ctx.listener, cluster = %name, reason = "no_cluster", "closing connection: cluster is not configured");
        return;
    };
    let Some((mut upstream, _guard, _permit)) = connect(&ctx, &cluster).await else {
        return;
    };
    match tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await {
        Ok((rx, tx)) => {
            ctx.metrics.bytes_rx.inc_by(rx);
            ctx.metrics.bytes_tx.inc_by(tx);
        }
        Err(e) => {
            tracing::debug!(listener = %ctx.listener, cluster = %cluster.name, error = %e, "tcp connection ended with an error");
        }
    }
}

/// Connects to the picked endpoint, then to each other serving endpoint in turn. The
/// connection holds a permit of the cluster's `max_connections` for its life; beyond the limit
/// the downstream connection is closed at once. Connect failures and successes feed outlier
/// detection.
async fn connect(
    ctx: &TcpContext,
    cluster: &ClusterState,
) -> Option<(MeshStream, InFlight, Permit)> {
    let permit = match cluster.try_connection() {
        Ok(p) => p,
        Err(overflow) => {
            tracing::warn!(listener = %ctx.listener, cluster = %cluster.name, reason = "upstream_overflow", "closing connection: {overflow}");
            return None;
        }
    };
    let Some(first) = cluster.pick(None) else {
        tracing::warn!(listener = %ctx.listener, cluster = %cluster.name, reason = "no_healthy_upstream", "closing connection: no serving endpoint");
        return None;
    };
    let first_index = first.index;
    for pick in std::iter::once(first).chain(cluster.balancer.fallbacks(first_index)) {
        let addr = pick.endpoint.addr;
        match cluster.connector(addr).connect().await {
            Ok(stream) => {
                cluster.record(pick.index, Outcome::Success);
                return Some((stream, pick.guard, permit));
            }
            Err(e) => {
                cluster.record(pick.index, Outcome::LocalOriginFailure);
                cluster.metrics.connect_failures.inc();
                if e.is_tls() {
                    cluster.metrics.tls_failures.inc();
                }
                tracing::debug!(listener = %ctx.listener, cluster = %cluster.name, endpoint = %addr, error = %e, cause = ?std::error::Error::source(&e), "connect failed");
            }
        }
    }
    tracing::warn!(listener = %ctx.listener, cluster = %cluster.name, reason = "connect_failed", "closing connection: no endpoint accepted a connection");
    None
}
