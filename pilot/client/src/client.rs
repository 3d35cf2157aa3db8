//! The client task: connect, run one aggregated stream, reconnect with backoff; forever, until shutdown.

mod connect;
mod stream;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::{Node, node};
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::google::protobuf::Any;
use http::Uri;
use rigging_mesh_xds::ResourceType;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::config::ClientConfig;
use crate::status::ClientStatus;
use connect::connect;
use stream::StreamState;

/// What applies the configuration the client receives: the proxy's data plane, or a test double.
pub trait ConfigSink: Send + Sync + 'static {
    /// Validates and applies the resources of one DiscoveryResponse (state of the world: the full
    /// set of that type). `Err(reason)` makes the client NACK with that reason; the sink must then
    /// keep its previous config.
    fn apply(&self, ty: ResourceType, version: &str, resources: &[Any]) -> Result<(), String>;
    /// Resource names to subscribe to for a by-name type (Endpoint: EDS cluster names; Route: RDS
    /// names), from the config applied so far.
    fn names(&self, ty: ResourceType) -> Vec<String>;
}

/// The proxy's xDS client. Create it, take a [`status`](Self::status) receiver, then [`run`](Self::run) it.
pub struct XdsClient {
    config: ClientConfig,
    sink: Arc<dyn ConfigSink>,
    node: Node,
    status: watch::Sender<ClientStatus>,
    /// The last accepted `version_info` per type; it outlives streams, so a new stream tells
    /// Pilot what the proxy already has.
    versions: BTreeMap<ResourceType, String>,
}

/// Why a stream ended.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("cannot connect to pilot at {pilot}")]
    Connect {
        pilot: Uri,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("stream to pilot failed")]
    Status(#[from] tonic::Status),
    #[error("pilot closed the stream")]
    Closed,
}

impl std::fmt::Debug for XdsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdsClient")
            .field("config", &self.config)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

impl XdsClient {
    /// A client for `config` feeding `sink`; nothing happens until [`run`](Self::run).
    pub fn new(config: ClientConfig, sink: Arc<dyn ConfigSink>) -> Self {
        let node = Node {
            id: config.node_id.clone(),
            cluster: config.node_cluster.clone(),
            user_agent_name: "rigging".to_owned(),
            user_agent_version_type: Some(node::UserAgentVersionType::UserAgentVersion(
                env!("CARGO_PKG_VERSION").to_owned(),
            )),
            ..Default::default()
        };
        Self {
            config,
            sink,
            node,
            status: watch::Sender::new(ClientStatus::default()),
            versions: BTreeMap::new(),
        }
    }

    /// The client's status, updated as it connects, ACKs and NACKs.
    pub fn status(&self) -> watch::Receiver<ClientStatus> {
        self.status.subscribe()
    }

    /// Runs the stream and its reconnects until `shutdown` completes. Losing Pilot leaves the
    /// sink's configuration as it is.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut shutdown = pin!(shutdown);
        let mut backoff = Backoff::new(
            self.config.backoff_min,
            self.config.backoff_max,
            fastrand::Rng::new(),
        );
        let mut failures = 0u32;
        loop {
            let mut progressed = false;
            let result = tokio::select! {
                () = &mut shutdown => break,
                r = self.connect_and_stream(&mut progressed) => r,
            };
            self.status.send_modify(|s| s.connected = false);
            if progressed {
                backoff.reset();
                failures = 0;
            }
            failures += 1;
            match result {
                Err(StreamError::Closed) => info!("pilot closed the xDS stream; reconnecting"),
                Err(e) if failures == 1 => {
                    warn!(error = %error_chain(&e), "xDS stream to pilot lost; reconnecting")
                }
                Err(e) => {
                    debug!(error = %error_chain(&e), failures, "xDS stream to pilot still down")
                }
                Ok(()) => {}
            }
            let delay = backoff.next_delay();
            debug!(?delay, "waiting before reconnecting to pilot");
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        self.status.send_modify(|s| s.connected = false);
        info!("xDS client stopped");
    }

    /// One connection and one stream, until the stream ends. `progressed` is set once a response
    /// arrived, so that the backoff starts over.
    async fn connect_and_stream(&mut self, progressed: &mut bool) -> Result<(), StreamError> {
        let channel = connect(&self.config)
            .await
            .map_err(|source| StreamError::Connect {
                pilot: self.config.pilot.clone(),
                source,
            })?;
        let (tx, rx) = mpsc::unbounded_channel();
        let mut state = StreamState::default();
        for ty in ResourceType::ALL {
            if let Some(req) = self.initial_request(&mut state, ty) {
                // The receiver lives until the stream is dropped below, so this cannot fail.
                let _ = tx.send(req);
            }
        }
        let mut client = AggregatedDiscoveryServiceClient::new(channel);
        let mut inbound = client
            .stream_aggregated_resources(UnboundedReceiverStream::new(rx))
            .await?
            .into_inner();
        info!(pilot = %self.config.pilot, node = %self.node.id, tls = self.config.tls.is_some(), "xDS stream to pilot open");
        self.status.send_modify(|s| s.connected = true);
        while let Some(resp) = inbound.message().await? {
            *progressed = true;
            for req in self.handle_response(&mut state, resp) {
                if tx.send(req).is_err() {
                    return Err(StreamError::Closed);
                }
            }
        }
        Err(StreamError::Closed)
    }
}

/// `error: cause: cause`, for one-line logs.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
