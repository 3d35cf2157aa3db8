//! Routes: what a request must look like to take one, and what the proxy does with it.

use std::collections::BTreeSet;
use std::fmt;
use std::num::NonZeroU32;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// One route of a virtual host. Every matcher (path, headers, query parameters) must match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub name: String,
    pub path: PathMatch,
    /// Whether `Prefix` and `Exact` paths compare case, as by default; `false` compares them
    /// ignoring ASCII case. A `Regex` path ignores it, as in Envoy.
    pub case_sensitive: bool,
    /// Header matchers, all of which must match; the method is a matcher on `:method`.
    pub headers: Vec<HeaderMatcher>,
    /// Query parameter matchers, all of which must match.
    pub query_parameters: Vec<QueryParameterMatcher>,
    pub action: RouteAction,
    /// Applied to the request after the weighted cluster's own ones.
    pub request_headers: HeaderMutations,
    /// Applied to the response after the weighted cluster's own ones.
    pub response_headers: HeaderMutations,
    /// Faults injected before the request is forwarded (`typed_per_filter_config` of the fault
    /// filter); only listeners with `fault_filter` apply them.
    pub fault: Option<FaultInjection>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathMatch {
    Prefix(String),
    Exact(String),
    /// The whole path, without the query string, matches the regex.
    Regex(Regex),
}

/// An RE2-syntax regex compiled to match a whole value. Compared and serialized by its source.
#[derive(Clone)]
pub struct Regex {
    source: String,
    anchored: regex::Regex,
}

/// A request header matcher. Several values of one header are joined with `,` first, as in Envoy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderMatcher {
    /// Lowercase; `:method` is the only pseudo-header.
    pub name: String,
    pub kind: HeaderMatch,
    /// The result is negated. A missing header matches nothing, inverted or not, except an
    /// inverted `Present` (Envoy's rule).
    pub invert: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderMatch {
    /// The header is present, whatever its value.
    Present,
    Exact(String),
    Prefix(String),
    Suffix(String),
    Regex(Regex),
}

/// A query parameter matcher, on the raw (not percent-decoded) value, as in Envoy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryParameterMatcher {
    pub name: String,
    pub kind: QueryParameterMatch,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryParameterMatch {
    Present,
    Exact(String),
    Regex(Regex),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteAction {
    pub destination: RouteDestination,
    /// Time allowed for the upstream's response headers; `None` disables it (gRPC streams, WebSocket).
    pub timeout: Option<Duration>,
    /// How long the stream may stay with no request or response bytes moving (Envoy's route
    /// `idle_timeout`); `None` (absent or 0) disables it.
    pub idle_timeout: Option<Duration>,
    /// Replaces the matched path prefix (prefix routes only, as in Envoy).
    pub prefix_rewrite: Option<String>,
    pub retry: Option<RetryPolicy>,
    /// Tried in order for a hash key (ring hash and Maglev clusters); empty is no key.
    pub hash_policies: Vec<HashPolicy>,
    /// Clusters sent a copy of a share of the requests; their responses are dropped.
    pub mirrors: Vec<RequestMirror>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteDestination {
    Cluster(String),
    /// One cluster picked per request with probability weight / sum of weights.
    Weighted(Vec<WeightedCluster>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WeightedCluster {
    pub name: String,
    pub weight: NonZeroU32,
    pub request_headers: HeaderMutations,
    pub response_headers: HeaderMutations,
}

/// Headers added then removed. Names are lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HeaderMutations {
    pub add: Vec<HeaderAdd>,
    pub remove: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderAdd {
    pub name: String,
    pub value: String,
    pub action: HeaderAppend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderAppend {
    /// `APPEND_IF_EXISTS_OR_ADD`: one more value (Consul's `Add`).
    Append,
    /// `OVERWRITE_IF_EXISTS_OR_ADD`: replaces any value (Consul's `Set`).
    Overwrite,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryPolicy {
    /// Never empty.
    pub retry_on: BTreeSet<RetryOn>,
    /// Retries after the first attempt.
    pub num_retries: u32,
    /// Retried with [`RetryOn::RetriableStatusCodes`]; each in 100..=599.
    pub retriable_status_codes: BTreeSet<u16>,
}

/// A condition of Envoy's `retry_on`, named by its token in the `Display`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum RetryOn {
    #[serde(rename = "5xx")]
    FiveXx,
    #[serde(rename = "gateway-error")]
    GatewayError,
    #[serde(rename = "reset")]
    Reset,
    #[serde(rename = "connect-failure")]
    ConnectFailure,
    #[serde(rename = "retriable-4xx")]
    Retriable4xx,
    #[serde(rename = "refused-stream")]
    RefusedStream,
    #[serde(rename = "retriable-status-codes")]
    RetriableStatusCodes,
    /// The gRPC ones are matched on the `grpc-status` of the response headers or trailers.
    #[serde(rename = "cancelled")]
    Cancelled,
    #[serde(rename = "deadline-exceeded")]
    DeadlineExceeded,
    #[serde(rename = "internal")]
    Internal,
    #[serde(rename = "resource-exhausted")]
    ResourceExhausted,
    #[serde(rename = "unavailable")]
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HashPolicy {
    pub kind: HashPolicyKind,
    /// When this policy yields a key, the later ones are not consulted.
    pub terminal: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HashPolicyKind {
    /// A request header's value (lowercase name).
    Header(String),
    /// A cookie's value. With `ttl`, the proxy generates the cookie when the request has none
    /// and sets it on the response (`Some(0)`: a session cookie).
    Cookie {
        name: String,
        ttl: Option<Duration>,
        path: Option<String>,
    },
    QueryParameter(String),
    /// The downstream connection's source IP.
    SourceIp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestMirror {
    pub cluster: String,
    pub fraction: BasisPoints,
}

/// Fault injection on a route: a delay, then an abort, each on a share of the requests.
/// At least one of them is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultInjection {
    pub delay: Option<FaultDelay>,
    pub abort: Option<FaultAbort>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultDelay {
    pub delay: Duration,
    pub percentage: BasisPoints,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FaultAbort {
    pub status: AbortStatus,
    pub percentage: BasisPoints,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AbortStatus {
    /// An HTTP status in 200..=599.
    Http(u16),
    /// A gRPC status code, sent as `grpc-status` in a 200 response.
    Grpc(u32),
}

/// A share in hundredths of a percent (parts per 10,000), at most [`BasisPoints::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct BasisPoints(u16);

impl Regex {
    /// Compiles `source` (RE2 syntax) to match whole values only.
    pub fn new(source: &str) -> Result<Self, regex::Error> {
        // Checked alone first: wrapped in the anchors, `a)|(b` would parse and match prefixes.
        regex::Regex::new(source)?;
        let anchored = regex::Regex::new(&format!("^(?:{source})$"))?;
        Ok(Self {
            source: source.to_owned(),
            anchored,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the whole of `value` matches.
    pub fn is_match(&self, value: &str) -> bool {
        self.anchored.is_match(value)
    }
}

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Regex {}

impl fmt::Debug for Regex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Regex").field(&self.source).finish()
    }
}

impl Serialize for Regex {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl RouteDestination {
    /// The clusters a request may be sent to.
    pub fn clusters(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            Self::Cluster(c) => (Some(c.as_str()), &[][..]),
            Self::Weighted(w) => (None, w.as_slice()),
        };
        one.into_iter().chain(many.iter().map(|w| w.name.as_str()))
    }
}

impl RetryOn {
    pub const ALL: [RetryOn; 12] = [
        Self::FiveXx,
        Self::GatewayError,
        Self::Reset,
        Self::ConnectFailure,
        Self::Retriable4xx,
        Self::RefusedStream,
        Self::RetriableStatusCodes,
        Self::Cancelled,
        Self::DeadlineExceeded,
        Self::Internal,
        Self::ResourceExhausted,
        Self::Unavailable,
    ];

    /// The `retry_on` token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FiveXx => "5xx",
            Self::GatewayError => "gateway-error",
            Self::Reset => "reset",
            Self::ConnectFailure => "connect-failure",
            Self::Retriable4xx => "retriable-4xx",
            Self::RefusedStream => "refused-stream",
            Self::RetriableStatusCodes => "retriable-status-codes",
            Self::Cancelled => "cancelled",
            Self::DeadlineExceeded => "deadline-exceeded",
            Self::Internal => "internal",
            Self::ResourceExhausted => "resource-exhausted",
            Self::Unavailable => "unavailable",
        }
    }

    /// The condition a `retry_on` token names, if it is one the proxy implements.
    pub fn from_token(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == token)
    }
}

impl fmt::Display for RetryOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl BasisPoints {
    /// 100 %.
    pub const ALL: BasisPoints = BasisPoints(10_000);
    pub const ZERO: BasisPoints = BasisPoints(0);

    /// `value` hundredths of a percent, capped at 100 % (as Envoy caps a numerator above its
    /// denominator).
    pub fn new(value: u32) -> Self {
        Self(u16::try_from(value.min(10_000)).unwrap_or(10_000))
    }

    /// `numerator / denominator` rounded to the nearest hundredth of a percent, capped at 100 %.
    pub fn from_fraction(numerator: u32, denominator: u32) -> Self {
        if denominator == 0 {
            return Self::ALL;
        }
        let scaled =
            (u64::from(numerator) * 10_000 + u64::from(denominator) / 2) / u64::from(denominator);
        Self::new(u32::try_from(scaled).unwrap_or(u32::MAX))
    }

    /// `percent` whole percent, capped at 100 %.
    pub const fn from_percent(percent: u16) -> Self {
        if percent >= 100 {
            Self::ALL
        } else {
            Self(percent * 100)
        }
    }

    pub fn get(self) -> u16 {
        self.0
    }
}
