//! The xDS vocabulary Pilot and the proxy share: resource types, their type URLs, and packing into `Any`.

use std::fmt;

use envoy_types::pb::google::protobuf::Any;
use prost::Message;

pub use envoy_types::pb::envoy::config::cluster::v3::Cluster;
pub use envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment;
pub use envoy_types::pb::envoy::config::listener::v3::Listener;
pub use envoy_types::pb::envoy::config::route::v3::RouteConfiguration;

/// Type URL of `envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`.
pub const HTTP_CONNECTION_MANAGER: &str = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
/// Type URL of `envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`.
pub const TCP_PROXY: &str =
    "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
/// Type URL of `envoy.extensions.filters.http.router.v3.Router`.
pub const ROUTER: &str = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router";
/// Type URL of `envoy.extensions.upstreams.http.v3.HttpProtocolOptions`.
pub const HTTP_PROTOCOL_OPTIONS: &str =
    "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/// The key under which a cluster carries its `HttpProtocolOptions`.
pub const HTTP_PROTOCOL_OPTIONS_KEY: &str =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
/// Filter names, as Envoy's well-known names.
pub const HTTP_CONNECTION_MANAGER_NAME: &str = "envoy.filters.network.http_connection_manager";
pub const TCP_PROXY_NAME: &str = "envoy.filters.network.tcp_proxy";
pub const ROUTER_NAME: &str = "envoy.filters.http.router";

/// Type URL of `envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`: mTLS from a
/// proxy to the endpoints of a cluster.
pub const UPSTREAM_TLS_CONTEXT: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext";
/// Type URL of `envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`: mTLS on a
/// proxy's inbound listener.
pub const DOWNSTREAM_TLS_CONTEXT: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext";
/// Type URL of `envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`.
pub const TLS_INSPECTOR: &str =
    "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector";
/// Name of the TLS transport socket, as Envoy's well-known name.
pub const TLS_TRANSPORT_SOCKET_NAME: &str = "envoy.transport_sockets.tls";
/// Name of the listener filter that tells TLS from plaintext by the first bytes (permissive
/// mTLS), as Envoy's well-known name.
pub const TLS_INSPECTOR_NAME: &str = "envoy.filters.listener.tls_inspector";
/// `filter_chain_match.transport_protocol` of a chain taking connections that start with a TLS
/// ClientHello (set by the TLS inspector).
pub const TRANSPORT_PROTOCOL_TLS: &str = "tls";
/// `filter_chain_match.transport_protocol` of a chain taking plaintext connections.
pub const TRANSPORT_PROTOCOL_RAW: &str = "raw_buffer";
/// SDS name of the proxy's own workload certificate and key (its SVID from Citadel). Secrets
/// are referenced by name only (no `sds_config`): the proxy holds them itself. Istio uses the
/// same name.
pub const WORKLOAD_CERT_SECRET: &str = "default";
/// SDS name of the trust bundle (the roots that peers' SVIDs must chain to), as Istio names it.
pub const TRUST_BUNDLE_SECRET: &str = "ROOTCA";
/// Name of the plaintext transport socket, as Envoy's well-known name.
pub const RAW_BUFFER_TRANSPORT_SOCKET_NAME: &str = "envoy.transport_sockets.raw_buffer";
/// Same as [`TRANSPORT_PROTOCOL_RAW`].
pub const TRANSPORT_PROTOCOL_RAW_BUFFER: &str = TRANSPORT_PROTOCOL_RAW;

/// The resource types of the aggregated stream, in the order Envoy subscribes to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Cluster,
    Endpoint,
    Listener,
    Route,
}

impl ResourceType {
    pub const ALL: [ResourceType; 4] = [Self::Cluster, Self::Endpoint, Self::Listener, Self::Route];

    pub fn type_url(self) -> &'static str {
        match self {
            Self::Cluster => "type.googleapis.com/envoy.config.cluster.v3.Cluster",
            Self::Endpoint => "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
            Self::Listener => "type.googleapis.com/envoy.config.listener.v3.Listener",
            Self::Route => "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        }
    }

    pub fn from_type_url(url: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.type_url() == url)
    }

    /// The short name `istioctl` and Envoy's admin use: CDS, EDS, LDS, RDS.
    pub fn short(self) -> &'static str {
        match self {
            Self::Cluster => "CDS",
            Self::Endpoint => "EDS",
            Self::Listener => "LDS",
            Self::Route => "RDS",
        }
    }

    /// Whether a client subscribes to every resource of this type (`*`) rather than by name.
    pub fn is_wildcard(self) -> bool {
        matches!(self, Self::Cluster | Self::Listener)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.short())
    }
}

/// An `Any` that does not hold what it claims.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AnyError {
    #[error("expected a resource of type {expected}, got {got}")]
    WrongType { expected: String, got: String },
    #[error("cannot decode {type_url}: {reason}")]
    Decode { type_url: String, reason: String },
}

/// Packs a message with its type URL.
pub fn pack<M: Message>(type_url: &str, msg: &M) -> Any {
    Any {
        type_url: type_url.to_owned(),
        value: msg.encode_to_vec(),
    }
}

/// Unpacks `any`, checking its type URL first.
pub fn unpack<M: Message + Default>(expected: &str, any: &Any) -> Result<M, AnyError> {
    if any.type_url != expected {
        return Err(AnyError::WrongType {
            expected: expected.to_owned(),
            got: any.type_url.clone(),
        });
    }
    M::decode(any.value.as_slice()).map_err(|e| AnyError::Decode {
        type_url: expected.to_owned(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_urls_round_trip() {
        for t in ResourceType::ALL {
            assert_eq!(ResourceType::from_type_url(t.type_url()), Some(t));
        }
        assert_eq!(ResourceType::from_type_url("type.googleapis.com/x"), None);
    }

    #[test]
    fn unpack_checks_type() {
        let c = Cluster {
            name: "api".into(),
            ..Default::default()
        };
        let any = pack(ResourceType::Cluster.type_url(), &c);
        let back: Cluster = unpack(ResourceType::Cluster.type_url(), &any).unwrap();
        assert_eq!(back.name, "api");
        assert!(matches!(
            unpack::<Cluster>(ResourceType::Listener.type_url(), &any),
            Err(AnyError::WrongType { .. })
        ));
        let bad = Any {
            type_url: ResourceType::Cluster.type_url().into(),
            value: vec![0xff, 0xff, 0xff],
        };
        assert!(matches!(
            unpack::<Cluster>(ResourceType::Cluster.type_url(), &bad),
            Err(AnyError::Decode { .. })
        ));
    }
}
