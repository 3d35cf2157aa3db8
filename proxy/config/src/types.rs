//! Model types the data plane runs on. No xDS types leak past this crate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

mod policy;
mod route;

pub use policy::*;
pub use route::*;

/// Which way a listener's traffic flows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Mesh traffic arriving for the local application.
    Inbound,
    /// The local application calling an upstream.
    Outbound,
}

/// One listening socket and what it does with connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub name: String,
    pub addr: SocketAddr,
    pub direction: Direction,
    pub kind: ListenerKind,
    /// How connections are secured; `None` is plaintext only (outbound listeners, a mesh
    /// without Citadel).
    pub tls: Option<InboundTls>,
}

/// TLS the proxy terminates on a listener with its workload certificate: mesh mTLS (a client
/// SVID of the trust domain required), or an ingress gateway's TLS to clients outside the
/// mesh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundTls {
    pub mode: InboundTlsMode,
    /// ALPN protocols accepted, most preferred first (`h2`, `http/1.1`).
    pub alpn: Vec<String>,
    /// Who may connect.
    pub clients: TlsClients,
}

/// Who may connect to a TLS listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum TlsClients {
    /// Mesh peers: TLS 1.3 and a client SVID of the trust domain.
    Mesh,
    /// Any client, without a certificate (an ingress gateway's TLS listener).
    Public(PublicTls),
}

/// The versions and TLS 1.2 cipher suites a public TLS listener accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicTls {
    pub min_version: TlsVersion,
    pub max_version: TlsVersion,
    /// TLS 1.2 cipher suites, by Envoy's (OpenSSL's) names, most preferred first; empty is
    /// the proxy's defaults. TLS 1.3 suites are not configurable.
    pub cipher_suites: Vec<String>,
    /// The certificate for any server name (or none); `None` when only `by_server_name`
    /// has some, and a handshake naming none of theirs fails.
    pub certificate: Option<PublicCertificate>,
    /// Certificates chosen by the client's SNI (a service's own, in an ingress gateway),
    /// before `certificate`.
    pub by_server_name: Vec<NamedCertificate>,
}

/// A certificate served when the client's SNI is one of `server_names` (exact, or `*.` one
/// label deep).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedCertificate {
    pub server_names: Vec<String>,
    pub certificate: PublicCertificate,
}

/// The certificate a public TLS listener presents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum PublicCertificate {
    /// The workload certificate (Citadel names the gateway's hosts in it).
    Workload,
    /// Secret `resource` from the SDS server the proxy knows as `cluster`.
    Sds { cluster: String, resource: String },
}

/// A TLS version the proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TlsVersion {
    #[serde(rename = "TLSv1_2")]
    V1_2,
    #[serde(rename = "TLSv1_3")]
    V1_3,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InboundTlsMode {
    /// Only mTLS: a plaintext connection is closed before anything reaches the application.
    Strict,
    /// mTLS or plaintext, told apart by the first bytes (a TLS ClientHello or not), for
    /// migrating a service into the mesh.
    Permissive,
}

/// How a cluster secures its connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ClusterTls {
    /// Mesh mTLS to sidecars and gateways.
    Mesh(UpstreamTls),
    /// TLS to a service outside the mesh, from a terminating gateway.
    Origination(OriginationTls),
}

/// TLS to a service outside the mesh (a terminating gateway's `CAFile`, `CertFile`,
/// `KeyFile` and `SNI`): the server's chain checked against the CA file, TLS 1.2 or 1.3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OriginationTls {
    /// PEM file of the CA certificates the server's chain must lead to.
    pub ca_file: PathBuf,
    /// The certificate the proxy presents, when the server asks for one.
    pub client_certificate: Option<CertificateFiles>,
    /// The server name sent; without one, none is sent (the endpoints are addresses).
    pub sni: Option<String>,
    /// DNS names one of which the server's certificate must be valid for; empty checks the
    /// chain alone (Consul's behaviour without `SNI`).
    pub verify_names: Vec<String>,
    /// ALPN protocols offered, most preferred first; may be empty.
    pub alpn: Vec<String>,
}

/// A certificate chain and its private key, as PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateFiles {
    pub certificate_chain: PathBuf,
    pub private_key: PathBuf,
}

/// Outbound mTLS to a cluster's endpoints: TLS 1.3 with the workload certificate, the server's
/// SVID checked against the identities Pilot says the destination has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamTls {
    /// SPIFFE IDs the server may present (one of them); never empty.
    pub expected_ids: Vec<String>,
    /// The SNI sent (the destination service's name), for logs on the server side.
    pub sni: String,
    /// ALPN protocols offered, most preferred first (`h2`, `http/1.1`).
    pub alpn: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum ListenerKind {
    /// HTTP/1.1 and h2c, routed by the named `RouteConfig` (RDS).
    Http {
        route_config: String,
        /// Whether WebSocket upgrades are forwarded (`upgrade_configs` names `websocket`);
        /// other upgrades are refused, as Envoy does.
        websocket: bool,
        /// Whether `http_filters` holds `envoy.filters.http.fault` before the router: only then
        /// do routes' [`Route::fault`] apply.
        fault_filter: bool,
    },
    /// Raw TCP to one cluster.
    Tcp { cluster: String },
    /// Raw TCP to the cluster the mTLS client names in SNI (a terminating gateway); a
    /// connection naming none of them is closed.
    Sni { routes: Vec<SniRoute> },
}

/// One filter chain of an SNI listener: the server names it takes and where they go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SniRoute {
    pub server_names: Vec<String>,
    pub cluster: String,
}

/// A route table (RDS resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteConfig {
    pub name: String,
    pub virtual_hosts: Vec<VirtualHost>,
}

/// Routes for a set of `Host`/`:authority` values; `*` matches any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VirtualHost {
    pub name: String,
    pub domains: Vec<String>,
    /// In order: the first route that matches wins.
    pub routes: Vec<Route>,
}

/// An upstream cluster (CDS resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cluster {
    pub name: String,
    pub lb_policy: LbPolicy,
    pub connect_timeout: Duration,
    pub protocol: UpstreamProtocol,
    pub discovery: Discovery,
    /// TLS to the endpoints; `None` is plaintext (the local application, a mesh without
    /// Citadel).
    pub tls: Option<ClusterTls>,
    /// Limits on the cluster's connections and requests; Envoy's defaults when absent.
    pub circuit_breakers: CircuitBreakers,
    /// Passive health checking; `None` never ejects an endpoint.
    pub outlier_detection: Option<OutlierDetection>,
}

/// The HTTP version spoken to a cluster's endpoints (TCP clusters ignore it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamProtocol {
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    Http2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Discovery {
    /// Endpoints come from the `ClusterLoadAssignment` of the same name.
    Eds,
    /// Endpoints are inline in the cluster (the inbound cluster to the local application).
    Static(Vec<Endpoint>),
}

/// The endpoints of one cluster (EDS resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClusterEndpoints {
    pub cluster: String,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub addr: SocketAddr,
    pub health: EndpointHealth,
    pub locality: Locality,
    /// Relative load-balancing weight, at least 1.
    pub weight: u32,
    pub metadata: BTreeMap<String, String>,
    /// The `LocalityLbEndpoints.priority` it came in: 0 is the primary target, 1, 2, … the
    /// failover targets in the order they are tried.
    pub priority: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointHealth {
    Healthy,
    Degraded,
    Unhealthy,
    Draining,
    Unknown,
}

impl EndpointHealth {
    /// Whether new requests and connections may go to the endpoint (Envoy's rule: healthy,
    /// degraded and unknown endpoints take traffic).
    pub fn is_serving(self) -> bool {
        matches!(self, Self::Healthy | Self::Degraded | Self::Unknown)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Locality {
    pub region: String,
    pub zone: String,
}

/// Everything a proxy runs on: the accepted resources of every type, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProxyConfig {
    pub listeners: BTreeMap<String, Listener>,
    pub routes: BTreeMap<String, RouteConfig>,
    pub clusters: BTreeMap<String, Cluster>,
    pub endpoints: BTreeMap<String, ClusterEndpoints>,
}
