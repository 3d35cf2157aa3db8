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
use tokio::net::TcpStream;

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
}

/// A cluster of one configuration snapshot.
#[derive(Debug)]
pub(crate) struct ClusterState {
    pub name: String,
    pub protocol: UpstreamProtocol,
    pub connect_timeout: Duration,
    pub balancer: Balancer<Upstream>,
    pub metrics: ClusterMetrics,
}

impl ClusterState {
    /// Builds the state of `def` over `endpoints`. When `previous` has the same protocol and
    /// connect timeout, endpoints it already had keep their client (and so their pooled
    /// connections).
    pub fn new(
        def: &Cluster,
        endpoints: &[Endpoint],
        previous: Option<&ClusterState>,
        metrics: ClusterMetrics,
    ) -> Self {
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
                    client: reuse(e.addr).unwrap_or_else(|| http_client(def, e.addr)),
                },
                serving: e.health.is_serving(),
                weight: e.weight,
            }),
        );
        Self {
            name: def.name.clone(),
            protocol: def.protocol,
            connect_timeout: def.connect_timeout,
            balancer,
            metrics,
        }
    }

    fn client_fits(&self, def: &Cluster) -> bool {
        self.protocol == def.protocol && self.connect_timeout == def.connect_timeout
    }
}

impl EndpointConnector {
    pub fn new(addr: SocketAddr, connect_timeout: Duration) -> Self {
        Self {
            addr,
            connect_timeout,
        }
    }

    /// Connects to the endpoint with the cluster's connect timeout and `TCP_NODELAY`.
    pub async fn connect(&self) -> io::Result<TcpStream> {
        let stream = tokio::time::timeout(self.connect_timeout, TcpStream::connect(self.addr))
            .await
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "connect to {} timed out after {:?}",
                        self.addr, self.connect_timeout
                    ),
                )
            })??;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl tower::Service<Uri> for EndpointConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { this.connect().await.map(TokioIo::new) })
    }
}

fn http_client(def: &Cluster, addr: SocketAddr) -> UpstreamClient {
    let connector = EndpointConnector::new(addr, def.connect_timeout);
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
