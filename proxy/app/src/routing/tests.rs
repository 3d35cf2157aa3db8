//! Table tests of route selection: hosts, paths, headers, methods and query parameters.

use http::Method;
use rigging_proxy_config::{
    HeaderMutations, Regex, Route, RouteAction, VirtualHost as VhDef, WeightedCluster,
};

use super::*;

type HostSpec<'a> = (&'a str, &'a [&'a str], &'a [(PathMatch, &'a str)]);
/// A header matcher, the request's headers, and whether it matches.
type HeaderCase<'a> = (HeaderMatcher, &'a [(&'a str, &'a str)], bool);

fn route(path: PathMatch, cluster: &str) -> Route {
    Route {
        name: cluster.into(),
        path,
        case_sensitive: true,
        headers: vec![],
        query_parameters: vec![],
        action: RouteAction {
            destination: RouteDestination::Cluster(cluster.into()),
            timeout: None,
            idle_timeout: None,
            prefix_rewrite: None,
            retry: None,
            hash_policies: vec![],
            mirrors: vec![],
        },
        request_headers: HeaderMutations::default(),
        response_headers: HeaderMutations::default(),
        fault: None,
    }
}

fn table_of(hosts: Vec<(&str, Vec<&str>, Vec<Route>)>) -> RouteTable {
    let def = RouteConfig {
        name: "t".into(),
        virtual_hosts: hosts
            .into_iter()
            .map(|(name, domains, routes)| VhDef {
                name: name.into(),
                domains: domains.into_iter().map(Into::into).collect(),
                routes,
            })
            .collect(),
    };
    RouteTable::new(&def, |_| None)
}

fn table(hosts: &[HostSpec<'_>]) -> RouteTable {
    table_of(
        hosts
            .iter()
            .map(|(name, domains, routes)| {
                (
                    *name,
                    domains.to_vec(),
                    routes
                        .iter()
                        .map(|(path, cluster)| route(path.clone(), cluster))
                        .collect(),
                )
            })
            .collect(),
    )
}

/// One virtual host `*` with `routes`.
fn any_host(routes: Vec<Route>) -> RouteTable {
    table_of(vec![("any", vec!["*"], routes)])
}

fn get(uri: &str) -> Request<()> {
    request(Method::GET, uri, &[])
}

fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> Request<()> {
    let mut b = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap()
}

fn regex(s: &str) -> Regex {
    Regex::new(s).unwrap()
}

fn cluster_of<'a>(t: &'a RouteTable, req: &Request<()>) -> Option<&'a str> {
    t.find("any", req)
        .map(|r| r.action.destinations()[0].name.as_str())
}

fn header(name: &str, kind: HeaderMatch, invert: bool) -> HeaderMatcher {
    HeaderMatcher {
        name: name.into(),
        kind,
        invert,
    }
}

fn query(name: &str, kind: QueryParameterMatch) -> QueryParameterMatcher {
    QueryParameterMatcher {
        name: name.into(),
        kind,
    }
}

#[test]
fn matches_hosts_and_paths() {
    let prefix = |p: &str| PathMatch::Prefix(p.into());
    let exact = |p: &str| PathMatch::Exact(p.into());
    let t = table(&[
        ("any", &["*"], &[(prefix("/"), "default")]),
        (
            "api",
            &["api.example.com"],
            &[(exact("/v1"), "v1"), (prefix("/v"), "vx")],
        ),
        ("wild", &["*.example.com"], &[(prefix("/"), "wild")]),
        ("pre", &["web.*"], &[(prefix("/"), "pre")]),
    ]);
    let cases = [
        ("api.example.com", "/v1", Some("v1")),
        ("api.example.com", "/v1?x=1", Some("v1")),
        ("API.Example.com", "/v2", Some("vx")),
        ("api.example.com", "/x", None),
        ("x.example.com", "/", Some("wild")),
        ("web.local", "/", Some("pre")),
        ("other", "/anything", Some("default")),
        ("example.com", "/", Some("default")),
    ];
    for (host, path, want) in cases {
        let got = t
            .find(host, &get(path))
            .map(|r| r.action.destinations()[0].name.as_str());
        assert_eq!(got, want, "{host}{path}");
    }
    assert!(table(&[("a", &["a"], &[])]).find("b", &get("/")).is_none());
}

#[test]
fn regex_paths_match_the_whole_path_without_the_query() {
    let t = any_host(vec![
        route(PathMatch::Regex(regex("/api/v[0-9]+/users")), "re"),
        route(PathMatch::Prefix("/".into()), "default"),
    ]);
    for (uri, want) in [
        ("/api/v1/users", "re"),
        ("/api/v12/users?page=2", "re"),
        ("/api/v1/users/7", "default"),
        ("/x/api/v1/users", "default"),
        ("/api/vx/users", "default"),
    ] {
        assert_eq!(cluster_of(&t, &get(uri)), Some(want), "{uri}");
    }
}

#[test]
fn case_insensitive_prefix_and_exact_paths() {
    let with_case = |path, cluster, case_sensitive| Route {
        case_sensitive,
        ..route(path, cluster)
    };
    let prefix = |p: &str| PathMatch::Prefix(p.into());
    let exact = |p: &str| PathMatch::Exact(p.into());
    let sensitive = any_host(vec![
        with_case(prefix("/api"), "api", true),
        with_case(exact("/Health"), "health", true),
        route(prefix("/"), "default"),
    ]);
    let insensitive = any_host(vec![
        with_case(prefix("/api"), "api", false),
        with_case(exact("/Health"), "health", false),
        // Envoy ignores `case_sensitive` for a regex.
        with_case(PathMatch::Regex(regex("/re/[a-z]+")), "re", false),
        route(prefix("/"), "default"),
    ]);
    let cases = [
        ("/api/x", "api", "api"),
        ("/API/x", "default", "api"),
        ("/aPi", "default", "api"),
        ("/ap", "default", "default"),
        ("/Health", "health", "health"),
        ("/HEALTH?x=1", "default", "health"),
        ("/health/more", "default", "default"),
        ("/re/abc", "default", "re"),
        ("/RE/abc", "default", "default"),
    ];
    for (uri, want_sensitive, want_insensitive) in cases {
        assert_eq!(
            cluster_of(&sensitive, &get(uri)),
            Some(want_sensitive),
            "{uri}"
        );
        assert_eq!(
            cluster_of(&insensitive, &get(uri)),
            Some(want_insensitive),
            "{uri} ignoring case"
        );
    }
    assert_eq!(strip_path_prefix("/API/x", "/api", false), Some("/x"));
    assert_eq!(strip_path_prefix("/API/x", "/api", true), None);
    assert_eq!(strip_path_prefix("/a", "/api", false), None);
    // A multi-byte character never matches an ASCII one, nor is it cut.
    assert_eq!(strip_path_prefix("/\u{e9}x", "/\u{c9}", false), None);
}

#[test]
fn header_matchers() {
    let cases: &[HeaderCase<'_>] = &[
        (
            header("x-a", HeaderMatch::Present, false),
            &[("x-a", "")],
            true,
        ),
        (header("x-a", HeaderMatch::Present, false), &[], false),
        (header("x-a", HeaderMatch::Present, true), &[], true),
        (
            header("x-a", HeaderMatch::Present, true),
            &[("x-a", "1")],
            false,
        ),
        (
            header("x-a", HeaderMatch::Exact("v".into()), false),
            &[("X-A", "v")],
            true,
        ),
        (
            header("x-a", HeaderMatch::Exact("v".into()), false),
            &[("x-a", "V")],
            false,
        ),
        (
            header("x-a", HeaderMatch::Exact("v".into()), true),
            &[("x-a", "w")],
            true,
        ),
        (
            header("x-a", HeaderMatch::Exact("v".into()), true),
            &[("x-a", "v")],
            false,
        ),
        // Envoy: a missing header never matches a value matcher, inverted or not.
        (
            header("x-a", HeaderMatch::Exact("v".into()), true),
            &[],
            false,
        ),
        (
            header("x-a", HeaderMatch::Regex(regex("a.*")), true),
            &[],
            false,
        ),
        (
            header("x-a", HeaderMatch::Prefix("ab".into()), false),
            &[("x-a", "abc")],
            true,
        ),
        (
            header("x-a", HeaderMatch::Prefix("ab".into()), false),
            &[("x-a", "cab")],
            false,
        ),
        (
            header("x-a", HeaderMatch::Suffix("yz".into()), false),
            &[("x-a", "xyz")],
            true,
        ),
        (
            header("x-a", HeaderMatch::Suffix("yz".into()), false),
            &[("x-a", "yzx")],
            false,
        ),
        (
            header("x-a", HeaderMatch::Regex(regex("[0-9]+")), false),
            &[("x-a", "123")],
            true,
        ),
        (
            header("x-a", HeaderMatch::Regex(regex("[0-9]+")), false),
            &[("x-a", "12a")],
            false,
        ),
        (
            header("x-a", HeaderMatch::Regex(regex("[0-9]+")), true),
            &[("x-a", "12a")],
            true,
        ),
        // Repeated headers are joined with ",".
        (
            header("x-a", HeaderMatch::Exact("1,2".into()), false),
            &[("x-a", "1"), ("x-a", "2")],
            true,
        ),
        (
            header("x-a", HeaderMatch::Exact("1".into()), false),
            &[("x-a", "1"), ("x-a", "2")],
            false,
        ),
    ];
    for (i, (m, headers, want)) in cases.iter().enumerate() {
        let mut r = route(PathMatch::Prefix("/".into()), "hit");
        r.headers = vec![m.clone()];
        let t = any_host(vec![r]);
        let got = cluster_of(&t, &request(Method::GET, "/", headers)).is_some();
        assert_eq!(got, *want, "case {i}: {m:?} on {headers:?}");
    }
}

#[test]
fn methods_are_a_header_matcher_on_method() {
    let mut r = route(PathMatch::Prefix("/".into()), "write");
    r.headers = vec![header(
        ":method",
        HeaderMatch::Regex(regex("PUT|POST")),
        false,
    )];
    let t = any_host(vec![r, route(PathMatch::Prefix("/".into()), "other")]);
    for (method, want) in [
        (Method::PUT, "write"),
        (Method::POST, "write"),
        (Method::GET, "other"),
        (Method::PATCH, "other"),
    ] {
        assert_eq!(
            cluster_of(&t, &request(method.clone(), "/", &[])),
            Some(want),
            "{method}"
        );
    }
}

#[test]
fn query_parameter_matchers() {
    let cases: &[(QueryParameterMatcher, &str, bool)] = &[
        (
            query("debug", QueryParameterMatch::Present),
            "/?debug",
            true,
        ),
        (
            query("debug", QueryParameterMatch::Present),
            "/?debug=1&x=2",
            true,
        ),
        (
            query("debug", QueryParameterMatch::Present),
            "/?x=debug",
            false,
        ),
        (query("debug", QueryParameterMatch::Present), "/", false),
        (
            query("v", QueryParameterMatch::Exact("2".into())),
            "/?a=1&v=2",
            true,
        ),
        (
            query("v", QueryParameterMatch::Exact("2".into())),
            "/?v=3",
            false,
        ),
        // The first occurrence counts, as in Envoy.
        (
            query("v", QueryParameterMatch::Exact("2".into())),
            "/?v=3&v=2",
            false,
        ),
        // Raw values: no percent-decoding.
        (
            query("n", QueryParameterMatch::Exact("a b".into())),
            "/?n=a%20b",
            false,
        ),
        (
            query("n", QueryParameterMatch::Exact("a%20b".into())),
            "/?n=a%20b",
            true,
        ),
        (
            query("v", QueryParameterMatch::Exact(String::new())),
            "/?v",
            true,
        ),
        (
            query("id", QueryParameterMatch::Regex(regex("[0-9]+"))),
            "/?id=42",
            true,
        ),
        (
            query("id", QueryParameterMatch::Regex(regex("[0-9]+"))),
            "/?id=42x",
            false,
        ),
    ];
    for (i, (m, uri, want)) in cases.iter().enumerate() {
        let mut r = route(PathMatch::Prefix("/".into()), "hit");
        r.query_parameters = vec![m.clone()];
        let t = any_host(vec![r]);
        assert_eq!(
            cluster_of(&t, &get(uri)).is_some(),
            *want,
            "case {i}: {m:?} on {uri}"
        );
    }
}

#[test]
fn every_matcher_must_match_and_the_first_route_wins() {
    let mut strict = route(PathMatch::Prefix("/api".into()), "strict");
    strict.headers = vec![
        header("x-env", HeaderMatch::Exact("canary".into()), false),
        header(":method", HeaderMatch::Exact("GET".into()), false),
    ];
    strict.query_parameters = vec![query("beta", QueryParameterMatch::Present)];
    let t = any_host(vec![
        strict,
        route(PathMatch::Prefix("/api".into()), "api"),
        route(PathMatch::Prefix("/api/v1".into()), "never"),
        route(PathMatch::Prefix("/".into()), "default"),
    ]);
    let canary = [("x-env", "canary")];
    let cases = [
        (Method::GET, "/api/x?beta", &canary[..], "strict"),
        (Method::POST, "/api/x?beta", &canary[..], "api"),
        (Method::GET, "/api/x", &canary[..], "api"),
        (Method::GET, "/api/x?beta", &[][..], "api"),
        (Method::GET, "/other?beta", &canary[..], "default"),
        (Method::GET, "/api/v1/x", &[][..], "api"),
    ];
    for (method, uri, headers, want) in cases {
        assert_eq!(
            cluster_of(&t, &request(method.clone(), uri, headers)),
            Some(want),
            "{method} {uri} {headers:?}"
        );
    }
}

#[test]
fn a_weighted_route_resolves_to_a_cluster_of_its_split() {
    let mut r = route(PathMatch::Prefix("/".into()), "unused");
    let split = |name: &str, weight| WeightedCluster {
        name: name.into(),
        weight: std::num::NonZeroU32::new(weight).unwrap(),
        request_headers: HeaderMutations::default(),
        response_headers: HeaderMutations::default(),
    };
    r.action.destination = RouteDestination::Weighted(vec![split("a", 90), split("b", 10)]);
    let t = any_host(vec![r]);
    assert_eq!(cluster_of(&t, &get("/")), Some("a"));
    let action = &t.find("any", &get("/")).unwrap().action;
    let n = 20_000;
    let a = (0..n).filter(|_| action.destination().name == "a").count();
    // 90 % ± 1.5 % (about 7 standard deviations at this n).
    assert!((17_700..=18_300).contains(&a), "{a} of {n} went to a");
}

#[test]
fn strips_ports() {
    for (input, want) in [
        ("a.b:8080", "a.b"),
        ("a.b", "a.b"),
        ("[::1]:80", "[::1]"),
        ("[::1]", "[::1]"),
        ("1.2.3.4:5", "1.2.3.4"),
    ] {
        assert_eq!(strip_port(input), want);
    }
}
