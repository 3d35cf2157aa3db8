//! A cluster at runtime: its balancer over endpoints, its pooled HTTP client, its metrics.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use http::uri::Authority;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rigging_proxy_balance::{Balancer, Policy, Weighted};
use rigging_proxy_config::{Cluster, Endpoint, LbPolicy, UpstreamProtocol};
use rigging_proxy_tls::{HANDSHAKE_TIMEOUT, MeshStream, MeshTls, TlsError};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::metrics::ClusterMetrics;
use crate::pool::Http1Pool;

/// How long an idle pooled upstream connection is kept: long enough to carry bursts, shorter
/// than the usual 60 s+ server idle timeouts so the proxy closes first and never reuses a
/// connection the upstream is closing.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// HTTP/2 flow-control windows towards upstreams: larger than the 64 KiB default so one stream
/// can fill a fast local link without waiting for window updates.
const H2_STREAM_WINDOW: u32 = 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

/// The pooled HTTP/2 client of one endpoint; request bodies are the downstream bodies, passed
/// through.
pub(crate) type Http2Client = Client<EndpointConnector, Incoming>;

/// Why a connection to an endpoint could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("tcp connect failed")]
    Tcp(#[source] io::Error),
    #[error("mtls handshake with the endpoint failed")]
    Tls(#[source] io::Error),
}

/// How a cluster secures its connections: the rustls config expecting the destination's
/// identities, and the SNI sent.
#[derive(Clone)]
pub(crate) struct UpstreamTlsConnector {
    connector: TlsConnector,
    sni: ServerName<'static>,
}

impl std::fmt::Debug for UpstreamTlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTlsConnector")
            .field("sni", &self.sni)
            .finish_non_exhaustive()
    }
}

/// How requests reach one endpoint: our own LIFO pool for HTTP/1.1, hyper_util's client
/// (one multiplexed connection) for HTTP/2.
#[derive(Debug, Clone)]
pub(crate) enum UpstreamClient {
    Http1(Arc<Http1Pool>),
    Http2(Box<Http2Client>),
}

/// One endpoint as the forwarding code needs it: its authority precomputed so a request URI is
/// built without formatting, and its own pooled client.
#[derive(Debug, Clone)]
pub(crate) struct Upstream {
    pub addr: SocketAddr,
    pub authority: Authority,
    pub client: UpstreamClient,
}

/// Connects every request of a client to one endpoint, whatever its URI says. With one client
/// per endpoint, the URI can keep the downstream's authority (HTTP/2 `:authority`) while the
/// pool stays per endpoint.
#[derive(Debug, Clone)]
pub(crate) struct EndpointConnector {
    addr: SocketAddr,
    connect_timeout: Duration,
    tls: Option<UpstreamTlsConnector>,
}

/// A cluster of one configuration snapshot.
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub name: String,
    pub protocol: UpstreamProtocol,
    pub connect_timeout: Duration,
    pub balancer: Balancer<Upstream>,
    pub metrics: ClusterMetrics,
    /// mTLS to every endpoint, when the cluster asks for it.
    pub tls: Option<UpstreamTlsConnector>,
    def_tls: Option<rigging_proxy_config::UpstreamTls>,
}

impl ClusterState {
    /// Builds the state of `def` over `endpoints`. When `previous` has the same protocol and
    /// connect timeout (and TLS settings), endpoints it already had keep their client (and so
    /// their pooled connections). `mesh` builds the TLS config of a cluster that asks for mTLS.
    pub fn new(
        def: &Cluster,
        endpoints: &[Endpoint],
        previous: Option<&ClusterState>,
        metrics: ClusterMetrics,
        mesh: Option<&MeshTls>,
    ) -> Result<Self, TlsError> {
        let tls = match (&def.tls, mesh) {
            (None, _) => None,
            (Some(t), Some(mesh)) => Some(UpstreamTlsConnector {
                connector: TlsConnector::from(mesh.client_config(&t.expected_ids, &t.alpn)?),
                sni: ServerName::try_from(t.sni.clone())
                    .map_err(|_| TlsError::BadSni(t.sni.clone()))?,
            }),
            (Some(_), None) => return Err(TlsError::NotConfigured),
        };
        let policy = match def.lb_policy {
            LbPolicy::RoundRobin => Policy::RoundRobin,
            LbPolicy::LeastRequest => Policy::LeastRequest,
        };
        let previous = previous.filter(|p| p.client_fits(def));
        let reuse = |addr: SocketAddr| {
            previous?
                .balancer
                .endpoints()
                .iter()
                .find(|u| u.addr == addr)
                .map(|u| u.client.clone())
        };
        let balancer = Balancer::new(
            policy,
            endpoints.iter().map(|e| Weighted {
                value: Upstream {
                    addr: e.addr,
                    authority: authority(e.addr),
                    client: reuse(e.addr).unwrap_or_else(|| http_client(def, e.addr, tls.clone())),
                },
                serving: e.health.is_serving(),
                weight: e.weight,
            }),
        );
        Ok(Self {
            name: def.name.clone(),
            protocol: def.protocol,
            connect_timeout: def.connect_timeout,
            balancer,
            metrics,
            tls,
            def_tls: def.tls.clone(),
        })
    }

    fn client_fits(&self, def: &Cluster) -> bool {
        self.protocol == def.protocol
            && self.connect_timeout == def.connect_timeout
            && self.def_tls == def.tls
    }

    /// A connector to `addr` with this cluster's timeout and TLS.
    pub fn connector(&self, addr: SocketAddr) -> EndpointConnector {
        EndpointConnector::new(addr, self.connect_timeout, self.tls.clone())
    }
}

impl EndpointConnector {
    pub fn new(
        addr: SocketAddr,
        connect_timeout: Duration,
        tls: Option<UpstreamTlsConnector>,
    ) -> Self {
        Self {
            addr,
            connect_timeout,
            tls,
        }
    }

    /// Connects to the endpoint with the cluster's connect timeout and `TCP_NODELAY`, then
    /// does the mTLS handshake when the cluster asks for it: a server whose SVID is not one of
    /// the expected identities fails here, before a byte of the request is sent.
    pub async fn connect(&self) -> Result<MeshStream, ConnectError> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| {
                ConnectError::Tcp(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connect to {} timed out after {:?}",
                        self.addr, self.connect_timeout
                    ),
                ))
            })?
            .map_err(ConnectError::Tcp)?;
        stream.set_nodelay(true).map_err(ConnectError::Tcp)?;
        let Some(tls) = &self.tls else {
            return Ok(MeshStream::Plain(stream));
        };
        let handshake = tls.connector.connect(tls.sni.clone(), stream);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(Ok(s)) => Ok(MeshStream::Client(Box::new(s))),
            Ok(Err(e)) => Err(ConnectError::Tls(e)),
            Err(_) => Err(ConnectError::Tls(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("mtls handshake with {} timed out", self.addr),
            ))),
        }
    }
}

impl ConnectError {
    pub fn is_tls(&self) -> bool {
        matches!(self, Self::Tls(_))
    }
}

impl tower::Service<Uri> for EndpointConnector {
    type Response = TokioIo<MeshStream>;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<TokioIo<MeshStream>, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect().await.map(TokioIo::new) })
    }
}

fn http_client(
    def: &Cluster,
    addr: SocketAddr,
    tls: Option<UpstreamTlsConnector>,
) -> UpstreamClient {
    let connector = EndpointConnector::new(addr, def.connect_timeout, tls);
    if def.protocol != UpstreamProtocol::Http2 {
        return UpstreamClient::Http1(Http1Pool::new(connector));
    }
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .http2_only(true)
        .http2_initial_stream_window_size(H2_STREAM_WINDOW)
        .http2_initial_connection_window_size(H2_CONNECTION_WINDOW);
    UpstreamClient::Http2(Box::new(builder.build(connector)))
}

fn authority(addr: SocketAddr) -> Authority {
    // A SocketAddr always formats as a valid authority (`1.2.3.4:80`, `[::1]:80`).
    addr.to_string()
        .parse()
        .unwrap_or_else(|_| Authority::from_static("invalid"))
}
