//! Errors: starting the proxy, applying a configuration, and forwarding one request.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use http::StatusCode;
use rigging_proxy_config::ConfigError;

/// Boxed cause of a forwarding failure.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    #[error("cannot bind the admin listener on {addr}")]
    AdminBind {
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("invalid pilot address {pilot:?}: {reason}")]
    Pilot { pilot: String, reason: String },
}

/// Why a configuration was rejected; the previous configuration keeps serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error("listener {listener:?}: cannot bind {addr}")]
    Bind {
        listener: String,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Decode(#[from] ConfigError),
    #[error("{resource}: mTLS")]
    Tls {
        resource: String,
        #[source]
        source: rigging_proxy_tls::TlsError,
    },
    #[error("the proxy is shutting down")]
    ShuttingDown,
}

/// Where a forwarding failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorSource {
    /// The client side: a malformed request, a client that went away.
    Downstream,
    /// The upstream endpoint: refused, reset, too slow.
    Upstream,
    /// The proxy's own configuration or state: no route, no cluster, no endpoint.
    Proxy,
}

/// What went wrong while forwarding; each kind has a reason code, a status and a retry rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The listener's route configuration has not arrived (RDS).
    NoRouteConfig,
    /// No virtual host or route matches the request.
    NoRoute,
    /// The route names a cluster that is not configured (CDS).
    NoCluster,
    /// The cluster has no endpoint that takes traffic.
    NoHealthyUpstream,
    /// The TCP connection to the endpoint failed or timed out.
    ConnectFailed,
    /// The upstream did not send response headers within the route timeout.
    UpstreamTimeout,
    /// The upstream connection broke before a response arrived.
    UpstreamReset,
    /// The request cannot be forwarded as sent.
    BadRequest,
    /// The request asks for a protocol upgrade the listener does not allow.
    UpgradeRefused,
}

/// One failed forwarding attempt: what, where, whether a retry may help, and why.
#[derive(Debug, thiserror::Error)]
#[error("{kind} ({source_side:?}): {detail}")]
pub struct ForwardError {
    kind: ErrorKind,
    source_side: ErrorSource,
    retryable: bool,
    detail: Cow<'static, str>,
    #[source]
    cause: Option<BoxError>,
}

impl ErrorKind {
    /// The value of the `x-rigging-error` response header.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoRouteConfig => "no_route_config",
            Self::NoRoute => "no_route",
            Self::NoCluster => "no_cluster",
            Self::NoHealthyUpstream => "no_healthy_upstream",
            Self::ConnectFailed => "connect_failed",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::UpstreamReset => "upstream_reset",
            Self::BadRequest => "bad_request",
            Self::UpgradeRefused => "upgrade_refused",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::NoRouteConfig
            | Self::NoCluster
            | Self::NoHealthyUpstream
            | Self::ConnectFailed => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::UpstreamReset => StatusCode::BAD_GATEWAY,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            // As Envoy answers an upgrade it is not configured for.
            Self::UpgradeRefused => StatusCode::FORBIDDEN,
        }
    }

    fn source_side(self) -> ErrorSource {
        match self {
            Self::NoRouteConfig | Self::NoRoute | Self::NoCluster | Self::NoHealthyUpstream => {
                ErrorSource::Proxy
            }
            Self::ConnectFailed | Self::UpstreamTimeout | Self::UpstreamReset => {
                ErrorSource::Upstream
            }
            Self::BadRequest | Self::UpgradeRefused => ErrorSource::Downstream,
        }
    }

    /// A connect failure never reached the upstream, so another endpoint may be tried; the
    /// other kinds either will not change on retry or may have had side effects upstream.
    fn retryable(self) -> bool {
        matches!(self, Self::ConnectFailed | Self::NoHealthyUpstream)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl ForwardError {
    pub fn new(kind: ErrorKind, detail: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            source_side: kind.source_side(),
            retryable: kind.retryable(),
            detail: detail.into(),
            cause: None,
        }
    }

    pub fn with_cause(mut self, cause: impl Into<BoxError>) -> Self {
        self.cause = Some(cause.into());
        self
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn source_side(&self) -> ErrorSource {
        self.source_side
    }

    pub fn retryable(&self) -> bool {
        self.retryable
    }

    pub fn detail(&self) -> &str {
        &self.detail
    }
}
