//! Services and their endpoints.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::ServiceName;

/// How long a proxy waits for a TCP connection to an endpoint, as Consul's
/// `ConnectTimeoutMs` default (5 s).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The application protocol a service speaks, with Consul's spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Opaque bytes: the proxy balances connections.
    #[default]
    Tcp,
    /// HTTP/1.1 (HTTP/2 from downstream is accepted and translated).
    Http,
    /// HTTP/2 to the upstream (h2c inside the mesh).
    Http2,
    /// gRPC: HTTP/2 with trailers.
    Grpc,
}

/// A protocol name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}; expected one of tcp, http, http2, grpc")]
pub struct ProtocolError(pub String);

impl Protocol {
    pub const ALL: [Protocol; 4] = [Self::Tcp, Self::Http, Self::Http2, Self::Grpc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Http => "http",
            Self::Http2 => "http2",
            Self::Grpc => "grpc",
        }
    }

    /// Whether the proxy routes requests (L7) rather than connections.
    pub fn is_http(self) -> bool {
        !matches!(self, Self::Tcp)
    }

    /// Whether the upstream connection speaks HTTP/2.
    pub fn is_http2(self) -> bool {
        matches!(self, Self::Http2 | Self::Grpc)
    }
}

impl FromStr for Protocol {
    type Err = ProtocolError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| ProtocolError(s.to_owned()))
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a proxy spreads requests over a service's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    #[default]
    RoundRobin,
    /// Power of two random choices, the one with fewer requests in flight wins.
    LeastRequest,
}

impl LbPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RoundRobin => "round_robin",
            Self::LeastRequest => "least_request",
        }
    }
}

/// What a service's sidecar accepts on its inbound port when the mesh runs mTLS, with Consul's
/// `MutualTLSMode` spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MutualTlsMode {
    /// mTLS only.
    #[default]
    Strict,
    /// mTLS or plaintext, while callers move into the mesh.
    Permissive,
}

/// A mutual TLS mode name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mutual tls mode {0:?}; expected strict or permissive")]
pub struct MutualTlsModeError(pub String);

impl MutualTlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "strict",
            Self::Permissive => "permissive",
        }
    }
}

impl FromStr for MutualTlsMode {
    type Err = MutualTlsModeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Self::Strict, Self::Permissive]
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| MutualTlsModeError(s.to_owned()))
    }
}

/// Health of an endpoint, with Consul's check states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    #[default]
    Passing,
    /// Still receives traffic, as in Consul.
    Warning,
    Critical,
    /// Draining: no new traffic.
    Maintenance,
}

impl Health {
    /// Whether a proxy may send new traffic to an endpoint in this state.
    pub fn is_serving(self) -> bool {
        matches!(self, Self::Passing | Self::Warning)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passing => "passing",
            Self::Warning => "warning",
            Self::Critical => "critical",
            Self::Maintenance => "maintenance",
        }
    }
}

/// Where an endpoint runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Locality {
    pub region: String,
    pub zone: String,
}

/// One instance of a service, as callers reach it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The instance this endpoint belongs to (Consul's service ID).
    pub instance: String,
    /// Where mesh traffic for this instance goes: its sidecar's inbound
    /// listener when it has one, else the application itself.
    pub address: SocketAddr,
    pub health: Health,
    pub locality: Locality,
    pub metadata: BTreeMap<String, String>,
    /// Whether `address` is a mesh sidecar's inbound listener (which speaks mTLS) rather than
    /// the application itself. With mTLS on, callers only get sidecar endpoints, as Consul's
    /// `/v1/health/connect/:service` only lists connect proxies.
    #[serde(default)]
    pub sidecar: bool,
    /// The instance's tags (Consul's `Service.Tags`), which `service-resolver` subset
    /// filters such as `"v2" in Service.Tags` select on.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A service and every endpoint known for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: ServiceName,
    pub protocol: Protocol,
    pub lb_policy: LbPolicy,
    pub connect_timeout: Duration,
    /// Whether the service's sidecars also take plaintext connections (Consul's
    /// `MutualTLSMode`).
    #[serde(default)]
    pub mutual_tls_mode: MutualTlsMode,
    pub endpoints: Vec<Endpoint>,
}

impl Service {
    /// A service with no endpoints and the defaults for everything else.
    pub fn new(name: ServiceName, protocol: Protocol) -> Self {
        Self {
            name,
            protocol,
            lb_policy: LbPolicy::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            mutual_tls_mode: MutualTlsMode::default(),
            endpoints: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_round_trips() {
        for p in Protocol::ALL {
            assert_eq!(p.as_str().parse::<Protocol>(), Ok(p));
        }
        assert_eq!(
            "udp".parse::<Protocol>(),
            Err(ProtocolError("udp".to_owned()))
        );
    }

    #[test]
    fn serving_states() {
        assert!(Health::Passing.is_serving());
        assert!(Health::Warning.is_serving());
        assert!(!Health::Critical.is_serving());
        assert!(!Health::Maintenance.is_serving());
    }
}
