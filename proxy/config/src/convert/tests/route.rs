use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3::{
    self as rds, HeaderMatcher, QueryParameterMatcher, RedirectAction, RetryPolicy, route,
    route_action, route_match,
};
use envoy_types::pb::envoy::r#type::matcher::v3::RegexMatcher;
use envoy_types::pb::google::protobuf::{self, BoolValue};

use super::fixtures::{first_action, first_route, route, route_config, secs};
use super::{Case, assert_rejects};
use crate::DEFAULT_ROUTE_TIMEOUT;
use crate::types::{
    HeaderMutations, PathMatch, Route, RouteAction, RouteConfig, RouteDestination, VirtualHost,
};

#[test]
fn accepts_the_route_configuration_pilot_sends() {
    let rc = RouteConfig::try_from(route_config()).unwrap();
    assert_eq!(
        rc,
        RouteConfig {
            name: "api".into(),
            virtual_hosts: vec![VirtualHost {
                name: "api".into(),
                domains: vec!["*".into()],
                routes: vec![Route {
                    name: "default".into(),
                    path: PathMatch::Prefix("/".into()),
                    case_sensitive: true,
                    headers: vec![],
                    query_parameters: vec![],
                    action: RouteAction {
                        destination: RouteDestination::Cluster("api".into()),
                        timeout: Some(Duration::from_secs(15)),
                        idle_timeout: None,
                        prefix_rewrite: None,
                        retry: None,
                        hash_policies: vec![],
                        mirrors: vec![],
                    },
                    request_headers: HeaderMutations::default(),
                    response_headers: HeaderMutations::default(),
                    fault: None,
                }],
            }],
        }
    );
}

#[test]
fn timeouts_exact_paths_and_defaults() {
    let mut rc = route_config();
    let routes = &mut rc.virtual_hosts[0].routes;
    routes[0] = route("/", Some(secs(0)));
    routes.push(route("/", None));
    routes.push(route(
        "/",
        Some(protobuf::Duration {
            seconds: 1,
            nanos: 500_000_000,
        }),
    ));
    let mut exact = route("/", None);
    exact.r#match.as_mut().unwrap().path_specifier =
        Some(route_match::PathSpecifier::Path("/health".into()));
    exact.r#match.as_mut().unwrap().case_sensitive = Some(BoolValue { value: true });
    routes.push(exact);
    let rc = RouteConfig::try_from(rc).unwrap();
    let routes = &rc.virtual_hosts[0].routes;
    assert_eq!(
        routes[0].action.timeout, None,
        "0 s disables the timeout (gRPC)"
    );
    assert_eq!(routes[1].action.timeout, Some(DEFAULT_ROUTE_TIMEOUT));
    assert_eq!(routes[2].action.timeout, Some(Duration::from_millis(1500)));
    assert_eq!(routes[3].path, PathMatch::Exact("/health".into()));
    assert!(routes[3].case_sensitive, "true, as sent");
    assert!(routes[0].case_sensitive, "absent: sensitive");
    assert!(routes.iter().all(|r| r.action.idle_timeout.is_none()));
}

/// `case_sensitive = false` (Consul's `CaseInsensitive`) and the route's `idle_timeout`
/// (Consul's `IdleTimeout`; 0 disables it, as in Envoy).
#[test]
fn case_insensitive_paths_and_idle_timeouts() {
    let mut rc = route_config();
    let routes = &mut rc.virtual_hosts[0].routes;
    let mut insensitive = route("/API", None);
    insensitive.r#match.as_mut().unwrap().case_sensitive = Some(BoolValue { value: false });
    let Some(route::Action::Route(a)) = insensitive.action.as_mut() else {
        unreachable!()
    };
    a.idle_timeout = Some(protobuf::Duration {
        seconds: 2,
        nanos: 500_000_000,
    });
    routes.insert(0, insensitive);
    let mut disabled = route("/", None);
    let Some(route::Action::Route(a)) = disabled.action.as_mut() else {
        unreachable!()
    };
    a.idle_timeout = Some(secs(0));
    routes.push(disabled);
    let rc = RouteConfig::try_from(rc).unwrap();
    let routes = &rc.virtual_hosts[0].routes;
    assert_eq!(routes[0].path, PathMatch::Prefix("/API".into()));
    assert!(!routes[0].case_sensitive);
    assert_eq!(
        routes[0].action.idle_timeout,
        Some(Duration::from_millis(2500))
    );
    assert!(routes[1].case_sensitive);
    assert_eq!(routes[1].action.idle_timeout, None, "absent");
    assert_eq!(routes[2].action.idle_timeout, None, "0 s disables it");
}

#[test]
fn rejects_route_features_it_does_not_implement() {
    fn path(rc: &mut rds::RouteConfiguration, p: route_match::PathSpecifier) {
        first_route(rc).r#match.as_mut().unwrap().path_specifier = Some(p);
    }
    let cases: &[Case<rds::RouteConfiguration>] = &[
        (
            "empty name",
            |rc| rc.name.clear(),
            r#"route configuration "": name: missing"#,
        ),
        (
            "vhds",
            |rc| rc.vhds = Some(Default::default()),
            "vhds: unsupported field",
        ),
        (
            "headers to add",
            |rc| rc.request_headers_to_add.push(Default::default()),
            "request_headers_to_add: unsupported field",
        ),
        (
            "vhost name",
            |rc| rc.virtual_hosts[0].name.clear(),
            "virtual_hosts[0].name: missing",
        ),
        (
            "no domains",
            |rc| rc.virtual_hosts[0].domains.clear(),
            "virtual_hosts[0].domains: missing",
        ),
        (
            "empty domain",
            |rc| rc.virtual_hosts[0].domains.push(String::new()),
            "virtual_hosts[0].domains[1]: missing",
        ),
        (
            "duplicate vhost",
            |rc| {
                let mut v = rc.virtual_hosts[0].clone();
                v.domains = vec!["a".into()];
                rc.virtual_hosts.push(v)
            },
            r#"virtual_hosts[1].name: duplicate virtual host "api""#,
        ),
        (
            "duplicate domain",
            |rc| {
                let mut v = rc.virtual_hosts[0].clone();
                v.name = "b".into();
                rc.virtual_hosts.push(v)
            },
            r#"virtual_hosts[1].domains: duplicate domain "*""#,
        ),
        (
            "vhost retries",
            |rc| rc.virtual_hosts[0].retry_policy = Some(RetryPolicy::default()),
            "virtual_hosts[0].retry_policy: unsupported field",
        ),
        (
            "require tls",
            |rc| rc.virtual_hosts[0].require_tls = 1,
            "virtual_hosts[0].require_tls: unsupported field",
        ),
        (
            "no match",
            |rc| first_route(rc).r#match = None,
            "virtual_hosts[0].routes[0].match: missing",
        ),
        (
            "no path",
            |rc| first_route(rc).r#match.as_mut().unwrap().path_specifier = None,
            "routes[0].match.prefix: missing",
        ),
        (
            "regex",
            |rc| {
                path(
                    rc,
                    route_match::PathSpecifier::SafeRegex(RegexMatcher::default()),
                )
            },
            "virtual_hosts[0].routes[0].match.safe_regex.regex: missing",
        ),
        (
            "separated prefix",
            |rc| {
                path(
                    rc,
                    route_match::PathSpecifier::PathSeparatedPrefix("/a".into()),
                )
            },
            "match.path_separated_prefix: unsupported matcher",
        ),
        (
            "relative prefix",
            |rc| path(rc, route_match::PathSpecifier::Prefix("api".into())),
            r#"match.prefix: "api" does not start with '/'"#,
        ),
        (
            "relative path",
            |rc| path(rc, route_match::PathSpecifier::Path(String::new())),
            "match.path: \"\" does not start with '/'",
        ),
        (
            "headers",
            |rc| {
                first_route(rc)
                    .r#match
                    .as_mut()
                    .unwrap()
                    .headers
                    .push(HeaderMatcher::default())
            },
            "routes[0].match.headers[0].name: missing",
        ),
        (
            "query",
            |rc| {
                first_route(rc)
                    .r#match
                    .as_mut()
                    .unwrap()
                    .query_parameters
                    .push(QueryParameterMatcher::default())
            },
            "routes[0].match.query_parameters[0].name: missing",
        ),
        (
            "grpc",
            |rc| first_route(rc).r#match.as_mut().unwrap().grpc = Some(Default::default()),
            "routes[0].match.grpc: unsupported field",
        ),
        (
            "redirect",
            |rc| first_route(rc).action = Some(route::Action::Redirect(RedirectAction::default())),
            "routes[0].redirect: unsupported action",
        ),
        (
            "direct response",
            |rc| first_route(rc).action = Some(route::Action::DirectResponse(Default::default())),
            "routes[0].direct_response: unsupported action",
        ),
        (
            "no action",
            |rc| first_route(rc).action = None,
            "routes[0].route: missing",
        ),
        (
            "weighted",
            |rc| {
                first_action(rc).cluster_specifier = Some(
                    route_action::ClusterSpecifier::WeightedClusters(Default::default()),
                )
            },
            "routes[0].route.weighted_clusters.clusters: missing",
        ),
        (
            "cluster header",
            |rc| {
                first_action(rc).cluster_specifier =
                    Some(route_action::ClusterSpecifier::ClusterHeader("x".into()))
            },
            "route.cluster_header: unsupported field",
        ),
        (
            "no cluster",
            |rc| first_action(rc).cluster_specifier = None,
            "routes[0].route.cluster: missing",
        ),
        (
            "empty cluster",
            |rc| {
                first_action(rc).cluster_specifier =
                    Some(route_action::ClusterSpecifier::Cluster(String::new()))
            },
            "routes[0].route.cluster: missing",
        ),
        (
            "retries",
            |rc| first_action(rc).retry_policy = Some(RetryPolicy::default()),
            "routes[0].route.retry_policy.retry_on: missing",
        ),
        (
            "relative rewrite",
            |rc| first_action(rc).prefix_rewrite = "v2".into(),
            r#"route.prefix_rewrite: "v2" does not start with '/'"#,
        ),
        (
            "negative timeout",
            |rc| first_action(rc).timeout = Some(secs(-1)),
            "routes[0].route.timeout: negative duration -1s",
        ),
        (
            "bad nanos",
            |rc| {
                first_action(rc).timeout = Some(protobuf::Duration {
                    seconds: 1,
                    nanos: -5,
                })
            },
            "route.timeout: nanos -5 out of range",
        ),
    ];
    assert_rejects::<_, RouteConfig>(route_config, cases);
}
