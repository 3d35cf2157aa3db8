//! The aggregated discovery service: one task per proxy stream, state of the world.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_server::{
    AggregatedDiscoveryService, AggregatedDiscoveryServiceServer,
};
use envoy_types::pb::envoy::service::discovery::v3::{
    DeltaDiscoveryRequest, DeltaDiscoveryResponse, DiscoveryRequest, DiscoveryResponse,
};
use futures::Stream;
use rigging_mesh_model::ProxyId;
use rigging_mesh_xds::ResourceType;
use rigging_pilot_compiler::CompileError;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Request, Response, Status, Streaming};

use crate::Snapshot;
use crate::cache::{Own, ProxyView};
use crate::metrics::{Metrics, TypeLabel};
use crate::status::StatusRegistry;

/// Responses queued per stream before the stream task waits for the proxy to read.
const RESPONSE_QUEUE: usize = 16;
/// HTTP/2 keepalive, so a proxy that vanished without closing its stream is noticed.
const KEEPALIVE: std::time::Duration = std::time::Duration::from_secs(30);

type ResponseStream = Pin<Box<dyn Stream<Item = Result<DiscoveryResponse, Status>> + Send>>;
type DeltaStream = Pin<Box<dyn Stream<Item = Result<DeltaDiscoveryResponse, Status>> + Send>>;

#[derive(Clone)]
pub(crate) struct Ads {
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub status: Arc<StatusRegistry>,
    pub metrics: Arc<Metrics>,
    pub stop: watch::Receiver<bool>,
}

pub(crate) async fn serve(listener: TcpListener, ads: Ads) {
    let mut stop = ads.stop.clone();
    let incoming = TcpListenerStream::new(listener);
    let result = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE))
        .tcp_nodelay(true)
        .add_service(AggregatedDiscoveryServiceServer::new(ads))
        .serve_with_incoming_shutdown(incoming, async move {
            stopped(&mut stop).await;
        })
        .await;
    if let Err(e) = result {
        tracing::error!(error = %e, "xDS server failed");
    }
}

#[tonic::async_trait]
impl AggregatedDiscoveryService for Ads {
    type StreamAggregatedResourcesStream = ResponseStream;
    type DeltaAggregatedResourcesStream = DeltaStream;

    async fn stream_aggregated_resources(
        &self,
        request: Request<Streaming<DiscoveryRequest>>,
    ) -> Result<Response<Self::StreamAggregatedResourcesStream>, Status> {
        let peer = request
            .remote_addr()
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let conn = Connection {
            proxy: None,
            peer,
            subs: HashMap::new(),
            view: None,
            own: None,
            tx,
            status: self.status.clone(),
            metrics: self.metrics.clone(),
        };
        tokio::spawn(conn.run(
            request.into_inner(),
            self.snapshots.clone(),
            self.stop.clone(),
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn delta_aggregated_resources(
        &self,
        _request: Request<Streaming<DeltaDiscoveryRequest>>,
    ) -> Result<Response<Self::DeltaAggregatedResourcesStream>, Status> {
        Err(Status::unimplemented(
            "incremental (delta) xDS is not served yet; use the state-of-the-world stream",
        ))
    }
}

/// Unique across streams, so a nonce never matches another stream's response.
static NONCE: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Default)]
struct Subscription {
    names: Vec<String>,
    sent_version: Option<String>,
    nonce: Option<String>,
}

struct Connection {
    proxy: Option<ProxyId>,
    peer: String,
    subs: HashMap<ResourceType, Subscription>,
    /// The proxy's view of one snapshot version, reused by every type's push.
    view: Option<(u64, Option<ProxyView>)>,
    /// The proxy's own packed pieces, kept across snapshots while its registration holds.
    own: Option<Own>,
    tx: mpsc::Sender<Result<DiscoveryResponse, Status>>,
    status: Arc<StatusRegistry>,
    metrics: Arc<Metrics>,
}

impl Connection {
    async fn run(
        mut self,
        mut inbound: Streaming<DiscoveryRequest>,
        mut snapshots: watch::Receiver<Arc<Snapshot>>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                msg = inbound.message() => match msg {
                    Ok(Some(req)) => {
                        let snap = snapshots.borrow().clone();
                        if let Err(status) = self.on_request(req, &snap).await {
                            tracing::warn!(peer = %self.peer, reason = %status.message(), "closing xDS stream");
                            let _ = self.tx.send(Err(status)).await;
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::debug!(peer = %self.peer, error = %e, "xDS stream broke");
                        break;
                    }
                },
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    let snap = snapshots.borrow_and_update().clone();
                    self.push_changed(&snap).await;
                }
                () = stopped(&mut stop) => break,
            }
        }
        if let Some(proxy) = &self.proxy {
            self.metrics.connected.dec();
            self.status.disconnected(proxy.as_str(), &self.peer);
            tracing::info!(%proxy, peer = %self.peer, "proxy disconnected");
        }
    }

    async fn on_request(&mut self, req: DiscoveryRequest, snap: &Snapshot) -> Result<(), Status> {
        if self.proxy.is_none() {
            let node = req.node.as_ref().ok_or_else(|| {
                Status::invalid_argument("the first request of a stream must carry node")
            })?;
            let id = ProxyId::new(node.id.clone())
                .map_err(|e| Status::invalid_argument(format!("node.id: {e}")))?;
            tracing::info!(proxy = %id, peer = %self.peer, "proxy connected");
            self.status.connected(id.as_str(), &self.peer);
            self.metrics.connected.inc();
            self.proxy = Some(id);
        }
        let Some(ty) = ResourceType::from_type_url(&req.type_url) else {
            tracing::debug!(type_url = %req.type_url, "request for a type Pilot does not serve");
            return Ok(());
        };
        let proxy = self
            .proxy
            .clone()
            .ok_or_else(|| Status::internal("no node"))?;
        let sub = self.subs.entry(ty).or_default();
        let names = if ty.is_wildcard() {
            Vec::new()
        } else {
            req.resource_names
        };

        if req.response_nonce.is_empty() {
            // A new subscription, or the first request after a reconnect.
            sub.names = names;
            return self.send(ty, snap, true).await;
        }
        if sub.nonce.as_deref() != Some(req.response_nonce.as_str()) {
            tracing::trace!(%proxy, %ty, nonce = %req.response_nonce, "stale nonce ignored");
            return Ok(());
        }
        let label = TypeLabel { r#type: ty.short() };
        match req.error_detail {
            Some(err) => {
                tracing::warn!(%proxy, %ty, kept_version = %req.version_info, reason = %err.message, "proxy NACKed an update");
                self.metrics.nacks.get_or_create(&label).inc();
                self.status.update_type(proxy.as_str(), ty, |t| {
                    t.nack = Some(err.message);
                    t.acked_version = Some(req.version_info).filter(|v| !v.is_empty());
                });
            }
            None => {
                tracing::debug!(%proxy, %ty, version = %req.version_info, "ACK");
                self.metrics.acks.get_or_create(&label).inc();
                self.status.update_type(proxy.as_str(), ty, |t| {
                    t.nack = None;
                    t.acked_version = Some(req.version_info);
                });
            }
        }
        if names != sub.names {
            sub.names = names;
            return self.send(ty, snap, true).await;
        }
        Ok(())
    }

    async fn push_changed(&mut self, snap: &Snapshot) {
        for ty in ResourceType::ALL {
            if self.subs.contains_key(&ty) && self.send(ty, snap, false).await.is_err() {
                return;
            }
        }
    }

    /// Sends the proxy's resources of `ty` if their version changed (or always, with `force`).
    async fn send(&mut self, ty: ResourceType, snap: &Snapshot, force: bool) -> Result<(), Status> {
        let Some(proxy) = self.proxy.clone() else {
            return Ok(());
        };
        if self.view.as_ref().is_none_or(|(v, _)| *v != snap.version) {
            let view = snap
                .catalog
                .proxy(&proxy)
                .map(|p| ProxyView::build(&snap.catalog, &snap.shared, p, &mut self.own));
            self.view = Some((snap.version, view));
        }
        let Some((_, Some(view))) = self.view.as_ref() else {
            let problem = CompileError::UnknownProxy(proxy.clone()).to_string();
            self.status
                .update(proxy.as_str(), |p| p.problem = Some(problem));
            return Ok(());
        };
        let Some(sub) = self.subs.get_mut(&ty) else {
            return Ok(());
        };
        let (version, items) = view.select(ty, &sub.names);
        if !force && sub.sent_version.as_deref() == Some(version.as_str()) {
            return Ok(());
        }
        let nonce = NONCE.fetch_add(1, Ordering::Relaxed).to_string();
        let resp = DiscoveryResponse {
            version_info: version.clone(),
            resources: items.iter().map(|p| p.any.clone()).collect(),
            type_url: ty.type_url().to_owned(),
            nonce: nonce.clone(),
            ..Default::default()
        };
        sub.sent_version = Some(version.clone());
        sub.nonce = Some(nonce);
        self.status.sent(proxy.as_str(), ty, snap.version, &version);
        self.metrics
            .pushes
            .get_or_create(&TypeLabel { r#type: ty.short() })
            .inc();
        tracing::debug!(%proxy, %ty, %version, "push");
        self.tx
            .send(Ok(resp))
            .await
            .map_err(|_| Status::cancelled("proxy went away"))
    }
}

/// Resolves once `stop` turns true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}
