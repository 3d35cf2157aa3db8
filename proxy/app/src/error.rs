//! Errors: starting the proxy, applying a configuration, and forwarding one request.

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::SocketAddr;

use http::StatusCode;
use rigging_proxy_config::ConfigError;

/// Envoy's response header on a request refused by a circuit breaker (value `true`), so that
/// callers and their retry logic can tell overload from an upstream failure.
pub(crate) const OVERLOADED_HEADER: &str = "x-envoy-overloaded";

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
    #[error("{resource}: certificate from SDS: {reason}")]
    Sds { resource: String, reason: String },
    #[error("{resource}: load balancing: {source}")]
    Balancer {
        resource: String,
        #[source]
        source: rigging_proxy_balance::PolicyError,
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
    /// No request or response bytes moved for the route's idle timeout before the response
    /// headers (after them, the response body is cut instead).
    IdleTimeout,
    /// The upstream connection broke before a response arrived.
    UpstreamReset,
    /// The request cannot be forwarded as sent.
    BadRequest,
    /// The request asks for a protocol upgrade the listener does not allow.
    UpgradeRefused,
    /// A circuit breaker of the cluster is open (requests, pending requests or connections at
    /// their limit): answered at once, never queued, with [`OVERLOADED_HEADER`].
    Overflow,
    /// The route's fault injection aborted the request before it reached any upstream; the
    /// response carries the configured HTTP status (or gRPC status).
    FaultAbort,
    /// The HTTP/2 upstream refused the stream (`REFUSED_STREAM`) before processing it.
    UpstreamRefusedStream,
    /// A retry was due but the cluster's retry budget refused it, and the last attempt failed
    /// without a response to return.
    RetryBudgetExhausted,
}

/// One failed forwarding attempt: what, where, whether a retry may help, and why.
#[derive(Debug, thiserror::Error)]
#[error("{kind} ({source_side:?}): {detail}")]
pub struct ForwardError {
    kind: ErrorKind,
    source_side: ErrorSource,
    retryable: bool,
    detail: Cow<'static, str>,
    /// The response status when it is not the kind's own (a fault abort's configured status).
    status: Option<StatusCode>,
    /// Answer as gRPC: HTTP 200 with this `grpc-status`, trailers-only.
    grpc_status: Option<u32>,
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
            Self::IdleTimeout => "idle_timeout",
            Self::UpstreamReset => "upstream_reset",
            Self::BadRequest => "bad_request",
            Self::UpgradeRefused => "upgrade_refused",
            Self::Overflow => "upstream_overflow",
            Self::UpstreamRefusedStream => "upstream_refused_stream",
            Self::FaultAbort => "fault_abort",
            Self::RetryBudgetExhausted => "retry_budget_exhausted",
        }
    }

    pub fn status(self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::NoRouteConfig
            | Self::NoCluster
            | Self::NoHealthyUpstream
            | Self::ConnectFailed
            | Self::Overflow
            | Self::RetryBudgetExhausted
            | Self::UpstreamRefusedStream => StatusCode::SERVICE_UNAVAILABLE,
            // The configured status replaces it (`ForwardError::with_status`).
            Self::FaultAbort => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            // Envoy's answer when a stream's idle timeout fires before the response started
            Self::IdleTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::UpstreamReset => StatusCode::BAD_GATEWAY,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            // As Envoy answers an upgrade it is not configured for.
            Self::UpgradeRefused => StatusCode::FORBIDDEN,
        }
    }

    fn source_side(self) -> ErrorSource {
        match self {
            Self::NoRouteConfig
            | Self::NoRoute
            | Self::NoCluster
            | Self::NoHealthyUpstream
            | Self::Overflow
            | Self::FaultAbort => ErrorSource::Proxy,
            Self::ConnectFailed
            | Self::UpstreamTimeout
            | Self::IdleTimeout
            | Self::UpstreamReset
            | Self::UpstreamRefusedStream
            | Self::RetryBudgetExhausted => ErrorSource::Upstream,
            Self::BadRequest | Self::UpgradeRefused => ErrorSource::Downstream,
        }
    }

    /// A connect failure or a refused stream never reached the application, so another
    /// endpoint may be tried; the other kinds either will not change on retry or may have had
    /// side effects upstream.
    fn retryable(self) -> bool {
        matches!(
            self,
            Self::ConnectFailed | Self::NoHealthyUpstream | Self::UpstreamRefusedStream
        )
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
            status: None,
            grpc_status: None,
            cause: None,
        }
    }

    /// Answers with `status` instead of the kind's own.
    pub(crate) fn with_status(mut self, status: StatusCode) -> Self {
        self.status = Some(status);
        self
    }

    /// Answers as a gRPC trailers-only response with `grpc-status: code`.
    pub(crate) fn with_grpc_status(mut self, code: u32) -> Self {
        self.grpc_status = Some(code);
        self.status = Some(StatusCode::OK);
        self
    }

    /// The status the downstream receives.
    pub fn status(&self) -> StatusCode {
        self.status.unwrap_or_else(|| self.kind.status())
    }

    /// The `grpc-status` of a gRPC answer, if the error is answered as gRPC.
    pub fn grpc_status(&self) -> Option<u32> {
        self.grpc_status
    }

    /// A request refused by `cluster`'s circuit breaker; the detail carries the breaker's reason
    /// (`circuit breaker open: requests at their limit of 2`).
    pub(crate) fn overflow(cluster: &str, overflow: rigging_proxy_resilience::Overflow) -> Self {
        Self::new(
            ErrorKind::Overflow,
            format!("cluster {cluster:?}: {overflow}"),
        )
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
