//! `service-router`: L7 routes for one service, checked in order, the first match wins.

use std::time::Duration;

use crate::common::{Header, HeaderModifiers, header_modifiers};
use crate::decode::{Fields, pick};
use crate::error::{Diag, Origin};
use crate::kinds::extensions::{Fault, Mirror, fault, mirror};
use crate::kinds::matching::{
    HeaderMatch, PathMatch, QueryParamMatch, Site, headers, http_fields, methods, path,
    query_params,
};
use crate::tree::Node;

/// A `service-router` entry. Consul appends an implicit catch-all route to the service
/// of the router's own name; it is not listed in `routes`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceRouter {
    pub header: Header,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    /// `Match { HTTP { … } }`; `None` (or an empty match) matches every request.
    pub http: Option<HttpMatch>,
    /// `None` sends matching requests to the router's own service.
    pub destination: Option<RouteDestination>,
}

/// `Match.HTTP`: every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HttpMatch {
    pub path: Option<PathMatch>,
    /// Match the path without regard to case.
    pub case_insensitive: bool,
    pub headers: Vec<HeaderMatch>,
    pub query_params: Vec<QueryParamMatch>,
    /// Upper-case; any of them matches. Empty: any method.
    pub methods: Vec<String>,
}

impl HttpMatch {
    pub fn is_empty(&self) -> bool {
        self.path.is_none()
            && self.headers.is_empty()
            && self.query_params.is_empty()
            && self.methods.is_empty()
    }
}

/// Where a matching request goes, and how it is sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RouteDestination {
    /// `None`: the router's own service.
    pub service: Option<String>,
    /// Set (or with `namespace`/`partition`), the destination service's splitter is skipped.
    pub service_subset: Option<String>,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    /// Replaces the matched `PathExact`/`PathPrefix`.
    pub prefix_rewrite: Option<String>,
    /// The whole request, retries included.
    pub request_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub num_retries: u32,
    pub retry_on_connect_failure: bool,
    pub retry_on: Vec<RetryOn>,
    pub retry_on_status_codes: Vec<u16>,
    pub request_headers: Option<HeaderModifiers>,
    pub response_headers: Option<HeaderModifiers>,
    /// Rigging extension: fault injection on this route.
    pub fault: Option<Fault>,
    /// Rigging extension: copy requests on this route to another service.
    pub mirror: Option<Mirror>,
}

/// `RetryOn` conditions, with Envoy's names as Consul takes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetryOn {
    Status5xx,
    GatewayError,
    Reset,
    ConnectFailure,
    EnvoyRatelimited,
    Retriable4xx,
    RefusedStream,
    /// gRPC status `CANCELLED`.
    Cancelled,
    DeadlineExceeded,
    Internal,
    ResourceExhausted,
    Unavailable,
}

const RETRY_ON: &[(&str, RetryOn)] = &[
    ("5xx", RetryOn::Status5xx),
    ("gateway-error", RetryOn::GatewayError),
    ("reset", RetryOn::Reset),
    ("connect-failure", RetryOn::ConnectFailure),
    ("envoy-ratelimited", RetryOn::EnvoyRatelimited),
    ("retriable-4xx", RetryOn::Retriable4xx),
    ("refused-stream", RetryOn::RefusedStream),
    ("cancelled", RetryOn::Cancelled),
    ("deadline-exceeded", RetryOn::DeadlineExceeded),
    ("internal", RetryOn::Internal),
    ("resource-exhausted", RetryOn::ResourceExhausted),
    ("unavailable", RetryOn::Unavailable),
];

impl RetryOn {
    pub fn as_str(self) -> &'static str {
        RETRY_ON
            .iter()
            .find(|(_, r)| *r == self)
            .map_or("", |(s, _)| s)
    }
}

const KEYS: &[&str] = crate::entry_keys!["Routes"];

const DESTINATION_KEYS: &[&str] = &[
    "Service",
    "ServiceSubset",
    "Namespace",
    "Partition",
    "PrefixRewrite",
    "RequestTimeout",
    "IdleTimeout",
    "NumRetries",
    "RetryOnConnectFailure",
    "RetryOn",
    "RetryOnStatusCodes",
    "RequestHeaders",
    "ResponseHeaders",
    "Fault",
    "Mirror",
];

impl ServiceRouter {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "service-router", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        let routes = f
            .list(d, "Routes")
            .into_iter()
            .filter_map(|n| route(d, n))
            .collect();
        Some(Self { header, routes })
    }
}

fn route(d: &mut Diag, node: &Node) -> Option<Route> {
    let f = Fields::of(d, node, "service-router route", &["Match", "Destination"])?;
    let http = match f.node(d, "Match") {
        Some(m) => {
            let m = Fields::of(d, m, "route Match", &["HTTP"])?;
            m.node(d, "HTTP").and_then(|h| http_match(d, h))
        }
        None => None,
    };
    let destination = f.node(d, "Destination").and_then(|n| destination(d, n));
    if let Some(dest) = &destination
        && dest.prefix_rewrite.is_some()
        && !http
            .as_ref()
            .and_then(|h| h.path.as_ref())
            .is_some_and(PathMatch::allows_prefix_rewrite)
    {
        d.err(
            &f.value_at("Destination"),
            "PrefixRewrite needs the route to match PathExact or PathPrefix",
        );
    }
    Some(Route { http, destination })
}

fn http_match(d: &mut Diag, node: &Node) -> Option<HttpMatch> {
    let h = http_fields(d, node, "route Match HTTP", Site::Route)?;
    Some(HttpMatch {
        path: path(d, &h),
        case_insensitive: h.flag(d, "CaseInsensitive"),
        headers: headers(d, &h, Site::Route),
        query_params: query_params(d, &h),
        methods: methods(d, &h),
    })
}

fn destination(d: &mut Diag, node: &Node) -> Option<RouteDestination> {
    let f = Fields::of(d, node, "route Destination", DESTINATION_KEYS)?;
    let non_empty = |d: &mut Diag, name| f.string(d, name).filter(|s| !s.is_empty());
    let retry_at = f.value_at("RetryOn");
    let retry_on = f
        .strings(d, "RetryOn")
        .iter()
        .filter_map(|s| pick(d, &retry_at, "RetryOn", s, RETRY_ON))
        .collect();
    let retry_on_status_codes = f
        .list(d, "RetryOnStatusCodes")
        .into_iter()
        .filter_map(|n| {
            crate::decode::int(d, n, "RetryOnStatusCodes", 100..=599)
                .and_then(|c| u16::try_from(c).ok())
        })
        .collect::<Vec<_>>();
    Some(RouteDestination {
        service: non_empty(d, "Service"),
        service_subset: non_empty(d, "ServiceSubset"),
        namespace: non_empty(d, "Namespace"),
        partition: non_empty(d, "Partition"),
        prefix_rewrite: non_empty(d, "PrefixRewrite"),
        request_timeout: f.duration(d, "RequestTimeout"),
        idle_timeout: f.duration(d, "IdleTimeout"),
        num_retries: f.u32(d, "NumRetries").unwrap_or(0),
        retry_on_connect_failure: f.flag(d, "RetryOnConnectFailure"),
        retry_on,
        retry_on_status_codes,
        request_headers: header_modifiers(d, &f, "RequestHeaders"),
        response_headers: header_modifiers(d, &f, "ResponseHeaders"),
        fault: f.node(d, "Fault").and_then(|n| fault(d, n)),
        mirror: f.node(d, "Mirror").and_then(|n| mirror(d, n)),
    })
}
