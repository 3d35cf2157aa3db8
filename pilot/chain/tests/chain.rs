//! The chain compiler, one Consul semantic per test: entries written as files, compiled
//! for one upstream, compared with what Consul's compiler gives.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use rigging_mesh_config_entries::{
    HashOn, LbPolicy, PathMatch, Protocol, RetryOn, parse_str, validate_set,
};
use rigging_pilot_chain::{
    ChainError, ChainRequest, CompiledChain, Destination, Entries, TargetId, compile_chain,
};

const PROXY_DEFAULTS_HTTP: &str = r#"
Kind = "proxy-defaults"
Name = "global"
Config { protocol = "http" }
"#;

/// Entries from HCL documents, each one entry; the set must pass `validate_set`.
fn entries(docs: &[&str]) -> Entries {
    let mut all = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let loaded = parse_str(Path::new(&format!("entry-{i}.hcl")), d);
        assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        all.extend(loaded.entries);
    }
    let errors = validate_set(&all);
    assert!(errors.is_empty(), "{errors:?}");
    Entries::new(all)
}

fn chain(e: &Entries, service: &str) -> CompiledChain {
    compile_chain(e, &ChainRequest::new(service, "dc1")).unwrap()
}

fn t(service: &str, subset: Option<&str>, dc: Option<&str>) -> TargetId {
    TargetId {
        service: service.to_owned(),
        subset: subset.map(str::to_owned),
        datacenter: dc.map(str::to_owned),
    }
}

fn target_of(c: &CompiledChain, route: usize) -> TargetId {
    match &c.routes[route].action.destination {
        Destination::Target(t) => t.clone(),
        Destination::Split(s) => panic!("route {route} splits: {s:?}"),
    }
}

fn splits_of(c: &CompiledChain, route: usize) -> Vec<(String, u32)> {
    match &c.routes[route].action.destination {
        Destination::Split(s) => s
            .iter()
            .map(|w| (w.target.cluster_name(), w.weight))
            .collect(),
        Destination::Target(t) => panic!("route {route} goes to {t}"),
    }
}

const API_SUBSETS: &str = r#"
Kind = "service-resolver"
Name = "api"
Subsets {
  v1 { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2", OnlyPassing = true }
}
"#;

#[test]
fn no_entries_is_the_default_chain() {
    let c = chain(&Entries::default(), "api");
    assert!(c.default);
    assert_eq!(c.protocol, Protocol::Tcp);
    assert_eq!(c.routes.len(), 1);
    assert_eq!(c.routes[0].matcher, None);
    assert_eq!(target_of(&c, 0), TargetId::service("api"));
    assert_eq!(c.targets.len(), 1);
    let target = &c.targets[&TargetId::service("api")];
    assert_eq!(target.connect_timeout, Duration::from_secs(5));
    assert!(target.filter.is_none() && target.failover.is_empty());
}

#[test]
fn routes_keep_their_order_and_end_with_the_catch_all() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        API_SUBSETS,
        r#"
Kind = "service-router"
Name = "api"
Routes = [
  { Match { HTTP { PathPrefix = "/v2" } }, Destination { ServiceSubset = "v2" } },
  { Match { HTTP { PathPrefix = "/" } }, Destination { ServiceSubset = "v1" } },
  { Match { HTTP { PathExact = "/never" } }, Destination { Service = "other" } },
]
"#,
    ]);
    let c = chain(&e, "api");
    assert!(!c.default);
    assert_eq!(c.protocol, Protocol::Http);
    assert_eq!(c.routes.len(), 4, "three routes and the catch-all");
    let paths: Vec<Option<PathMatch>> = c
        .routes
        .iter()
        .map(|r| r.matcher.as_ref().and_then(|m| m.path.clone()))
        .collect();
    assert_eq!(
        paths,
        vec![
            Some(PathMatch::Prefix("/v2".into())),
            Some(PathMatch::Prefix("/".into())),
            Some(PathMatch::Exact("/never".into())),
            None
        ]
    );
    assert_eq!(target_of(&c, 0), t("api", Some("v2"), None));
    assert_eq!(target_of(&c, 1), t("api", Some("v1"), None));
    assert_eq!(target_of(&c, 2), TargetId::service("other"));
    assert_eq!(target_of(&c, 3), TargetId::service("api"));
    let v2 = &c.targets[&t("api", Some("v2"), None)];
    assert!(v2.only_passing && v2.filter.is_some());
}

#[test]
fn a_route_without_match_or_destination_goes_to_the_service() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        r#"
Kind = "service-router"
Name = "api"
Routes = [ { Destination { NumRetries = 3, RetryOnConnectFailure = true, RetryOn = ["5xx"], RetryOnStatusCodes = [503] } } ]
"#,
    ]);
    let c = chain(&e, "api");
    assert_eq!(c.routes[0].matcher, None);
    assert_eq!(target_of(&c, 0), TargetId::service("api"));
    let retry = c.routes[0].action.retry.clone().unwrap();
    assert_eq!(retry.num_retries, 3);
    assert!(retry.retry_on_connect_failure);
    assert_eq!(retry.retry_on, vec![RetryOn::Status5xx]);
    assert_eq!(retry.retry_on_status_codes, vec![503]);
    assert_eq!(
        c.routes[1].action.retry, None,
        "the catch-all has no retries"
    );
}

#[test]
fn splits_flatten_into_one_weighted_set() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        API_SUBSETS,
        r#"
Kind = "service-splitter"
Name = "web"
Splits = [
  { Weight = 50, Service = "api", RequestHeaders { Set { x-from = "web" } } },
  { Weight = 50 },
]
"#,
        r#"
Kind = "service-splitter"
Name = "api"
Splits = [
  { Weight = 33.33, ServiceSubset = "v1", RequestHeaders { Set { x-subset = "v1" } } },
  { Weight = 66.67, ServiceSubset = "v2" },
]
"#,
    ]);
    let c = chain(&e, "web");
    assert_eq!(c.routes.len(), 1);
    assert_eq!(
        splits_of(&c, 0),
        vec![
            ("v1.api".to_owned(), 1667),
            ("v2.api".to_owned(), 3334),
            ("web".to_owned(), 4999)
        ]
    );
    // 16.665 and 33.335 round up, as Consul rounds; the largest share gives back the 0.01
    let Destination::Split(s) = &c.routes[0].action.destination else {
        panic!()
    };
    let h = s[0].request_headers.clone().unwrap();
    assert_eq!(h.set.get("x-from").map(String::as_str), Some("web"));
    assert_eq!(h.set.get("x-subset").map(String::as_str), Some("v1"));
    // a router destination naming a subset skips the splitter
    let api = chain(&e, "api");
    assert_eq!(
        splits_of(&api, 0),
        vec![("v1.api".to_owned(), 3333), ("v2.api".to_owned(), 6667)]
    );
}

#[test]
fn default_subset_fills_every_reference_without_one() {
    let e = entries(&[r#"
Kind = "service-resolver"
Name = "api"
DefaultSubset = "v1"
Subsets {
  v1 { Filter = "Service.Meta.version == v1" }
  v2 { Filter = "Service.Meta.version == v2" }
}
ConnectTimeout = "2s"
RequestTimeout = "7s"
"#]);
    let c = chain(&e, "api");
    assert!(!c.default);
    assert_eq!(target_of(&c, 0), t("api", Some("v1"), None));
    let target = &c.targets[&t("api", Some("v1"), None)];
    assert_eq!(target.connect_timeout, Duration::from_secs(2));
    assert_eq!(target.request_timeout, Some(Duration::from_secs(7)));
    assert_eq!(
        c.routes[0].action.request_timeout,
        Some(Duration::from_secs(7))
    );
}

#[test]
fn redirect_replaces_the_target_and_is_resolved_again() {
    let e = entries(&[
        r#"
Kind = "service-resolver"
Name = "api"
Redirect { Service = "api-new" }
"#,
        r#"
Kind = "service-resolver"
Name = "api-new"
DefaultSubset = "blue"
Subsets { blue { Filter = "blue in Service.Tags" } }
"#,
        r#"
Kind = "service-resolver"
Name = "db"
Redirect { Datacenter = "dc2" }
"#,
    ]);
    let c = chain(&e, "api");
    assert_eq!(target_of(&c, 0), t("api-new", Some("blue"), None));
    assert_eq!(
        c.targets.keys().cloned().collect::<Vec<_>>(),
        vec![t("api-new", Some("blue"), None)]
    );
    assert_eq!(target_of(&chain(&e, "db"), 0), t("db", None, Some("dc2")));
    assert_eq!(t("db", None, Some("dc2")).cluster_name(), "db.dc2");
    // a redirect to the local datacenter names no datacenter
    let local = compile_chain(&e, &ChainRequest::new("db", "dc2")).unwrap();
    assert_eq!(target_of(&local, 0), TargetId::service("db"));
}

#[test]
fn redirect_loops_are_errors_not_hangs() {
    // validate_set refuses this set; the compiler must still stop
    let mut all = Vec::new();
    for (i, d) in [
        "Kind = \"service-resolver\"\nName = \"a\"\nRedirect { Service = \"b\" }\n",
        "Kind = \"service-resolver\"\nName = \"b\"\nRedirect { Service = \"a\" }\n",
    ]
    .iter()
    .enumerate()
    {
        all.extend(parse_str(Path::new(&format!("{i}.hcl")), d).entries);
    }
    let err = compile_chain(&Entries::new(all), &ChainRequest::new("a", "dc1")).unwrap_err();
    assert!(matches!(err, ChainError::RedirectLoop { .. }), "{err}");
    assert!(err.to_string().contains("a -> b -> a"), "{err}");
}

#[test]
fn failover_targets_keep_consuls_order() {
    let e = entries(&[
        API_SUBSETS,
        r#"
Kind = "service-resolver"
Name = "db"
Subsets { primary { Filter = "Service.Meta.role == primary" } }
DefaultSubset = "primary"
Failover = {
  primary = { Targets = [ { Datacenter = "dc2" }, { Service = "db-replica" }, { Datacenter = "dc1" } ] },
  "*" = { Datacenters = ["dc3", "dc2"] }
}
"#,
        r#"
Kind = "service-resolver"
Name = "web"
Failover = { "*" = { Service = "web-backup" } }
"#,
    ]);
    let db = chain(&e, "db");
    let primary = t("db", Some("primary"), None);
    assert_eq!(target_of(&db, 0), primary);
    assert_eq!(
        db.targets[&primary].failover,
        vec![
            t("db", Some("primary"), Some("dc2")),
            TargetId::service("db-replica"),
        ],
        "the local datacenter is the target itself, and is left out"
    );
    assert_eq!(db.targets.len(), 3);
    let web = chain(&e, "web");
    assert_eq!(
        web.targets[&TargetId::service("web")].failover,
        vec![TargetId::service("web-backup")]
    );
}

#[test]
fn failover_by_datacenters_applies_to_any_subset_via_the_wildcard() {
    let e = entries(&[r#"
Kind = "service-resolver"
Name = "api"
Failover = { "*" = { Datacenters = ["dc3", "dc2"] } }
"#]);
    let c = chain(&e, "api");
    assert_eq!(
        c.targets[&TargetId::service("api")].failover,
        vec![t("api", None, Some("dc3")), t("api", None, Some("dc2"))]
    );
    assert_eq!(
        t("api", Some("v1"), Some("dc3")).cluster_name(),
        "v1.api.dc3"
    );
}

#[test]
fn load_balancer_hash_policies_reach_the_route() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        r#"
Kind = "service-resolver"
Name = "api"
LoadBalancer {
  Policy = "ring_hash"
  RingHashConfig = { MinimumRingSize = 1024, MaximumRingSize = 4096 }
  HashPolicies = [
    { Field = "header", FieldValue = "x-user", Terminal = true },
    { SourceIP = true },
  ]
}
"#,
        r#"
Kind = "service-resolver"
Name = "lr"
LoadBalancer {
  Policy = "least_request"
  LeastRequestConfig { ChoiceCount = 3 }
}
"#,
    ]);
    let c = chain(&e, "api");
    let hp = &c.routes[0].action.hash_policies;
    assert_eq!(hp.len(), 2);
    assert_eq!(hp[0].on, HashOn::Header("x-user".into()));
    assert!(hp[0].terminal);
    assert_eq!(hp[1].on, HashOn::SourceIp);
    let lb = c.targets[&TargetId::service("api")]
        .load_balancer
        .clone()
        .unwrap();
    assert_eq!(lb.policy, LbPolicy::RingHash);
    let lr = chain(&e, "lr");
    assert!(lr.routes[0].action.hash_policies.is_empty());
    assert_eq!(
        lr.targets[&TargetId::service("lr")]
            .load_balancer
            .as_ref()
            .map(|l| l.policy),
        Some(LbPolicy::LeastRequest)
    );
}

#[test]
fn routers_and_splitters_do_not_apply_to_tcp_but_the_resolver_does() {
    let mut all = Vec::new();
    for (i, d) in [
        API_SUBSETS,
        "Kind = \"service-router\"\nName = \"api\"\nRoutes = [ { Match = { HTTP = { PathPrefix = \"/x\" } }, Destination = { ServiceSubset = \"v2\" } } ]\n",
        "Kind = \"service-splitter\"\nName = \"api\"\nSplits = [ { Weight = 100, ServiceSubset = \"v1\" } ]\n",
        "Kind = \"service-resolver\"\nName = \"db\"\nDefaultSubset = \"v1\"\nSubsets { v1 { Filter = \"v1 in Service.Tags\" } }\n",
    ]
    .iter()
    .enumerate()
    {
        all.extend(parse_str(Path::new(&format!("{i}.hcl")), d).entries);
    }
    let e = Entries::new(all);
    let c = chain(&e, "api");
    assert_eq!(c.protocol, Protocol::Tcp);
    assert_eq!(c.routes.len(), 1);
    assert_eq!(target_of(&c, 0), TargetId::service("api"));
    assert_eq!(c.ignored.len(), 2, "{:?}", c.ignored);
    let db = chain(&e, "db");
    assert_eq!(target_of(&db, 0), t("db", Some("v1"), None));
    // a caller that overrides the protocol to tcp turns routing off too
    let e2 = entries(&[
        PROXY_DEFAULTS_HTTP,
        API_SUBSETS,
        "Kind = \"service-splitter\"\nName = \"api\"\nSplits = [ { Weight = 100, ServiceSubset = \"v1\" } ]\n",
    ]);
    let mut req = ChainRequest::new("api", "dc1");
    req.override_protocol = Some(Protocol::Tcp);
    let c2 = compile_chain(&e2, &req).unwrap();
    assert_eq!(target_of(&c2, 0), TargetId::service("api"));
    assert_eq!(c2.protocol, Protocol::Tcp);
}

#[test]
fn the_registry_protocol_applies_when_no_entry_sets_one() {
    let e = entries(&[API_SUBSETS]);
    let mut req = ChainRequest::new("api", "dc1");
    req.default_protocol = Protocol::Grpc;
    assert_eq!(compile_chain(&e, &req).unwrap().protocol, Protocol::Grpc);
}

#[test]
fn unknown_subsets_and_mixed_protocols_are_errors() {
    let mut all = Vec::new();
    for (i, d) in [
        PROXY_DEFAULTS_HTTP,
        "Kind = \"service-splitter\"\nName = \"api\"\nSplits = [ { Weight = 100, ServiceSubset = \"nope\" } ]\n",
        "Kind = \"service-defaults\"\nName = \"db\"\nProtocol = \"tcp\"\n",
        "Kind = \"service-splitter\"\nName = \"web\"\nSplits = [ { Weight = 100, Service = \"db\" } ]\n",
    ]
    .iter()
    .enumerate()
    {
        all.extend(parse_str(Path::new(&format!("{i}.hcl")), d).entries);
    }
    let e = Entries::new(all);
    let err = compile_chain(&e, &ChainRequest::new("api", "dc1")).unwrap_err();
    assert!(matches!(err, ChainError::UnknownSubset { .. }), "{err}");
    let err = compile_chain(&e, &ChainRequest::new("web", "dc1")).unwrap_err();
    assert!(
        matches!(err, ChainError::InconsistentProtocols { .. }),
        "{err}"
    );
}

#[test]
fn upstream_config_defaults_are_overridden_by_name() {
    let e = entries(&[r#"
Kind = "service-defaults"
Name = "web"
UpstreamConfig {
  Defaults {
    ConnectTimeoutMs = 3000
    Limits = { MaxConnections = 100, MaxPendingRequests = 50 }
    PassiveHealthCheck = { Interval = "10s", MaxFailures = 5 }
  }
  Overrides = [
    { Name = "api", Limits = { MaxConcurrentRequests = 7 } },
  ]
}
"#]);
    let db = e.upstream_config("web", "db");
    assert_eq!(db.connect_timeout, Some(Duration::from_secs(3)));
    assert_eq!(db.limits.as_ref().unwrap().max_connections, Some(100));
    assert_eq!(db.passive_health_check.as_ref().unwrap().max_failures, 5);
    let api = e.upstream_config("web", "api");
    assert_eq!(api.connect_timeout, Some(Duration::from_secs(3)));
    let limits = api.limits.unwrap();
    assert_eq!(
        (limits.max_connections, limits.max_concurrent_requests),
        (None, Some(7)),
        "an override's Limits replace the defaults' whole"
    );
    assert_eq!(
        api.passive_health_check.unwrap().interval,
        Some(Duration::from_secs(10))
    );
    assert!(e.upstream_config("api", "web").is_empty());
    // the caller's connect timeout replaces every target's
    let mut req = ChainRequest::new("db", "dc1");
    req.override_connect_timeout = db.connect_timeout;
    let c = compile_chain(&e, &req).unwrap();
    assert_eq!(
        c.targets[&TargetId::service("db")].connect_timeout,
        Duration::from_secs(3)
    );
}

#[test]
fn fault_and_mirror_go_with_their_route() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        r#"
Kind = "service-router"
Name = "api"
Routes = [
  {
    Match { HTTP { PathPrefix = "/slow" } }
    Destination {
      Fault { Delay { Percent = 10, Duration = "2s" } }
      Mirror { Service = "api-shadow", Percent = 5 }
    }
  },
]
"#,
    ]);
    let c = chain(&e, "api");
    assert!(c.uses_fault());
    assert!(c.routes[0].action.fault.is_some());
    let m = c.routes[0].action.mirror.clone().unwrap();
    assert_eq!(m.target, TargetId::service("api-shadow"));
    assert_eq!(m.percent.hundredths(), 500);
    assert!(c.targets.contains_key(&TargetId::service("api-shadow")));
}

#[test]
fn case_insensitive_and_idle_timeout_go_with_their_route() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        r#"
Kind = "service-router"
Name = "api"
Routes = [
  {
    Match { HTTP { PathPrefix = "/API", CaseInsensitive = true } }
    Destination { IdleTimeout = "3s" }
  },
  {
    Match { HTTP { PathExact = "/exact" } }
  },
]
"#,
    ]);
    let c = chain(&e, "api");
    let m = c.routes[0].matcher.as_ref().unwrap();
    assert!(m.case_insensitive);
    assert_eq!(m.path, Some(PathMatch::Prefix("/API".to_owned())));
    assert_eq!(
        c.routes[0].action.idle_timeout,
        Some(Duration::from_secs(3))
    );
    assert!(!c.routes[1].matcher.as_ref().unwrap().case_insensitive);
    assert_eq!(c.routes[1].action.idle_timeout, None);
    assert_eq!(c.routes[2].action.idle_timeout, None, "the catch-all");
}
