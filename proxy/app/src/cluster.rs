//! A cluster at runtime: its balancer over endpoints by priority, its outlier detection,
//! circuit breaker and retry budget, its pooled HTTP clients, its metrics.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::Authority;
use rigging_proxy_balance::{Balancer, Endpoint as Balanced, Options, Policy, PolicyError};
use rigging_proxy_config::{Cluster, ClusterTls, Endpoint, LbPolicy, UpstreamProtocol};
use rigging_proxy_resilience::{Limit, Outcome, Overflow, Permit, RetryBudget};
use rigging_proxy_tls::{
    HANDSHAKE_TIMEOUT, MeshStream, MeshTls, OriginationFiles, TlsError, origination_config,
};
use rustls_pki_types::ServerName;
use serde::Serialize;
use tokio_rustls::TlsConnector;

use crate::error::ForwardError;
use crate::metrics::ClusterMetrics;
use crate::pool::{Http1Pool, Http2Pool};

mod limits;
mod outlier;

pub(crate) use limits::Limits;
pub(crate) use outlier::Outlier;
pub(crate) use rigging_proxy_balance::Pick;

/// HTTP/2 flow-control windows towards upstreams: larger than the 64 KiB default so one stream
/// can fill a fast local link without waiting for window updates.
const H2_STREAM_WINDOW: u32 = 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

/// A request's place within the cluster's `max_requests`, held until its response ends.
pub(crate) type RequestPermit = Permit;

/// Why a cluster's configuration cannot be put to work.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClusterError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Why a connection to an endpoint could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    #[error("tcp connect failed")]
    Tcp(#[source] io::Error),
    #[error("mtls handshake with the endpoint failed")]
    Tls(#[source] io::Error),
}

/// How a cluster secures its connections: the rustls config expecting the destination's
/// identities, and the SNI sent (without one, the endpoint's address, which sends none).
#[derive(Clone)]
pub(crate) struct UpstreamTlsConnector {
    connector: TlsConnector,
    sni: Option<ServerName<'static>>,
}

impl std::fmt::Debug for UpstreamTlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTlsConnector")
            .field("sni", &self.sni)
            .finish_non_exhaustive()
    }
}

/// How requests reach one endpoint: a LIFO pool of connections for HTTP/1.1, one multiplexed
/// connection for HTTP/2.
#[derive(Debug, Clone)]
pub(crate) enum UpstreamClient {
    Http1(Arc<Http1Pool>),
    Http2(Arc<Http2Pool>),
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
    /// Endpoints by priority, skipping those outlier detection ejected. Pick through
    /// [`ClusterState::pick`], which sweeps ejections first.
    pub balancer: Balancer<Upstream>,
    pub metrics: ClusterMetrics,
    /// mTLS to every endpoint, when the cluster asks for it.
    pub tls: Option<UpstreamTlsConnector>,
    def_tls: Option<ClusterTls>,
    limits: Limits,
    outlier: Option<Arc<Outlier>>,
    retry_budget: RetryBudget,
}

/// A cluster's runtime state as `/config_dump` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct ClusterDump {
    lb_policy: String,
    endpoints: Vec<EndpointDump>,
    /// Addresses of the endpoints outlier detection ejected now.
    ejected: Vec<SocketAddr>,
    /// Units of each circuit-breaker limit held now.
    connections: u32,
    pending_requests: u32,
    requests: u32,
    active_retries: u32,
}

#[derive(Debug, Serialize)]
struct EndpointDump {
    addr: SocketAddr,
    priority: u32,
    ejected: bool,
    in_flight: usize,
}

impl ClusterState {
    /// Builds the state of `def` over `endpoints`. When `previous` has the same protocol and
    /// connect timeout (and TLS settings and breaker limits), endpoints it already had keep their
    /// client (and so their pooled connections). The circuit breaker, retry budget and outlier
    /// detection state of `previous` carry over when their settings are unchanged. `mesh` builds
    /// the TLS config of a cluster that asks for mTLS.
    pub fn new(
        def: &Cluster,
        endpoints: &[Endpoint],
        previous: Option<&ClusterState>,
        metrics: ClusterMetrics,
        mesh: Option<&MeshTls>,
    ) -> Result<Self, ClusterError> {
        let (policy, options) = balancer_policy(def.lb_policy)?;
        let tls = match (&def.tls, mesh) {
            (None, _) => None,
            (Some(ClusterTls::Mesh(t)), Some(mesh)) => Some(UpstreamTlsConnector {
                connector: TlsConnector::from(mesh.client_config(&t.expected_ids, &t.alpn)?),
                sni: Some(server_name(&t.sni)?),
            }),
            (Some(ClusterTls::Mesh(_)), None) => return Err(TlsError::NotConfigured.into()),
            (Some(ClusterTls::Origination(o)), _) => Some(UpstreamTlsConnector {
                connector: TlsConnector::from(origination_config(OriginationFiles {
                    ca_file: &o.ca_file,
                    client_certificate: o
                        .client_certificate
                        .as_ref()
                        .map(|c| (c.certificate_chain.as_path(), c.private_key.as_path())),
                    verify_names: &o.verify_names,
                    alpn: &o.alpn,
                })?),
                sni: o.sni.as_deref().map(server_name).transpose()?,
            }),
        };
        let limits = Limits::new(
            &def.circuit_breakers,
            previous.map(|p| &p.limits),
            metrics.clone(),
        );
        let retry_budget =
            limits::retry_budget(&def.circuit_breakers, previous.map(|p| &p.retry_budget));
        let outlier = def.outlier_detection.as_ref().map(|od| {
            Outlier::new(
                &def.name,
                od,
                endpoints.iter().map(|e| e.addr).collect(),
                previous.and_then(|p| p.outlier.as_deref()),
                metrics.clone(),
            )
        });
        if outlier.is_none() {
            metrics.ejections_active.set(0);
        }
        let reusable = previous.filter(|p| p.client_fits(def, &limits));
        let reuse = |addr: SocketAddr| {
            reusable?
                .balancer
                .endpoints()
                .iter()
                .find(|u| u.addr == addr)
                .map(|u| u.client.clone())
        };
        let balancer = Balancer::with_options(
            policy,
            Options {
                ejections: outlier.as_ref().map(|o| o.ejections()),
                ..options
            },
            endpoints.iter().map(|e| Balanced {
                value: Upstream {
                    addr: e.addr,
                    authority: authority(e.addr),
                    client: reuse(e.addr)
                        .unwrap_or_else(|| http_client(def, e.addr, tls.clone(), &limits)),
                },
                serving: e.health.is_serving(),
                weight: e.weight,
                priority: e.priority,
                // Envoy's key for ring hash and Maglev, so that both place endpoints alike.
                hash_key: e.addr.to_string(),
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
            limits,
            outlier,
            retry_budget,
        })
    }

    fn client_fits(&self, def: &Cluster, limits: &Limits) -> bool {
        self.protocol == def.protocol
            && self.connect_timeout == def.connect_timeout
            && self.def_tls == def.tls
            // Pools take their connection permits from the breaker they were built with.
            && self.limits.breaker().limits() == limits.breaker().limits()
    }

    /// Circuit breaker: a permit for one request (`max_requests`), held until its response
    /// ends; an error when the breaker is open, to be answered 503 at once.
    pub(crate) fn admit(&self) -> Result<RequestPermit, ForwardError> {
        self.limits
            .try_acquire(Limit::Requests)
            .map_err(|o| ForwardError::overflow(&self.name, o))
    }

    /// A permit for one new upstream connection (`max_connections`), held for the connection's
    /// life.
    pub(crate) fn try_connection(&self) -> Result<Permit, Overflow> {
        self.limits.try_acquire(Limit::Connections)
    }

    /// Chooses an endpoint: the lowest priority with a serving, non-ejected endpoint, then the
    /// cluster's policy (ring hash and Maglev by `hash`, at random without one). Returns
    /// ejected endpoints whose time is up first.
    pub(crate) fn pick(&self, hash: Option<u64>) -> Option<Pick<'_, Upstream>> {
        if let Some(outlier) = &self.outlier {
            outlier.maybe_sweep();
        }
        self.balancer.pick_hashed(hash)
    }

    /// The outcome of one attempt on the endpoint at `index`, for outlier detection.
    pub(crate) fn record(&self, index: usize, outcome: Outcome) {
        if let Some(outlier) = &self.outlier {
            outlier.record(index, outcome);
        }
    }

    /// The cluster's retry budget (Envoy's 20 % / at least 3 when the config has none).
    pub(crate) fn retry_budget(&self) -> &RetryBudget {
        &self.retry_budget
    }

    /// Whether outlier detection ejected the endpoint at `index`.
    pub(crate) fn is_ejected(&self, index: usize) -> bool {
        self.outlier.as_ref().is_some_and(|o| o.is_ejected(index))
    }

    /// Called once a newer state of the cluster serves: this one's outlier timer stops.
    pub(crate) fn retire(&self) {
        if let Some(outlier) = &self.outlier {
            outlier.retire();
        }
    }

    /// A connector to `addr` with this cluster's timeout and TLS.
    pub fn connector(&self, addr: SocketAddr) -> EndpointConnector {
        EndpointConnector::new(addr, self.connect_timeout, self.tls.clone())
    }

    /// The runtime view for `/config_dump`.
    pub(crate) fn dump(&self) -> ClusterDump {
        let endpoints: Vec<EndpointDump> = self
            .balancer
            .endpoints()
            .iter()
            .enumerate()
            .map(|(i, u)| EndpointDump {
                addr: u.addr,
                priority: self.balancer.priority(i).unwrap_or_default(),
                ejected: self.is_ejected(i),
                in_flight: self.balancer.in_flight(i),
            })
            .collect();
        let breaker = self.limits.breaker();
        ClusterDump {
            lb_policy: format!("{:?}", self.balancer.policy()),
            ejected: endpoints
                .iter()
                .filter(|e| e.ejected)
                .map(|e| e.addr)
                .collect(),
            endpoints,
            connections: breaker.in_use(Limit::Connections),
            pending_requests: breaker.in_use(Limit::PendingRequests),
            requests: breaker.in_use(Limit::Requests),
            active_retries: self.retry_budget.active_retries(),
        }
    }
}

/// The balancer policy and options of `lb`, checked as Envoy checks them.
fn balancer_policy(lb: LbPolicy) -> Result<(Policy, Options), PolicyError> {
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let mut options = Options::default();
    let policy = match lb {
        LbPolicy::RoundRobin => Policy::RoundRobin,
        LbPolicy::LeastRequest { choice_count } => {
            options.choice_count = choice_count.get();
            Policy::LeastRequest
        }
        LbPolicy::Random => Policy::Random,
        LbPolicy::RingHash {
            minimum_ring_size,
            maximum_ring_size,
        } => Policy::RingHash {
            min_ring_size: size(minimum_ring_size),
            max_ring_size: size(maximum_ring_size),
        },
        LbPolicy::Maglev => Policy::MAGLEV_DEFAULT,
    };
    policy.validate()?;
    options.validate()?;
    Ok((policy, options))
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

    /// Connects to the endpoint with the cluster's connect timeout and `TCP_NODELAY` (a socket
    /// connected to itself refused: see `rigging_mesh_net`), then
    /// does the mTLS handshake when the cluster asks for it: a server whose SVID is not one of
    /// the expected identities fails here, before a byte of the request is sent.
    pub async fn connect(&self) -> Result<MeshStream, ConnectError> {
        let stream =
            tokio::time::timeout(self.connect_timeout, rigging_mesh_net::connect(self.addr))
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
        let Some(tls) = &self.tls else {
            return Ok(MeshStream::Plain(stream));
        };
        let sni = tls
            .sni
            .clone()
            .unwrap_or_else(|| ServerName::IpAddress(self.addr.ip().into()));
        let handshake = tls.connector.connect(sni, stream);
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

fn server_name(sni: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(sni.to_owned()).map_err(|_| TlsError::BadSni(sni.to_owned()))
}

/// The client of one endpoint. HTTP/1.1 pools take connection and pending-request permits from
/// `limits`; the HTTP/2 client keeps one multiplexed connection per endpoint, whose requests are
/// bounded by `max_requests` alone.
fn http_client(
    def: &Cluster,
    addr: SocketAddr,
    tls: Option<UpstreamTlsConnector>,
    limits: &Limits,
) -> UpstreamClient {
    let connector = EndpointConnector::new(addr, def.connect_timeout, tls);
    if def.protocol != UpstreamProtocol::Http2 {
        return UpstreamClient::Http1(Http1Pool::new(
            connector,
            limits.clone(),
            crate::pool::IDLE_TIMEOUT,
        ));
    }
    let config = rigging_proxy_h2::client::ClientConfig {
        initial_stream_window: H2_STREAM_WINDOW,
        initial_connection_window: H2_CONNECTION_WINDOW,
        ..rigging_proxy_h2::client::ClientConfig::default()
    };
    UpstreamClient::Http2(Http2Pool::new(connector, config))
}

fn authority(addr: SocketAddr) -> Authority {
    // A SocketAddr always formats as a valid authority (`1.2.3.4:80`, `[::1]:80`).
    addr.to_string()
        .parse()
        .unwrap_or_else(|_| Authority::from_static("invalid"))
}

#[cfg(test)]
mod tests;
