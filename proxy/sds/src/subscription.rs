//! One secret's subscription task: connect, run a `StreamSecrets` stream, reconnect with
//! backoff; forever, until its [`Sds`](crate::Sds) is dropped.

mod protocol;

use std::convert::Infallible;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::service::secret::v3::secret_discovery_service_client::SecretDiscoveryServiceClient;
use rigging_pilot_client::Backoff;
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tracing::{debug, info, warn};

use crate::{Installed, SdsEndpoint};

/// First reconnect delay: an SDS server restarted on the same host is back within a fraction
/// of a second, and one refused connection costs next to nothing.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay. The gateway keeps serving its last certificate meanwhile, so
/// waiting only delays a rotation; 5 s bounds that delay once the server is back.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Time allowed to open the TCP connection to an SDS server before the attempt counts as failed.
pub const SDS_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 PING interval, so a server that vanished without a FIN is noticed within a minute
/// rather than at the next TCP timeout.
pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Time to wait for a PING's answer before the connection is considered dead.
pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// What one (cluster, resource) subscription owns across its streams.
#[derive(Debug)]
pub(crate) struct Subscription {
    cluster: String,
    resource: String,
    endpoint: SdsEndpoint,
    node: Node,
    current: watch::Sender<Option<Arc<Installed>>>,
    /// The last accepted `version_info`; it outlives streams, so a new stream tells the server
    /// what the gateway already has, and a NACK names it.
    version: String,
}

/// Why a stream ended.
#[derive(Debug, thiserror::Error)]
enum StreamError {
    #[error("cannot connect")]
    Connect(#[source] tonic::transport::Error),
    #[error("stream failed")]
    Status(#[from] tonic::Status),
    #[error("the server closed the stream")]
    Closed,
}

impl Subscription {
    pub(crate) fn new(
        cluster: &str,
        resource: &str,
        endpoint: SdsEndpoint,
        node: Node,
        current: watch::Sender<Option<Arc<Installed>>>,
    ) -> Self {
        // A subscription restarted after its handles were dropped goes on from the version it had.
        let version = current
            .borrow()
            .as_ref()
            .map(|i| i.version().to_owned())
            .unwrap_or_default();
        Self {
            cluster: cluster.to_owned(),
            resource: resource.to_owned(),
            endpoint,
            node,
            current,
            version,
        }
    }

    /// Runs streams and reconnects until `shutdown`'s sender is dropped or no handle on the
    /// certificate is left. Losing the server leaves the installed certificate as it is.
    pub(crate) async fn run(mut self, mut shutdown: watch::Receiver<()>) {
        let current = self.current.clone();
        let mut stop = pin!(async move {
            tokio::select! {
                _ = shutdown.changed() => {}
                () = current.closed() => {}
            }
        });
        let mut backoff = Backoff::new(
            DEFAULT_BACKOFF_MIN,
            DEFAULT_BACKOFF_MAX,
            fastrand::Rng::new(),
        );
        let mut failures = 0u32;
        loop {
            let mut progressed = false;
            let error = tokio::select! {
                () = &mut stop => break,
                r = self.stream(&mut progressed) => match r {
                    Ok(never) => match never {},
                    Err(e) => e,
                },
            };
            if progressed {
                backoff.reset();
                failures = 0;
            }
            failures += 1;
            let (cluster, resource, server) = (&self.cluster, &self.resource, &self.endpoint);
            match error {
                StreamError::Closed => {
                    info!(cluster, resource, %server, "SDS server closed the stream; reconnecting");
                }
                e if failures == 1 => {
                    let error = error_chain(&e);
                    warn!(cluster, resource, %server, %error, "SDS stream lost; reconnecting");
                }
                e => {
                    let error = error_chain(&e);
                    debug!(cluster, resource, %server, failures, %error, "SDS stream still down");
                }
            }
            tokio::select! {
                () = &mut stop => break,
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
        debug!(cluster = %self.cluster, resource = %self.resource, "SDS subscription stopped");
    }

    /// One connection and one stream, until it ends. `progressed` is set once a response
    /// arrived, so that the backoff starts over.
    async fn stream(&mut self, progressed: &mut bool) -> Result<Infallible, StreamError> {
        let channel = self.connect().await.map_err(StreamError::Connect)?;
        let (tx, rx) = mpsc::unbounded_channel();
        // The receiver lives until the stream is dropped below, so this cannot fail.
        let _ = tx.send(self.subscribe_request());
        let mut client = SecretDiscoveryServiceClient::new(channel);
        let mut inbound = client
            .stream_secrets(UnboundedReceiverStream::new(rx))
            .await?
            .into_inner();
        let (cluster, resource, server) = (&self.cluster, &self.resource, &self.endpoint);
        info!(cluster, resource, %server, "SDS stream open");
        while let Some(response) = inbound.message().await? {
            *progressed = true;
            let request = self.handle_response(response).await;
            if tx.send(request).is_err() {
                break;
            }
        }
        Err(StreamError::Closed)
    }

    /// A new connection for every stream, with the timeouts and keepalives of control-plane
    /// connections.
    async fn connect(&self) -> Result<Channel, tonic::transport::Error> {
        Endpoint::from(self.endpoint.uri().clone())
            .connect_timeout(SDS_CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
            .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true)
            .connect_with_connector(rigging_mesh_net::uri_connector())
            .await
    }
}

/// `error: cause: cause`, for one-line logs and NACK messages.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
