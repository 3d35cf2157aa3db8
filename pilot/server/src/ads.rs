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
use rigging_mesh_grpc_tls::{AcceptOptions, PeerInfo};
use rigging_mesh_spiffe::TrustDomain;
use rigging_mesh_xds::ResourceType;
use rigging_pilot_compiler::{CompileError, NodeId, NodeIdError};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
use tonic::{Code, Request, Response, Status, Streaming};

use crate::Snapshot;
use crate::cache::{Own, ProxyView};
use crate::gateway::view_of;
use crate::identity::PeerIdentity;
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
    /// Set when xDS is served over mTLS: each stream's certificate must then name the service
    /// of the proxy it asks for, in this trust domain.
    pub trust_domain: Option<TrustDomain>,
}

/// Serves the aggregated stream on `listener`, over TLS with `tls`, until `ads.stop`.
pub(crate) async fn serve(listener: TcpListener, ads: Ads, tls: Option<Arc<rustls::ServerConfig>>) {
    let mut stop = ads.stop.clone();
    let shutdown = async move {
        stopped(&mut stop).await;
    };
    let router = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(KEEPALIVE))
        .tcp_nodelay(true)
        .add_service(AggregatedDiscoveryServiceServer::new(ads));
    let result = match tls {
        None => {
            router
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown)
                .await
        }
        Some(config) => {
            // The defaults suit xDS: proxies one hop away handshake in milliseconds, and the
            // backlog takes a fleet reconnecting after a restart.
            let accepted =
                rigging_mesh_grpc_tls::accept(listener, config, AcceptOptions::new("xDS"));
            let incoming = ReceiverStream::new(accepted);
            router
                .serve_with_incoming_shutdown(incoming, shutdown)
                .await
        }
    };
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
        let tls_peer = request.extensions().get::<PeerInfo>().cloned();
        let peer = request
            .remote_addr()
            .or_else(|| tls_peer.as_ref().and_then(|p| p.remote))
            .map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        let identity = match &self.trust_domain {
            None => None,
            Some(td) => {
                let chain = tls_peer.as_ref().and_then(|p| p.chain.as_deref());
                let identity = PeerIdentity::from_chain(td.clone(), chain).map_err(|e| {
                    tracing::warn!(%peer, error = %e, "xDS stream refused");
                    e.to_status()
                })?;
                Some(identity)
            }
        };
        let (tx, rx) = mpsc::channel(RESPONSE_QUEUE);
        let conn = Connection {
            proxy: None,
            notes: Vec::new(),
            identity,
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
    /// The node of the stream (a sidecar or a gateway), from its first request; its
    /// `Display` is the node id that keys its status.
    proxy: Option<NodeId>,
    /// What of a gateway's entry is not served (see `compile_ingress`), last logged.
    notes: Vec<String>,
    /// What the client certificate proved, on a TLS listener; `None` on a plaintext one.
    identity: Option<PeerIdentity>,
    peer: String,
    subs: HashMap<ResourceType, Subscription>,
    /// The proxy's view of one snapshot version, reused by every type's push, or why it has
    /// none (a proxy no registry knows, a gateway without its entry).
    view: Option<(u64, Result<ProxyView, CompileError>)>,
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
                            self.close(status).await;
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
                    if let Err(status) = self.push_changed(&snap).await {
                        self.close(status).await;
                        break;
                    }
                }
                () = stopped(&mut stop) => break,
            }
        }
        if let Some(proxy) = &self.proxy {
            self.metrics.connected.dec();
            self.status.disconnected(&proxy.to_string(), &self.peer);
            tracing::info!(%proxy, peer = %self.peer, "proxy disconnected");
        }
    }

    /// Ends the stream with `status`; the proxy sees it as the stream's error.
    async fn close(&mut self, status: Status) {
        let proxy = self
            .proxy
            .as_ref()
            .map(NodeId::to_string)
            .unwrap_or_default();
        // A refused identity was logged where it was found, with its fields; a proxy that went
        // away needs no warning.
        if matches!(status.code(), Code::Cancelled | Code::PermissionDenied) {
            tracing::debug!(proxy, peer = %self.peer, reason = %status.message(), "closing xDS stream");
        } else {
            tracing::warn!(proxy, peer = %self.peer, reason = %status.message(), "closing xDS stream");
        }
        let _ = self.tx.send(Err(status)).await;
    }

    /// On a TLS listener, whether the client's certificate may have `id`'s configuration in
    /// `snap`. A proxy no registry knows yet is checked once it appears (nothing is sent to it
    /// before); a gateway's certificate must name the gateway's own service, its name.
    fn authorize(&self, id: &NodeId, snap: &Snapshot) -> Result<(), Status> {
        let Some(identity) = &self.identity else {
            return Ok(());
        };
        let result = match id {
            NodeId::Sidecar(p) => match snap.catalog.proxy(p) {
                Some(proxy) => identity.authorize(proxy),
                None => return Ok(()),
            },
            NodeId::Ingress(n) => identity.authorize_service(&n.to_string(), &n.name),
            NodeId::Terminating(n) => identity.authorize_service(&n.to_string(), &n.name),
        };
        result.map_err(|e| {
            tracing::warn!(proxy = %id, peer = %self.peer, spiffe_id = %identity.id(), error = %e, "xDS stream refused: certificate of another service");
            // Only a stream already registered as the proxy's may mark its status.
            if self.proxy.is_some() {
                self.status
                    .update(&id.to_string(), |p| p.problem = Some(e.to_string()));
            }
            e.to_status()
        })
    }

    async fn on_request(&mut self, req: DiscoveryRequest, snap: &Snapshot) -> Result<(), Status> {
        if self.proxy.is_none() {
            let node = req.node.as_ref().ok_or_else(|| {
                Status::invalid_argument("the first request of a stream must carry node")
            })?;
            let id = NodeId::parse(&node.id).map_err(|e| match e {
                NodeIdError::UnsupportedKind { .. } => Status::unimplemented(e.to_string()),
                _ => Status::invalid_argument(e.to_string()),
            })?;
            // Before the stream counts as the proxy's, so a foreign certificate leaves no trace
            // in the proxy's status.
            self.authorize(&id, snap)?;
            tracing::info!(proxy = %id, peer = %self.peer, "proxy connected");
            let spiffe_id = self.identity.as_ref().map(|i| i.id().to_string());
            self.status
                .connected(&id.to_string(), &self.peer, spiffe_id);
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
        let key = proxy.to_string();
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
                self.status.update_type(&key, ty, |t| {
                    t.nack = Some(err.message);
                    t.acked_version = Some(req.version_info).filter(|v| !v.is_empty());
                });
            }
            None => {
                tracing::debug!(%proxy, %ty, version = %req.version_info, "ACK");
                self.metrics.acks.get_or_create(&label).inc();
                self.status.update_type(&key, ty, |t| {
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

    async fn push_changed(&mut self, snap: &Snapshot) -> Result<(), Status> {
        for ty in ResourceType::ALL {
            if self.subs.contains_key(&ty) {
                self.send(ty, snap, false).await?;
            }
        }
        Ok(())
    }

    /// Sends the proxy's resources of `ty` if their version changed (or always, with `force`).
    async fn send(&mut self, ty: ResourceType, snap: &Snapshot, force: bool) -> Result<(), Status> {
        let Some(proxy) = self.proxy.clone() else {
            return Ok(());
        };
        if self.view.as_ref().is_none_or(|(v, _)| *v != snap.version) {
            // Every snapshot: the proxy may have appeared, or moved to another service.
            self.authorize(&proxy, snap)?;
            let view = view_of(snap, &proxy, &mut self.own, &mut self.notes);
            self.view = Some((snap.version, view));
        }
        let key = proxy.to_string();
        let view = match self.view.as_ref() {
            Some((_, Ok(view))) => view,
            Some((_, Err(e))) => {
                let problem = e.to_string();
                self.status.update(&key, |p| p.problem = Some(problem));
                return Ok(());
            }
            None => return Ok(()),
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
        self.status.sent(&key, ty, snap.version, &version);
        if !self.notes.is_empty() {
            // `sent` cleared the problem; what the gateway does not serve stays visible.
            let notes = self.notes.join("; ");
            self.status.update(&key, |p| p.problem = Some(notes));
        }
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
