//! The route rules of XDS.md "Traffic rules from config entries": routes with every matcher and
//! action field, and the fault filter of listeners.

use std::collections::{BTreeSet, HashMap};
use std::num::NonZeroU32;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, RuntimeFractionalPercent, header_value_option,
};
use envoy_types::pb::envoy::config::route::v3::{
    self as rds, HeaderMatcher as XdsHeaderMatcher, QueryParameterMatcher as XdsQueryMatcher,
    header_matcher, query_parameter_matcher, route_action, route_match, weighted_cluster,
};
use envoy_types::pb::envoy::extensions::filters::common::fault::v3 as common_fault;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3 as fault;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3 as hcm;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatcher, StringMatcher, regex_matcher, string_matcher,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent};
use envoy_types::pb::google::protobuf::{Any, BoolValue, UInt32Value};
use rigging_mesh_xds::pack;

use super::fixtures::{self, route, route_config, secs};
use super::{Case, assert_rejects};
use crate::types::{
    AbortStatus, BasisPoints, FaultAbort, FaultDelay, FaultInjection, HashPolicy, HashPolicyKind,
    HeaderAdd, HeaderAppend, HeaderMatch, HeaderMatcher, HeaderMutations, Listener, ListenerKind,
    PathMatch, ProxyConfig, QueryParameterMatch, QueryParameterMatcher, Regex, RequestMirror,
    RetryOn, RetryPolicy, RouteConfig, RouteDestination, WeightedCluster,
};
use crate::{DEFAULT_NUM_RETRIES, FAULT_FILTER_NAME, FAULT_TYPE_URL};

fn string_matcher(p: string_matcher::MatchPattern) -> StringMatcher {
    StringMatcher {
        ignore_case: false,
        match_pattern: Some(p),
    }
}

#[allow(deprecated)]
fn re2(regex: &str) -> RegexMatcher {
    RegexMatcher {
        regex: regex.into(),
        engine_type: Some(regex_matcher::EngineType::GoogleRe2(Default::default())),
    }
}

fn header(name: &str, p: header_matcher::HeaderMatchSpecifier, invert: bool) -> XdsHeaderMatcher {
    XdsHeaderMatcher {
        name: name.into(),
        invert_match: invert,
        header_match_specifier: Some(p),
        ..Default::default()
    }
}

fn header_string(name: &str, p: string_matcher::MatchPattern) -> XdsHeaderMatcher {
    header(
        name,
        header_matcher::HeaderMatchSpecifier::StringMatch(string_matcher(p)),
        false,
    )
}

fn query(name: &str, p: query_parameter_matcher::QueryParameterMatchSpecifier) -> XdsQueryMatcher {
    XdsQueryMatcher {
        name: name.into(),
        query_parameter_match_specifier: Some(p),
    }
}

fn add(
    key: &str,
    value: &str,
    action: header_value_option::HeaderAppendAction,
) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }),
        append_action: action as i32,
        ..Default::default()
    }
}

fn ten_thousandths(numerator: u32) -> FractionalPercent {
    FractionalPercent {
        numerator,
        denominator: fractional_percent::DenominatorType::TenThousand as i32,
    }
}

fn http_fault() -> fault::HttpFault {
    fault::HttpFault {
        delay: Some(common_fault::FaultDelay {
            percentage: Some(ten_thousandths(500)),
            fault_delay_secifier: Some(common_fault::fault_delay::FaultDelaySecifier::FixedDelay(
                secs(2),
            )),
        }),
        abort: Some(fault::FaultAbort {
            percentage: Some(FractionalPercent {
                numerator: 25,
                denominator: fractional_percent::DenominatorType::Hundred as i32,
            }),
            error_type: Some(fault::fault_abort::ErrorType::HttpStatus(503)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn weighted(name: &str, weight: u32) -> weighted_cluster::ClusterWeight {
    weighted_cluster::ClusterWeight {
        name: name.into(),
        weight: Some(UInt32Value { value: weight }),
        ..Default::default()
    }
}

/// A route with every field of the contract: regex path, header, method and query matchers,
/// a weighted split, rewrite, retries, hash policies, a mirror, header mutations and a fault.
fn full_route() -> rds::Route {
    use header_matcher::HeaderMatchSpecifier as H;
    use header_value_option::HeaderAppendAction as A;
    use query_parameter_matcher::QueryParameterMatchSpecifier as Q;
    use route_action::hash_policy::{self as hp, PolicySpecifier as P};
    use string_matcher::MatchPattern as M;
    let mut r = route("/", None);
    let m = r.r#match.as_mut().unwrap();
    m.path_specifier = Some(route_match::PathSpecifier::SafeRegex(re2(
        "/api/v[0-9]+/.*",
    )));
    m.case_sensitive = Some(BoolValue { value: false });
    m.headers = vec![
        header("x-debug", H::PresentMatch(true), false),
        header_string("X-Env", M::Exact("prod".into())),
        header_string("x-pre", M::Prefix("ab".into())),
        header_string("x-suf", M::Suffix("yz".into())),
        header(
            "x-canary",
            H::StringMatch(string_matcher(M::SafeRegex(re2("1|yes")))),
            true,
        ),
        header_string(":method", M::SafeRegex(re2("GET|PUT"))),
    ];
    m.query_parameters = vec![
        query("debug", Q::PresentMatch(true)),
        query("v", Q::StringMatch(string_matcher(M::Exact("2".into())))),
        query(
            "id",
            Q::StringMatch(string_matcher(M::SafeRegex(re2("[0-9]+")))),
        ),
    ];
    let Some(rds::route::Action::Route(a)) = r.action.as_mut() else {
        unreachable!()
    };
    let mut canary = weighted("api.canary", 1000);
    canary.request_headers_to_add = vec![add("x-split", "canary", A::OverwriteIfExistsOrAdd)];
    canary.request_headers_to_remove = vec!["x-drop".into()];
    canary.response_headers_to_add = vec![add("x-served-by", "canary", A::AppendIfExistsOrAdd)];
    canary.response_headers_to_remove = vec!["server".into()];
    a.cluster_specifier = Some(route_action::ClusterSpecifier::WeightedClusters(
        rds::WeightedCluster {
            clusters: vec![weighted("api", 9000), canary],
            ..Default::default()
        },
    ));
    a.timeout = Some(secs(3));
    a.idle_timeout = Some(secs(30));
    a.retry_policy = Some(rds::RetryPolicy {
        retry_on: "5xx, connect-failure,retriable-status-codes,unavailable".into(),
        num_retries: Some(UInt32Value { value: 4 }),
        retriable_status_codes: vec![503, 429],
        ..Default::default()
    });
    a.hash_policy = vec![
        route_action::HashPolicy {
            terminal: true,
            policy_specifier: Some(P::Header(hp::Header {
                header_name: "X-User".into(),
                regex_rewrite: None,
            })),
        },
        route_action::HashPolicy {
            terminal: false,
            policy_specifier: Some(P::Cookie(hp::Cookie {
                name: "session".into(),
                ttl: Some(secs(60)),
                path: "/".into(),
                attributes: vec![],
            })),
        },
        route_action::HashPolicy {
            terminal: false,
            policy_specifier: Some(P::QueryParameter(hp::QueryParameter { name: "u".into() })),
        },
        route_action::HashPolicy {
            terminal: false,
            policy_specifier: Some(P::ConnectionProperties(hp::ConnectionProperties {
                source_ip: true,
            })),
        },
    ];
    a.request_mirror_policies = vec![route_action::RequestMirrorPolicy {
        cluster: "shadow".into(),
        runtime_fraction: Some(RuntimeFractionalPercent {
            default_value: Some(ten_thousandths(1250)),
            runtime_key: String::new(),
        }),
        ..Default::default()
    }];
    r.request_headers_to_add = vec![add("x-a", "1", A::AppendIfExistsOrAdd)];
    r.request_headers_to_remove = vec!["x-b".into()];
    r.response_headers_to_add = vec![add("x-c", "2", A::OverwriteIfExistsOrAdd)];
    r.response_headers_to_remove = vec!["x-d".into()];
    r.typed_per_filter_config = HashMap::from([(
        FAULT_FILTER_NAME.to_owned(),
        pack(FAULT_TYPE_URL, &http_fault()),
    )]);
    r
}

fn full_route_config() -> rds::RouteConfiguration {
    let mut rc = route_config();
    rc.virtual_hosts[0].routes.insert(0, full_route());
    rc
}

fn full_action(rc: &mut rds::RouteConfiguration) -> &mut rds::RouteAction {
    fixtures::first_action(rc)
}

fn full_match(rc: &mut rds::RouteConfiguration) -> &mut rds::RouteMatch {
    fixtures::first_route(rc).r#match.as_mut().unwrap()
}

fn regex(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

fn bp(v: u32) -> BasisPoints {
    BasisPoints::new(v)
}

#[test]
fn accepts_every_route_field_of_the_contract() {
    let rc = RouteConfig::try_from(full_route_config()).unwrap();
    let routes = &rc.virtual_hosts[0].routes;
    assert_eq!(routes.len(), 2, "the catch-all stays last");
    let r = &routes[0];
    assert_eq!(r.path, PathMatch::Regex(regex("/api/v[0-9]+/.*")));
    assert!(
        !r.case_sensitive,
        "kept as sent; a regex path ignores it, as in Envoy"
    );
    let hm = |name: &str, kind, invert| HeaderMatcher {
        name: name.into(),
        kind,
        invert,
    };
    assert_eq!(
        r.headers,
        vec![
            hm("x-debug", HeaderMatch::Present, false),
            hm("x-env", HeaderMatch::Exact("prod".into()), false),
            hm("x-pre", HeaderMatch::Prefix("ab".into()), false),
            hm("x-suf", HeaderMatch::Suffix("yz".into()), false),
            hm("x-canary", HeaderMatch::Regex(regex("1|yes")), true),
            hm(":method", HeaderMatch::Regex(regex("GET|PUT")), false),
        ]
    );
    let qm = |name: &str, kind| QueryParameterMatcher {
        name: name.into(),
        kind,
    };
    assert_eq!(
        r.query_parameters,
        vec![
            qm("debug", QueryParameterMatch::Present),
            qm("v", QueryParameterMatch::Exact("2".into())),
            qm("id", QueryParameterMatch::Regex(regex("[0-9]+"))),
        ]
    );
    let nz = |n| NonZeroU32::new(n).unwrap();
    let header_add = |name: &str, value: &str, action| HeaderAdd {
        name: name.into(),
        value: value.into(),
        action,
    };
    assert_eq!(
        r.action.destination,
        RouteDestination::Weighted(vec![
            WeightedCluster {
                name: "api".into(),
                weight: nz(9000),
                request_headers: HeaderMutations::default(),
                response_headers: HeaderMutations::default(),
            },
            WeightedCluster {
                name: "api.canary".into(),
                weight: nz(1000),
                request_headers: HeaderMutations {
                    add: vec![header_add("x-split", "canary", HeaderAppend::Overwrite)],
                    remove: vec!["x-drop".into()],
                },
                response_headers: HeaderMutations {
                    add: vec![header_add("x-served-by", "canary", HeaderAppend::Append)],
                    remove: vec!["server".into()],
                },
            },
        ])
    );
    assert_eq!(
        r.action.destination.clusters().collect::<Vec<_>>(),
        ["api", "api.canary"]
    );
    assert_eq!(r.action.timeout, Some(Duration::from_secs(3)));
    assert_eq!(r.action.idle_timeout, Some(Duration::from_secs(30)));
    assert_eq!(
        r.action.retry,
        Some(RetryPolicy {
            retry_on: BTreeSet::from([
                RetryOn::FiveXx,
                RetryOn::ConnectFailure,
                RetryOn::RetriableStatusCodes,
                RetryOn::Unavailable,
            ]),
            num_retries: 4,
            retriable_status_codes: BTreeSet::from([429, 503]),
        })
    );
    let hash = |kind, terminal| HashPolicy { kind, terminal };
    assert_eq!(
        r.action.hash_policies,
        vec![
            hash(HashPolicyKind::Header("x-user".into()), true),
            hash(
                HashPolicyKind::Cookie {
                    name: "session".into(),
                    ttl: Some(Duration::from_secs(60)),
                    path: Some("/".into()),
                },
                false
            ),
            hash(HashPolicyKind::QueryParameter("u".into()), false),
            hash(HashPolicyKind::SourceIp, false),
        ]
    );
    assert_eq!(
        r.action.mirrors,
        vec![RequestMirror {
            cluster: "shadow".into(),
            fraction: bp(1250),
        }]
    );
    assert_eq!(
        r.request_headers,
        HeaderMutations {
            add: vec![header_add("x-a", "1", HeaderAppend::Append)],
            remove: vec!["x-b".into()],
        }
    );
    assert_eq!(
        r.response_headers,
        HeaderMutations {
            add: vec![header_add("x-c", "2", HeaderAppend::Overwrite)],
            remove: vec!["x-d".into()],
        }
    );
    assert_eq!(
        r.fault,
        Some(FaultInjection {
            delay: Some(FaultDelay {
                delay: Duration::from_secs(2),
                percentage: bp(500),
            }),
            abort: Some(FaultAbort {
                status: AbortStatus::Http(503),
                percentage: bp(2500),
            }),
        })
    );
    let json = serde_json::to_value(r).unwrap();
    assert_eq!(json["path"]["regex"], "/api/v[0-9]+/.*");
    assert_eq!(json["action"]["retry"]["retry_on"][0], "5xx");
}

#[test]
fn accepts_the_simpler_variants() {
    let mut rc = full_route_config();
    full_action(&mut rc).cluster_specifier =
        Some(route_action::ClusterSpecifier::Cluster("api".into()));
    full_action(&mut rc).retry_policy = Some(rds::RetryPolicy {
        retry_on: "cancelled,deadline-exceeded,internal,resource-exhausted,gateway-error,reset,retriable-4xx,refused-stream".into(),
        ..Default::default()
    });
    full_action(&mut rc).request_mirror_policies[0].runtime_fraction = None;
    let mut f = http_fault();
    f.delay = None;
    f.abort.as_mut().unwrap().error_type = Some(fault::fault_abort::ErrorType::GrpcStatus(14));
    // One per million rounds to 0.01 % only from 50 per million up.
    f.abort.as_mut().unwrap().percentage = Some(FractionalPercent {
        numerator: 150,
        denominator: fractional_percent::DenominatorType::Million as i32,
    });
    fixtures::first_route(&mut rc).typed_per_filter_config =
        HashMap::from([(FAULT_FILTER_NAME.to_owned(), pack(FAULT_TYPE_URL, &f))]);
    full_match(&mut rc).path_specifier = Some(route_match::PathSpecifier::Prefix("/api".into()));
    full_action(&mut rc).prefix_rewrite = "/".into();
    let rc = RouteConfig::try_from(rc).unwrap();
    let r = &rc.virtual_hosts[0].routes[0];
    assert_eq!(
        r.action.destination,
        RouteDestination::Cluster("api".into())
    );
    let retry = r.action.retry.as_ref().unwrap();
    assert_eq!(retry.retry_on.len(), 8);
    assert_eq!(retry.num_retries, DEFAULT_NUM_RETRIES);
    assert_eq!(r.action.mirrors[0].fraction, BasisPoints::ALL);
    assert_eq!(r.action.prefix_rewrite.as_deref(), Some("/"));
    assert!(!r.case_sensitive, "a case-insensitive prefix");
    assert_eq!(
        r.fault,
        Some(FaultInjection {
            delay: None,
            abort: Some(FaultAbort {
                status: AbortStatus::Grpc(14),
                percentage: bp(2),
            }),
        })
    );
}

#[test]
fn regexes_match_whole_values() {
    let r = regex("GET|PUT");
    assert!(r.is_match("GET") && r.is_match("PUT"));
    assert!(!r.is_match("GETX") && !r.is_match("XPUT") && !r.is_match("get"));
    assert_eq!(r, regex("GET|PUT"));
    assert!(
        Regex::new("a)|(b").is_err(),
        "a source cannot escape the anchors"
    );
    assert!(Regex::new("(a").is_err());
    assert_ne!(r, regex("PUT|GET"));
}

#[test]
fn basis_points_from_any_denominator() {
    assert_eq!(BasisPoints::from_fraction(1, 100), bp(100));
    assert_eq!(BasisPoints::from_fraction(7, 10_000), bp(7));
    assert_eq!(BasisPoints::from_fraction(49, 1_000_000), bp(0));
    assert_eq!(BasisPoints::from_fraction(50, 1_000_000), bp(1));
    assert_eq!(BasisPoints::from_fraction(200, 100), BasisPoints::ALL);
    assert_eq!(BasisPoints::new(u32::MAX), BasisPoints::ALL);
}

#[test]
#[allow(deprecated)]
fn rejects_traffic_rules_outside_the_contract() {
    use header_matcher::HeaderMatchSpecifier as H;
    use query_parameter_matcher::QueryParameterMatchSpecifier as Q;
    use route_action::hash_policy::PolicySpecifier as P;
    use string_matcher::MatchPattern as M;
    fn set_fault(rc: &mut rds::RouteConfiguration, f: fault::HttpFault) {
        fixtures::first_route(rc)
            .typed_per_filter_config
            .insert(FAULT_FILTER_NAME.into(), pack(FAULT_TYPE_URL, &f));
    }
    fn weighted_of(rc: &mut rds::RouteConfiguration) -> &mut rds::WeightedCluster {
        match full_action(rc).cluster_specifier.as_mut() {
            Some(route_action::ClusterSpecifier::WeightedClusters(w)) => w,
            _ => panic!("not weighted"),
        }
    }
    let cases: &[Case<rds::RouteConfiguration>] = &[
        (
            "bad regex",
            |rc| {
                full_match(rc).path_specifier =
                    Some(route_match::PathSpecifier::SafeRegex(re2("/api/(")))
            },
            r#"virtual_hosts[0].routes[0].match.safe_regex.regex: "/api/(" is not a valid RE2 regex"#,
        ),
        (
            "regex program size",
            |rc| {
                full_match(rc).path_specifier =
                    Some(route_match::PathSpecifier::SafeRegex(RegexMatcher {
                        regex: "/a".into(),
                        engine_type: Some(regex_matcher::EngineType::GoogleRe2(
                            regex_matcher::GoogleRe2 {
                                max_program_size: Some(UInt32Value { value: 10 }),
                            },
                        )),
                    }))
            },
            "match.safe_regex.google_re2.max_program_size: unsupported field",
        ),
        (
            "bad header regex",
            |rc| full_match(rc).headers[5] = header_string(":method", M::SafeRegex(re2("*"))),
            "match.headers[5].string_match.safe_regex.regex: \"*\" is not a valid RE2 regex",
        ),
        (
            "contains header matcher",
            |rc| full_match(rc).headers[0] = header_string("x", M::Contains("a".into())),
            "match.headers[0].string_match.contains: unsupported matcher",
        ),
        (
            "deprecated exact_match",
            |rc| full_match(rc).headers[0] = header("x", H::ExactMatch("a".into()), false),
            "match.headers[0].exact_match: unsupported field (use string_match)",
        ),
        (
            "range match",
            |rc| full_match(rc).headers[0] = header("x", H::RangeMatch(Default::default()), false),
            "match.headers[0].range_match: unsupported matcher",
        ),
        (
            "ignore case",
            |rc| {
                full_match(rc).headers[0] = header(
                    "x",
                    H::StringMatch(StringMatcher {
                        ignore_case: true,
                        match_pattern: Some(M::Exact("a".into())),
                    }),
                    false,
                )
            },
            "match.headers[0].string_match.ignore_case: unsupported field",
        ),
        (
            "present false",
            |rc| full_match(rc).headers[0] = header("x", H::PresentMatch(false), false),
            "match.headers[0].present_match: unsupported value false",
        ),
        (
            "missing as empty",
            |rc| full_match(rc).headers[0].treat_missing_header_as_empty = true,
            "match.headers[0].treat_missing_header_as_empty: unsupported field",
        ),
        (
            "other pseudo-header",
            |rc| full_match(rc).headers[0].name = ":path".into(),
            r#"match.headers[0].name: unsupported pseudo-header ":path" (only :method)"#,
        ),
        (
            "bad header name",
            |rc| full_match(rc).headers[0].name = "x y".into(),
            r#"match.headers[0].name: "x y" is not a header name"#,
        ),
        (
            "no header matcher",
            |rc| full_match(rc).headers[0].header_match_specifier = None,
            "match.headers[0].string_match: missing",
        ),
        (
            "query prefix",
            |rc| {
                full_match(rc).query_parameters[0] =
                    query("a", Q::StringMatch(string_matcher(M::Prefix("x".into()))))
            },
            "match.query_parameters[0].string_match.prefix: unsupported matcher",
        ),
        (
            "query bad regex",
            |rc| {
                full_match(rc).query_parameters[0] =
                    query("a", Q::StringMatch(string_matcher(M::SafeRegex(re2("[")))))
            },
            "match.query_parameters[0].string_match.safe_regex.regex: \"[\" is not a valid RE2 regex",
        ),
        (
            "cookie matcher",
            |rc| full_match(rc).cookies.push(Default::default()),
            "match.cookies: unsupported field",
        ),
        (
            "zero weight",
            |rc| weighted_of(rc).clusters[1].weight = Some(UInt32Value { value: 0 }),
            "route.weighted_clusters.clusters[1].weight: must be at least 1",
        ),
        (
            "no weight",
            |rc| weighted_of(rc).clusters[0].weight = None,
            "route.weighted_clusters.clusters[0].weight: must be at least 1",
        ),
        (
            "duplicate weighted cluster",
            |rc| weighted_of(rc).clusters[1].name = "api".into(),
            r#"weighted_clusters.clusters[1].name: duplicate cluster "api""#,
        ),
        (
            "total weight",
            |rc| weighted_of(rc).total_weight = Some(UInt32Value { value: 10_000 }),
            "route.weighted_clusters.total_weight: unsupported field",
        ),
        (
            "weighted cluster filter config",
            |rc| {
                weighted_of(rc).clusters[0]
                    .typed_per_filter_config
                    .insert("x".into(), Any::default());
            },
            "weighted_clusters.clusters[0].typed_per_filter_config: unsupported field",
        ),
        (
            "unknown retry_on",
            |rc| {
                full_action(rc).retry_policy.as_mut().unwrap().retry_on =
                    "5xx,envoy-ratelimited".into()
            },
            r#"route.retry_policy.retry_on: unsupported retry condition "envoy-ratelimited""#,
        ),
        (
            "bad retriable status",
            |rc| {
                full_action(rc)
                    .retry_policy
                    .as_mut()
                    .unwrap()
                    .retriable_status_codes = vec![700]
            },
            "retry_policy.retriable_status_codes[0]: 700 is not an HTTP status",
        ),
        (
            "per try timeout",
            |rc| {
                full_action(rc)
                    .retry_policy
                    .as_mut()
                    .unwrap()
                    .per_try_timeout = Some(secs(1))
            },
            "route.retry_policy.per_try_timeout: unsupported field",
        ),
        (
            "filter state hash",
            |rc| {
                full_action(rc).hash_policy[0].policy_specifier =
                    Some(P::FilterState(Default::default()))
            },
            "route.hash_policy[0].filter_state: unsupported hash policy",
        ),
        (
            "source ip false",
            |rc| {
                full_action(rc).hash_policy[0].policy_specifier =
                    Some(P::ConnectionProperties(Default::default()))
            },
            "route.hash_policy[0].connection_properties.source_ip: missing",
        ),
        (
            "no hash kind",
            |rc| full_action(rc).hash_policy[0].policy_specifier = None,
            "route.hash_policy[0].header: missing",
        ),
        (
            "cookie attributes",
            |rc| {
                if let Some(P::Cookie(c)) = &mut full_action(rc).hash_policy[1].policy_specifier {
                    c.attributes.push(Default::default());
                }
            },
            "route.hash_policy[1].cookie.attributes: unsupported field",
        ),
        (
            "mirror runtime key",
            |rc| {
                full_action(rc).request_mirror_policies[0]
                    .runtime_fraction
                    .as_mut()
                    .unwrap()
                    .runtime_key = "k".into()
            },
            "request_mirror_policies[0].runtime_fraction.runtime_key: unsupported field",
        ),
        (
            "mirror without cluster",
            |rc| full_action(rc).request_mirror_policies[0].cluster.clear(),
            "route.request_mirror_policies[0].cluster: missing",
        ),
        (
            "regex rewrite",
            |rc| full_action(rc).prefix_rewrite = "/v2".into(),
            "route.prefix_rewrite: unsupported rewrite of a safe_regex match",
        ),
        (
            "append action add if absent",
            |rc| {
                fixtures::first_route(rc).request_headers_to_add[0].append_action =
                    header_value_option::HeaderAppendAction::AddIfAbsent as i32
            },
            "routes[0].request_headers_to_add[0].append_action: unsupported action ADD_IF_ABSENT",
        ),
        (
            "deprecated append",
            |rc| {
                fixtures::first_route(rc).request_headers_to_add[0].append =
                    Some(BoolValue { value: true })
            },
            "routes[0].request_headers_to_add[0].append: unsupported field",
        ),
        (
            "pseudo-header removal",
            |rc| fixtures::first_route(rc).response_headers_to_remove[0] = ":status".into(),
            r#"routes[0].response_headers_to_remove[0]: ":status" is not a header name"#,
        ),
        (
            "host rewrite by header",
            |rc| {
                fixtures::first_route(rc).request_headers_to_add[0]
                    .header
                    .as_mut()
                    .unwrap()
                    .key = "Host".into()
            },
            r#"routes[0].request_headers_to_add[0].header.key: unsupported header "host" (not modifiable)"#,
        ),
        (
            "header value with newline",
            |rc| {
                fixtures::first_route(rc).response_headers_to_add[0]
                    .header
                    .as_mut()
                    .unwrap()
                    .value = "a\r\nb".into()
            },
            "routes[0].response_headers_to_add[0].header.value: holds CR, LF or NUL",
        ),
        (
            "other filter config",
            |rc| {
                fixtures::first_route(rc)
                    .typed_per_filter_config
                    .insert("envoy.filters.http.cors".into(), Any::default());
            },
            r#"routes[0].typed_per_filter_config["envoy.filters.http.cors"]: unsupported filter config"#,
        ),
        (
            "fault wrong type",
            |rc| {
                fixtures::first_route(rc).typed_per_filter_config.insert(
                    FAULT_FILTER_NAME.into(),
                    pack("type.googleapis.com/x.Y", &http_fault()),
                );
            },
            r#"typed_per_filter_config["envoy.filters.http.fault"]: unsupported type URL"#,
        ),
        (
            "fault with neither delay nor abort",
            |rc| set_fault(rc, fault::HttpFault::default()),
            r#"typed_per_filter_config["envoy.filters.http.fault"].delay or abort: missing"#,
        ),
        (
            "fault max active",
            |rc| {
                set_fault(
                    rc,
                    fault::HttpFault {
                        max_active_faults: Some(UInt32Value { value: 1 }),
                        ..http_fault()
                    },
                )
            },
            "max_active_faults: unsupported field",
        ),
        (
            "fault abort status",
            |rc| {
                let mut f = http_fault();
                f.abort.as_mut().unwrap().error_type =
                    Some(fault::fault_abort::ErrorType::HttpStatus(100));
                set_fault(rc, f)
            },
            "abort.http_status: 100 not in 200..=599",
        ),
        (
            "fault header abort",
            |rc| {
                let mut f = http_fault();
                f.abort.as_mut().unwrap().error_type = Some(
                    fault::fault_abort::ErrorType::HeaderAbort(Default::default()),
                );
                set_fault(rc, f)
            },
            "abort.header_abort: unsupported field",
        ),
        (
            "fault delay without percentage",
            |rc| {
                let mut f = http_fault();
                f.delay.as_mut().unwrap().percentage = None;
                set_fault(rc, f)
            },
            "delay.percentage: missing",
        ),
        (
            "fault header delay",
            |rc| {
                let mut f = http_fault();
                f.delay.as_mut().unwrap().fault_delay_secifier = Some(
                    common_fault::fault_delay::FaultDelaySecifier::HeaderDelay(Default::default()),
                );
                set_fault(rc, f)
            },
            "delay.header_delay: unsupported field",
        ),
        (
            "fault bad denominator",
            |rc| {
                let mut f = http_fault();
                f.delay.as_mut().unwrap().percentage = Some(FractionalPercent {
                    numerator: 1,
                    denominator: 9,
                });
                set_fault(rc, f)
            },
            "delay.percentage.denominator: unknown value 9",
        ),
        (
            "route config mirrors",
            |rc| rc.request_mirror_policies.push(Default::default()),
            "request_mirror_policies: unsupported field",
        ),
    ];
    assert_rejects::<_, RouteConfig>(full_route_config, cases);
}

fn hcm_with_fault() -> hcm::HttpConnectionManager {
    let mut h = fixtures::hcm();
    h.http_filters.insert(
        0,
        hcm::HttpFilter {
            name: FAULT_FILTER_NAME.into(),
            config_type: Some(hcm::http_filter::ConfigType::TypedConfig(pack(
                FAULT_TYPE_URL,
                &fault::HttpFault::default(),
            ))),
            ..Default::default()
        },
    );
    h
}

fn fault_listener() -> envoy_types::pb::envoy::config::listener::v3::Listener {
    fixtures::with_hcm(hcm_with_fault())
}

#[test]
fn records_the_fault_filter_on_the_listener() {
    let l = Listener::try_from(fault_listener()).unwrap();
    let ListenerKind::Http { fault_filter, .. } = l.kind else {
        panic!("not http")
    };
    assert!(fault_filter);
    let l = Listener::try_from(fixtures::http_listener()).unwrap();
    assert!(matches!(
        l.kind,
        ListenerKind::Http {
            fault_filter: false,
            ..
        }
    ));
}

#[test]
fn rejects_fault_filters_outside_the_contract() {
    fn edit(
        l: &mut envoy_types::pb::envoy::config::listener::v3::Listener,
        f: fn(&mut hcm::HttpConnectionManager),
    ) {
        let mut h = hcm_with_fault();
        f(&mut h);
        *l = fixtures::with_hcm(h);
    }
    let cases: &[Case<envoy_types::pb::envoy::config::listener::v3::Listener>] = &[
        (
            "fault after router",
            |l| edit(l, |h| h.http_filters.swap(0, 1)),
            "typed_config.http_filters[0]: unsupported filter after the router",
        ),
        (
            "fault without router",
            |l| edit(l, |h| drop(h.http_filters.pop())),
            "typed_config.http_filters[1] (router): missing",
        ),
        (
            "two fault filters",
            |l| edit(l, |h| h.http_filters.insert(0, h.http_filters[0].clone())),
            "typed_config.http_filters[1]: unsupported second fault filter",
        ),
        (
            "fault filter renamed",
            |l| edit(l, |h| h.http_filters[0].name = "fault".into()),
            r#"typed_config.http_filters[0].name: unsupported fault filter name "fault""#,
        ),
        (
            "unknown filter",
            |l| {
                edit(l, |h| {
                    h.http_filters[0] = hcm::HttpFilter {
                        name: "envoy.filters.http.cors".into(),
                        config_type: Some(hcm::http_filter::ConfigType::TypedConfig(Any {
                            type_url:
                                "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
                                    .into(),
                            value: vec![],
                        })),
                        ..Default::default()
                    }
                })
            },
            r#"typed_config.http_filters[0].typed_config: unsupported type URL "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors""#,
        ),
    ];
    assert_rejects::<_, Listener>(fault_listener, cases);
}

#[test]
fn warns_when_a_route_faults_without_the_filter() {
    let mut config = ProxyConfig::default();
    let l = Listener::try_from(fixtures::http_listener()).unwrap();
    config.listeners.insert(l.name.clone(), l);
    let rc = RouteConfig::try_from(full_route_config()).unwrap();
    config.routes.insert(rc.name.clone(), rc);
    let warnings = config.check_references();
    assert!(
        warnings.iter().any(|w| w
            .contains("injects faults but the listener has no envoy.filters.http.fault filter")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(r#"cluster "shadow" not found"#)),
        "mirrors are references too: {warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains(r#"cluster "api.canary" not found"#)),
        "{warnings:?}"
    );
    let l = Listener::try_from(fault_listener()).unwrap();
    config.listeners.insert(l.name.clone(), l);
    assert!(
        !config
            .check_references()
            .iter()
            .any(|w| w.contains("injects faults")),
    );
}
