//! The route configuration of an upstream whose discovery chain routes, splits or
//! resolves: `pilot/XDS.md`, "Traffic rules from config entries", Route (RDS).

use std::collections::HashMap;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, RuntimeFractionalPercent,
    header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::RetryPolicy as XdsRetryPolicy;
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, Route, RouteAction as XdsRouteAction, RouteMatch,
    VirtualHost, WeightedCluster,
    header_matcher::HeaderMatchSpecifier,
    query_parameter_matcher::QueryParameterMatchSpecifier,
    route::Action,
    route_action::{
        ClusterSpecifier, HashPolicy as XdsHashPolicy, RequestMirrorPolicy,
        hash_policy::{ConnectionProperties, Cookie, Header, PolicySpecifier, QueryParameter},
    },
    route_match::PathSpecifier,
    weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay, fault_delay::FaultDelaySecifier,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort, HttpFault, fault_abort::ErrorType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, regex_matcher::EngineType, regex_matcher::GoogleRe2,
    string_matcher::MatchPattern,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{Any, BoolValue, UInt32Value};
use rigging_mesh_config_entries::{
    AbortStatus, HashOn, HashPolicy, HeaderMatch, HeaderModifiers, HttpMatch, PathMatch, Percent,
    QueryParamMatch, RetryOn, ValueMatch,
};
use rigging_mesh_model::Protocol;
use rigging_mesh_xds::{RouteConfiguration, pack};
use rigging_pilot_chain::{ChainRoute, CompiledChain, Destination, RetryPolicy, RouteAction};

use crate::DEFAULT_HTTP_ROUTE_TIMEOUT;
use crate::emit::duration;

/// The fault filter's name, in the HCM's `http_filters` and a route's
/// `typed_per_filter_config`.
pub(crate) const FAULT_FILTER_NAME: &str = "envoy.filters.http.fault";

/// The fault filter's config type.
pub(crate) const HTTP_FAULT: &str =
    "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/// The name of the catch-all route, as the route of a service without a router.
const CATCH_ALL_ROUTE: &str = "default";

/// The route configuration `name` for `chain`: its routes in order, the catch-all last.
pub(crate) fn chain_route_config(
    name: &str,
    chain: &CompiledChain,
    protocol: Protocol,
) -> RouteConfiguration {
    let last = chain.routes.len().saturating_sub(1);
    let routes = chain
        .routes
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let name = if i == last {
                CATCH_ALL_ROUTE.to_owned()
            } else {
                format!("route-{i}")
            };
            route(name, r, protocol)
        })
        .collect();
    RouteConfiguration {
        name: name.to_owned(),
        virtual_hosts: vec![VirtualHost {
            name: name.to_owned(),
            domains: vec!["*".to_owned()],
            routes,
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn route(name: String, r: &ChainRoute, protocol: Protocol) -> Route {
    let a = &r.action;
    let (req_add, req_remove) = header_changes(a.request_headers.as_ref());
    let (resp_add, resp_remove) = header_changes(a.response_headers.as_ref());
    let mut per_filter = HashMap::new();
    if let Some(f) = &a.fault {
        per_filter.insert(FAULT_FILTER_NAME.to_owned(), fault(f));
    }
    Route {
        name,
        r#match: Some(route_match(r.matcher.as_ref())),
        action: Some(Action::Route(route_action(a, protocol))),
        request_headers_to_add: req_add,
        request_headers_to_remove: req_remove,
        response_headers_to_add: resp_add,
        response_headers_to_remove: resp_remove,
        typed_per_filter_config: per_filter,
        ..Default::default()
    }
}

fn route_match(m: Option<&HttpMatch>) -> RouteMatch {
    let Some(m) = m else {
        return RouteMatch {
            path_specifier: Some(PathSpecifier::Prefix("/".to_owned())),
            ..Default::default()
        };
    };
    let path = match &m.path {
        Some(PathMatch::Exact(p)) => PathSpecifier::Path(p.clone()),
        Some(PathMatch::Prefix(p)) => PathSpecifier::Prefix(p.clone()),
        Some(PathMatch::Regex(r)) => PathSpecifier::SafeRegex(regex(r)),
        None => PathSpecifier::Prefix("/".to_owned()),
    };
    let mut headers: Vec<HeaderMatcher> = m.headers.iter().map(header_matcher).collect();
    if !m.methods.is_empty() {
        headers.push(HeaderMatcher {
            name: ":method".to_owned(),
            header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(string_matcher(
                MatchPattern::SafeRegex(regex(&m.methods.join("|"))),
            ))),
            ..Default::default()
        });
    }
    RouteMatch {
        path_specifier: Some(path),
        // As Consul: only a case-insensitive match sets it (Envoy's default is sensitive).
        case_sensitive: m.case_insensitive.then_some(BoolValue { value: false }),
        headers,
        query_parameters: m.query_params.iter().map(query_matcher).collect(),
        ..Default::default()
    }
}

/// An RE2 matcher, `safe_regex { google_re2 {}, regex }` as the contract (and Consul) send
/// it; Envoy deprecated the explicit engine, but still accepts it.
#[allow(deprecated)]
fn regex(r: &str) -> RegexMatcher {
    RegexMatcher {
        regex: r.to_owned(),
        engine_type: Some(EngineType::GoogleRe2(GoogleRe2::default())),
    }
}

fn string_matcher(p: MatchPattern) -> StringMatcher {
    StringMatcher {
        match_pattern: Some(p),
        ..Default::default()
    }
}

/// A value condition as a string matcher; `None` for `Present`.
fn value_pattern(v: &ValueMatch) -> Option<MatchPattern> {
    Some(match v {
        ValueMatch::Present => return None,
        ValueMatch::Exact(s) => MatchPattern::Exact(s.clone()),
        ValueMatch::Prefix(s) => MatchPattern::Prefix(s.clone()),
        ValueMatch::Suffix(s) => MatchPattern::Suffix(s.clone()),
        ValueMatch::Contains(s) => MatchPattern::Contains(s.clone()),
        ValueMatch::Regex(r) => MatchPattern::SafeRegex(regex(r)),
    })
}

fn header_matcher(h: &HeaderMatch) -> HeaderMatcher {
    let spec = match value_pattern(&h.value) {
        None => HeaderMatchSpecifier::PresentMatch(true),
        Some(p) => HeaderMatchSpecifier::StringMatch(string_matcher(p)),
    };
    HeaderMatcher {
        name: h.name.clone(),
        header_match_specifier: Some(spec),
        invert_match: h.invert,
        ..Default::default()
    }
}

fn query_matcher(q: &QueryParamMatch) -> QueryParameterMatcher {
    let spec = match value_pattern(&q.value) {
        None => QueryParameterMatchSpecifier::PresentMatch(true),
        Some(p) => QueryParameterMatchSpecifier::StringMatch(string_matcher(p)),
    };
    QueryParameterMatcher {
        name: q.name.clone(),
        query_parameter_match_specifier: Some(spec),
    }
}

fn route_action(a: &RouteAction, protocol: Protocol) -> XdsRouteAction {
    let cluster_specifier = match &a.destination {
        Destination::Target(t) => ClusterSpecifier::Cluster(t.cluster_name()),
        Destination::Split(splits) => ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: splits
                .iter()
                .map(|s| {
                    let (req_add, req_remove) = header_changes(s.request_headers.as_ref());
                    let (resp_add, resp_remove) = header_changes(s.response_headers.as_ref());
                    ClusterWeight {
                        name: s.target.cluster_name(),
                        weight: Some(UInt32Value { value: s.weight }),
                        request_headers_to_add: req_add,
                        request_headers_to_remove: req_remove,
                        response_headers_to_add: resp_add,
                        response_headers_to_remove: resp_remove,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        }),
    };
    // gRPC streams may last for hours: by default no timeout cuts them.
    let timeout = a.request_timeout.unwrap_or(match protocol {
        Protocol::Grpc => Duration::ZERO,
        _ => DEFAULT_HTTP_ROUTE_TIMEOUT,
    });
    XdsRouteAction {
        cluster_specifier: Some(cluster_specifier),
        prefix_rewrite: a.prefix_rewrite.clone().unwrap_or_default(),
        timeout: Some(duration(timeout)),
        idle_timeout: a.idle_timeout.map(duration),
        retry_policy: a.retry.as_ref().map(retry_policy),
        hash_policy: a.hash_policies.iter().map(hash_policy).collect(),
        request_mirror_policies: a
            .mirror
            .iter()
            .map(|m| RequestMirrorPolicy {
                cluster: m.target.cluster_name(),
                runtime_fraction: Some(RuntimeFractionalPercent {
                    default_value: Some(fraction(m.percent)),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The retry conditions the contract lists; `envoy-ratelimited` is not one of them (the
/// proxy has no rate limit service), so it is left out.
fn retry_policy(r: &RetryPolicy) -> XdsRetryPolicy {
    let mut on: Vec<&str> = Vec::new();
    let mut add = |s: &'static str| {
        if !on.contains(&s) {
            on.push(s);
        }
    };
    if r.retry_on_connect_failure {
        add("connect-failure");
    }
    for c in &r.retry_on {
        if *c != RetryOn::EnvoyRatelimited {
            add(c.as_str());
        }
    }
    if !r.retry_on_status_codes.is_empty() {
        add("retriable-status-codes");
    }
    XdsRetryPolicy {
        retry_on: on.join(","),
        num_retries: (r.num_retries > 0).then_some(UInt32Value {
            value: r.num_retries,
        }),
        retriable_status_codes: r
            .retry_on_status_codes
            .iter()
            .map(|c| u32::from(*c))
            .collect(),
        ..Default::default()
    }
}

fn hash_policy(h: &HashPolicy) -> XdsHashPolicy {
    let spec = match &h.on {
        HashOn::Header(name) => PolicySpecifier::Header(Header {
            header_name: name.clone(),
            ..Default::default()
        }),
        HashOn::Cookie { name, config } => {
            let config = config.clone().unwrap_or_default();
            // a session cookie is one with a zero TTL, as Consul sends it
            let ttl = if config.session {
                Some(Duration::ZERO)
            } else {
                config.ttl
            };
            PolicySpecifier::Cookie(Cookie {
                name: name.clone(),
                ttl: ttl.map(duration),
                path: config.path.unwrap_or_default(),
                ..Default::default()
            })
        }
        HashOn::QueryParameter(name) => {
            PolicySpecifier::QueryParameter(QueryParameter { name: name.clone() })
        }
        HashOn::SourceIp => {
            PolicySpecifier::ConnectionProperties(ConnectionProperties { source_ip: true })
        }
    };
    XdsHashPolicy {
        policy_specifier: Some(spec),
        terminal: h.terminal,
    }
}

/// `Add` appends, `Set` overwrites; `Remove` strips.
pub(crate) fn header_changes(h: Option<&HeaderModifiers>) -> (Vec<HeaderValueOption>, Vec<String>) {
    let Some(h) = h else {
        return (Vec::new(), Vec::new());
    };
    let option = |(k, v): (&String, &String), action: HeaderAppendAction| HeaderValueOption {
        header: Some(HeaderValue {
            key: k.clone(),
            value: v.clone(),
            ..Default::default()
        }),
        append_action: action as i32,
        ..Default::default()
    };
    let add = h
        .add
        .iter()
        .map(|kv| option(kv, HeaderAppendAction::AppendIfExistsOrAdd))
        .chain(
            h.set
                .iter()
                .map(|kv| option(kv, HeaderAppendAction::OverwriteIfExistsOrAdd)),
        )
        .collect();
    (add, h.remove.clone())
}

fn fraction(p: Percent) -> FractionalPercent {
    FractionalPercent {
        numerator: p.hundredths(),
        denominator: DenominatorType::TenThousand as i32,
    }
}

fn fault(f: &rigging_mesh_config_entries::Fault) -> Any {
    let fault = HttpFault {
        delay: f.delay.as_ref().map(|d| FaultDelay {
            percentage: Some(fraction(d.percent)),
            fault_delay_secifier: Some(FaultDelaySecifier::FixedDelay(duration(d.duration))),
        }),
        abort: f.abort.as_ref().map(|a| FaultAbort {
            percentage: Some(fraction(a.percent)),
            error_type: Some(match a.status {
                AbortStatus::Http(s) => ErrorType::HttpStatus(u32::from(s)),
                AbortStatus::Grpc(s) => ErrorType::GrpcStatus(u32::from(s)),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    pack(HTTP_FAULT, &fault)
}
