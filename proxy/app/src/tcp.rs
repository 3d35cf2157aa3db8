//! TCP proxying: one upstream connection per downstream connection, bytes copied both ways.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rigging_proxy_balance::InFlight;
use rigging_proxy_tls::MeshStream;

use crate::cluster::ClusterState;
use crate::metrics::ListenerMetrics;
use crate::snapshot::Snapshot;

/// What a TCP listener's connections share.
#[derive(Debug)]
pub(crate) struct TcpContext {
    pub listener: String,
    pub cluster: String,
    pub state: Arc<ArcSwap<Snapshot>>,
    pub metrics: ListenerMetrics,
}

/// Relays one downstream connection; when no endpoint can be reached it is closed.
pub(crate) async fn serve(ctx: Arc<TcpContext>, mut downstream: MeshStream) {
    let cluster = ctx.state.load().clusters.get(&ctx.cluster).cloned();
    let Some(cluster) = cluster else {
        tracing::warn!(listener = %ctx.listener, cluster = %ctx.cluster, reason = "no_cluster", "closing connection: cluster is not configured");
        return;
    };
    let Some((mut upstream, _guard)) = connect(&ctx, &cluster).await else {
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

/// Connects to the picked endpoint, then to each other serving endpoint in turn.
async fn connect(ctx: &TcpContext, cluster: &ClusterState) -> Option<(MeshStream, InFlight)> {
    let Some(first) = cluster.balancer.pick() else {
        tracing::warn!(listener = %ctx.listener, cluster = %cluster.name, reason = "no_healthy_upstream", "closing connection: no serving endpoint");
        return None;
    };
    let first_index = first.index;
    for pick in std::iter::once(first).chain(cluster.balancer.fallbacks(first_index)) {
        let addr = pick.endpoint.addr;
        match cluster.connector(addr).connect().await {
            Ok(stream) => return Some((stream, pick.guard)),
            Err(e) => {
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
