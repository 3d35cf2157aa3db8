//! Config entries compiled into xDS: golden files for representative sets (router,
//! splitter and resolver with subsets; failover; ring hash; fault and mirror), checks of
//! the contract's rules, and conformance over the shared corpus. `UPDATE_GOLDEN=1`
//! rewrites the goldens.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[path = "compile/support.rs"]
mod support;

use std::path::{Path, PathBuf};

use envoy_types::pb::envoy::config::route::v3::{route::Action, route_action::ClusterSpecifier};
use rigging_mesh_config_entries::{parse_str, validate_set};
use rigging_mesh_model::{Catalog, Health, Protocol, ProxyId, ServiceName};
use rigging_mesh_spiffe::TrustDomain;
use rigging_pilot_chain::{ChainRequest, Entries, compile_chain};
use rigging_pilot_compiler::{CompileOptions, MeshSecurity, ProxyResources, compile};
use support::*;

fn secured() -> CompileOptions {
    CompileOptions {
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
    }
}

fn tagged(
    mut e: rigging_mesh_model::Endpoint,
    version: &str,
    tags: &[&str],
) -> rigging_mesh_model::Endpoint {
    e.metadata.insert("version".to_owned(), version.to_owned());
    e.tags = tags.iter().map(|t| (*t).to_owned()).collect();
    e
}

/// `web` calls `api` (v1, v2 and a canary), `db` (with a replica) and `shadow`.
fn mesh() -> Catalog {
    catalog(
        vec![
            service(
                "web",
                Protocol::Http,
                vec![endpoint("web-1", "127.0.0.1:21000", Health::Passing, "a")],
            ),
            service(
                "api",
                Protocol::Http,
                vec![
                    tagged(
                        endpoint("api-v1-1", "127.0.0.1:21001", Health::Passing, "a"),
                        "v1",
                        &[],
                    ),
                    tagged(
                        endpoint("api-v2-1", "127.0.0.1:21002", Health::Warning, "b"),
                        "v2",
                        &[],
                    ),
                    tagged(
                        endpoint("api-v2-2", "127.0.0.1:21003", Health::Passing, "a"),
                        "v2",
                        &["canary"],
                    ),
                ],
            ),
            service(
                "api-shadow",
                Protocol::Http,
                vec![endpoint(
                    "shadow-1",
                    "127.0.0.1:21004",
                    Health::Passing,
                    "a",
                )],
            ),
            service(
                "db",
                Protocol::Tcp,
                vec![
                    tagged(
                        endpoint("db-1", "127.0.0.1:21005", Health::Passing, "a"),
                        "v1",
                        &["primary"],
                    ),
                    tagged(
                        endpoint("db-2", "127.0.0.1:21006", Health::Passing, "b"),
                        "v1",
                        &[],
                    ),
                ],
            ),
            service(
                "db-replica",
                Protocol::Tcp,
                vec![endpoint("db-r-1", "127.0.0.1:21007", Health::Passing, "c")],
            ),
        ],
        vec![proxy(
            "web-1",
            "web",
            21000,
            8080,
            &[("api", 9191), ("db", 9192)],
        )],
    )
}

/// Every endpoint behind a sidecar, for the secured case.
fn sidecars(mut cat: Catalog) -> Catalog {
    for s in cat.services.values_mut() {
        for e in &mut s.endpoints {
            e.sidecar = true;
        }
    }
    cat
}

fn compiled(cat: &Catalog, e: &Entries, opts: &CompileOptions) -> ProxyResources {
    compile(cat, e, &ProxyId::new("web-1").unwrap(), opts).unwrap()
}

const PROXY_DEFAULTS_HTTP: &str = r#"
Kind = "proxy-defaults"
Name = "global"
Config { protocol = "http" }
"#;

const DB_TCP: &str = r#"
Kind = "service-defaults"
Name = "db"
Protocol = "tcp"
"#;

const API_RESOLVER: &str = r#"
Kind = "service-resolver"
Name = "api"
DefaultSubset = "v1"
Subsets = {
  v1 = { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2", OnlyPassing = true }
  canary = { Filter = "canary in Service.Tags" }
}
ConnectTimeout = "3s"
RequestTimeout = "20s"
"#;

fn router_splitter_resolver_set() -> Entries {
    entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        API_RESOLVER,
        r#"
Kind = "service-router"
Name = "api"
Routes = [
  {
    Match { HTTP {
      PathPrefix = "/admin"
      Header = [ { Name = "x-debug", Present = true } ]
      Methods = ["GET", "POST"]
    } }
    Destination {
      ServiceSubset = "canary"
      PrefixRewrite = "/"
      RequestTimeout = "2s"
      NumRetries = 2
      RetryOnConnectFailure = true
      RetryOn = ["5xx", "envoy-ratelimited"]
      RetryOnStatusCodes = [503]
      RequestHeaders {
        Set { x-route = "admin" }
        Remove = ["x-internal"]
      }
    }
  },
  {
    Match { HTTP {
      PathRegex = "/v2/.*"
      QueryParam = [ { Name = "beta", Exact = "1" } ]
    } }
    Destination { ServiceSubset = "v2" }
  },
]
"#,
        r#"
Kind = "service-splitter"
Name = "api"
Splits = [
  { Weight = 90, ServiceSubset = "v1" },
  { Weight = 10, ServiceSubset = "v2", ResponseHeaders { Add { x-split = "v2" } } },
]
"#,
    ])
}

/// A router by header and path, a 90/10 canary split, and subsets by meta and by tag.
#[test]
fn golden_router_splitter_resolver_with_subsets() {
    let e = router_splitter_resolver_set();
    check(
        "chain-router-splitter-resolver",
        &render(&compiled(&mesh(), &e, &CompileOptions::default())),
    );
}

fn failover_set() -> Entries {
    entries(&[
        DB_TCP,
        r#"
Kind = "service-resolver"
Name = "db"
DefaultSubset = "primary"
Subsets = { primary = { Filter = "primary in Service.Tags" } }
Failover = {
  primary = { Targets = [ { Datacenter = "dc2" }, { Service = "db-replica" } ] }
}
"#,
        r#"
Kind = "service-defaults"
Name = "web"
UpstreamConfig = {
  Overrides = [
    {
      Name = "db"
      ConnectTimeoutMs = 1500
      Limits = { MaxConnections = 10, MaxPendingRequests = 5, MaxConcurrentRequests = 20 }
      PassiveHealthCheck = { Interval = "5s", MaxFailures = 3, EnforcingConsecutive5xx = 80 }
    },
  ]
}
"#,
    ])
}

/// Failover of db's primary subset to another datacenter (no endpoints: no registry has db
/// in dc2) then to db-replica, in a secured mesh: the CLA holds the replica at priority 1
/// and the cluster accepts db's SPIFFE IDs in both datacenters and db-replica's. The caller's
/// UpstreamConfig sets limits and outlier detection.
#[test]
fn golden_failover_secured_with_upstream_config() {
    let e = failover_set();
    check(
        "chain-failover-mtls",
        &render(&compiled(&sidecars(mesh()), &e, &secured())),
    );
}

fn ring_hash_set() -> Entries {
    entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        r#"
Kind = "service-resolver"
Name = "api"
LoadBalancer = {
  Policy = "ring_hash"
  RingHashConfig = { MinimumRingSize = 1024, MaximumRingSize = 8192 }
  HashPolicies = [
    { Field = "header", FieldValue = "x-user-id", Terminal = true },
    { Field = "cookie", FieldValue = "session", CookieConfig = { TTL = "60s", Path = "/" } },
    { SourceIP = true },
  ]
}
"#,
        r#"
Kind = "service-resolver"
Name = "db"
LoadBalancer = { Policy = "least_request", LeastRequestConfig = { ChoiceCount = 5 } }
"#,
    ])
}

/// Ring hash on a header then the source IP, and least request on db.
#[test]
fn golden_ring_hash_with_hash_policies() {
    let e = ring_hash_set();
    check(
        "chain-ring-hash",
        &render(&compiled(&mesh(), &e, &CompileOptions::default())),
    );
}

fn fault_mirror_set() -> Entries {
    entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        r#"
Kind = "service-router"
Name = "api"
Routes = [
  {
    Match { HTTP { PathPrefix = "/flaky" } }
    Destination {
      Fault {
        Delay { Percent = 10, Duration = "2s" }
        Abort { Percent = 1.5, HTTPStatus = 503 }
      }
    }
  },
  {
    Destination {
      Mirror { Service = "api-shadow", Percent = 5 }
    }
  },
]
"#,
    ])
}

/// Faults on one route, a mirror to api-shadow on the catch-all's copy.
#[test]
fn golden_fault_and_mirror() {
    let e = fault_mirror_set();
    check(
        "chain-fault-mirror",
        &render(&compiled(&mesh(), &e, &CompileOptions::default())),
    );
}

/// Every cluster a route, a split or a mirror names is sent, with its endpoint set.
#[test]
fn every_routed_cluster_is_sent() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        API_RESOLVER,
        r#"
Kind = "service-splitter"
Name = "api"
Splits = [ { Weight = 50, ServiceSubset = "v1" }, { Weight = 50, ServiceSubset = "canary" } ]
"#,
    ]);
    let res = compiled(&mesh(), &e, &CompileOptions::default());
    let clusters: Vec<&str> = res.clusters.iter().map(|c| c.name.as_str()).collect();
    let cla: Vec<&str> = res
        .endpoints
        .iter()
        .map(|c| c.cluster_name.as_str())
        .collect();
    assert_eq!(clusters, ["canary.api", "db", "local_app", "v1.api"]);
    assert_eq!(cla, ["canary.api", "db", "v1.api"]);
    let api = res.routes.iter().find(|r| r.name == "api").unwrap();
    let Some(Action::Route(a)) = &api.virtual_hosts[0].routes[0].action else {
        panic!()
    };
    let Some(ClusterSpecifier::WeightedClusters(w)) = &a.cluster_specifier else {
        panic!("{a:?}")
    };
    let total: u32 = w.clusters.iter().map(|c| c.weight.unwrap().value).sum();
    assert_eq!(total, 10_000);
    let v1 = res
        .endpoints
        .iter()
        .find(|c| c.cluster_name == "v1.api")
        .unwrap();
    assert_eq!(
        v1.endpoints
            .iter()
            .map(|g| g.lb_endpoints.len())
            .sum::<usize>(),
        1
    );
}

/// Entries for other services leave an upstream's output exactly as without entries.
#[test]
fn entries_of_other_services_change_nothing() {
    let e = entries(&[r#"
Kind = "service-resolver"
Name = "unrelated"
ConnectTimeout = "1s"
"#]);
    for opts in [CompileOptions::default(), secured()] {
        assert_eq!(
            compiled(&mesh(), &e, &opts),
            compiled(&mesh(), &Entries::default(), &opts)
        );
    }
}

/// `$RIGGING_CORPUS` (relative to the workspace root), or `../shared/corpus` from there.
fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus folder {} is absent", dir.display());
        None
    }
}

/// Every file of the corpus that reads without errors is compiled into a chain for each
/// service it names, and into a whole proxy's resources calling those services, against a
/// small catalog. A set Consul would accept (no `validate_set` error) must compile; any set
/// must compile or fail with an error, never panic.
#[test]
fn corpus_files_compile_into_chains() {
    let Some(corpus) = corpus() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("consul-config-entries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("hcl" | "json")))
        .collect();
    files.sort();
    let (mut compiled_files, mut chains, mut refused) = (0, 0, Vec::new());
    for path in files {
        let loaded = parse_str(&path, &std::fs::read_to_string(&path).unwrap());
        if !loaded.errors.is_empty() || loaded.entries.is_empty() {
            continue;
        }
        let consistent = validate_set(&loaded.entries).is_empty();
        let e = Entries::new(loaded.entries);
        let names: Vec<String> = e.services().into_iter().map(str::to_owned).collect();
        for name in &names {
            let result = compile_chain(&e, &ChainRequest::new(name.clone(), "dc1"));
            match result {
                Ok(chain) => {
                    assert!(!chain.routes.is_empty());
                    chains += 1;
                }
                Err(err) if consistent => panic!("{}: {name}: {err}", path.display()),
                Err(err) => refused.push(format!("{}: {err}", path.display())),
            }
        }
        let cat = corpus_catalog(&names);
        for opts in [CompileOptions::default(), secured()] {
            let res = compile(&cat, &e, &ProxyId::new("caller-1").unwrap(), &opts).unwrap();
            assert!(!res.listeners.is_empty(), "{}", path.display());
        }
        compiled_files += 1;
    }
    println!(
        "consul-config-entries: {compiled_files} files compiled, {chains} chains, {} refused in sets validate_set refuses: {refused:#?}",
        refused.len()
    );
    assert!(compiled_files > 0);
}

/// One HTTP service per name with two endpoints (v1 and v2, one tagged canary), and a
/// caller whose proxy calls all of them.
fn corpus_catalog(names: &[String]) -> Catalog {
    let mut services = vec![service("caller", Protocol::Http, vec![])];
    let mut ups = Vec::new();
    let valid: Vec<&String> = names
        .iter()
        .filter(|n| ServiceName::new(n.as_str()).is_ok() && n.as_str() != "caller")
        .collect();
    for (i, n) in valid.iter().enumerate() {
        let port = 30000 + 2 * u16::try_from(i).unwrap();
        services.push(service(
            n,
            Protocol::Http,
            vec![
                tagged(
                    endpoint(
                        &format!("{n}-1"),
                        &format!("127.0.0.1:{port}"),
                        Health::Passing,
                        "a",
                    ),
                    "v1",
                    &[],
                ),
                tagged(
                    endpoint(
                        &format!("{n}-2"),
                        &format!("127.0.0.1:{}", port + 1),
                        Health::Warning,
                        "b",
                    ),
                    "v2",
                    &["canary"],
                ),
            ],
        ));
        ups.push((n.as_str(), 9000 + u16::try_from(i).unwrap()));
    }
    catalog(
        services,
        vec![proxy("caller-1", "caller", 21000, 8080, &ups)],
    )
}

/// What Pilot compiles from every golden set, the proxy's conversion accepts, and every
/// cluster a route or listener names is sent.
#[test]
fn the_proxy_accepts_every_golden_set() {
    use rigging_mesh_xds::ResourceType;
    let sets = [
        (
            "router",
            router_splitter_resolver_set(),
            mesh(),
            CompileOptions::default(),
        ),
        ("failover", failover_set(), sidecars(mesh()), secured()),
        (
            "ring hash",
            ring_hash_set(),
            mesh(),
            CompileOptions::default(),
        ),
        (
            "fault",
            fault_mirror_set(),
            mesh(),
            CompileOptions::default(),
        ),
    ];
    for (what, e, cat, opts) in sets {
        let res = compiled(&cat, &e, &opts);
        let mut config = rigging_proxy_config::ProxyConfig::default();
        for ty in ResourceType::ALL {
            let any = res.packed(ty).into_any();
            config = config
                .with_resources(ty, &any)
                .unwrap_or_else(|err| panic!("{what}: {ty} refused: {err}"));
        }
        assert!(
            config.check_references().is_empty(),
            "{what}: {:?}",
            config.check_references()
        );
    }
}

fn addresses_at(
    cla: &rigging_mesh_xds::ClusterLoadAssignment,
    priority: u32,
) -> Vec<(String, i32)> {
    use envoy_types::pb::envoy::config::core::v3::address::Address as A;
    use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
    cla.endpoints
        .iter()
        .filter(|g| g.priority == priority)
        .flat_map(|g| &g.lb_endpoints)
        .map(|e| {
            let Some(HostIdentifier::Endpoint(ep)) = &e.host_identifier else {
                panic!()
            };
            let Some(A::SocketAddress(sa)) = ep.address.as_ref().and_then(|a| a.address.clone())
            else {
                panic!()
            };
            let port = match sa.port_specifier {
                Some(envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(p)) => p,
                _ => 0,
            };
            (format!("{}:{port}", sa.address), e.health_status)
        })
        .collect()
}

/// Subsets select by meta and by tag; `OnlyPassing` sends warning endpoints as unhealthy;
/// failover endpoints follow at priority 1.
#[test]
fn subsets_only_passing_and_failover_priorities() {
    use envoy_types::pb::envoy::config::core::v3::HealthStatus;
    let res = compiled(
        &mesh(),
        &router_splitter_resolver_set(),
        &CompileOptions::default(),
    );
    let cla = |n: &str| {
        res.endpoints
            .iter()
            .find(|c| c.cluster_name == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        addresses_at(&cla("v1.api"), 0),
        [("127.0.0.1:21001".to_owned(), HealthStatus::Healthy as i32)]
    );
    assert_eq!(
        addresses_at(&cla("v2.api"), 0),
        [
            ("127.0.0.1:21003".to_owned(), HealthStatus::Healthy as i32),
            ("127.0.0.1:21002".to_owned(), HealthStatus::Unhealthy as i32),
        ],
        "OnlyPassing: the warning endpoint is sent unhealthy"
    );
    assert_eq!(
        addresses_at(&cla("canary.api"), 0),
        [("127.0.0.1:21003".to_owned(), HealthStatus::Healthy as i32)]
    );

    let res = compiled(&sidecars(mesh()), &failover_set(), &secured());
    let primary = res
        .endpoints
        .iter()
        .find(|c| c.cluster_name == "primary.db")
        .unwrap();
    assert_eq!(
        addresses_at(primary, 0),
        [("127.0.0.1:21005".to_owned(), HealthStatus::Healthy as i32)]
    );
    assert_eq!(
        addresses_at(primary, 1),
        [("127.0.0.1:21007".to_owned(), HealthStatus::Healthy as i32)],
        "dc2 has no endpoints in the model, so db-replica is the first failover level"
    );
}

/// The caller's UpstreamConfig is applied to the caller's copies only: the shared clusters
/// carry the retry budget but no limits or outlier detection.
#[test]
fn caller_settings_stay_out_of_the_shared_part() {
    use rigging_pilot_compiler::{caller_clusters, compile_upstream};
    let e = failover_set();
    let cat = sidecars(mesh());
    let db = ServiceName::new("db").unwrap();
    let shared = compile_upstream(&cat, &e, &db, &secured());
    let primary = shared
        .clusters
        .iter()
        .find(|c| c.name == "primary.db")
        .unwrap();
    assert!(primary.outlier_detection.is_none());
    let t = &primary.circuit_breakers.as_ref().unwrap().thresholds[0];
    assert!(t.max_connections.is_none() && t.retry_budget.is_some());
    let web = ServiceName::new("web").unwrap();
    let mine = caller_clusters(&e, &web, &db, &shared);
    let primary = mine.iter().find(|c| c.name == "primary.db").unwrap();
    assert!(primary.outlier_detection.is_some());
    let t = &primary.circuit_breakers.as_ref().unwrap().thresholds[0];
    assert_eq!(t.max_connections.map(|v| v.value), Some(10));
    let other = ServiceName::new("api").unwrap();
    assert_eq!(caller_clusters(&e, &other, &db, &shared), shared.clusters);
}

/// `CaseInsensitive` becomes `case_sensitive: false` on its route only, and a destination's
/// `IdleTimeout` the route action's `idle_timeout`; the proxy accepts both.
#[test]
fn case_insensitive_match_and_idle_timeout_are_emitted() {
    use envoy_types::pb::google::protobuf::{BoolValue, Duration};
    use rigging_mesh_xds::ResourceType;
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        r#"
Kind = "service-router"
Name = "api"
Routes = [
  {
    Match { HTTP { PathPrefix = "/API", CaseInsensitive = true } }
    Destination { IdleTimeout = "1m30s" }
  },
  { Match { HTTP { PathExact = "/exact" } } },
]
"#,
    ]);
    let res = compiled(&mesh(), &e, &CompileOptions::default());
    let api = res.routes.iter().find(|r| r.name == "api").unwrap();
    let routes = &api.virtual_hosts[0].routes;
    let action = |i: usize| match &routes[i].action {
        Some(Action::Route(a)) => a.clone(),
        other => panic!("{other:?}"),
    };
    let case = |i: usize| routes[i].r#match.as_ref().unwrap().case_sensitive;
    assert_eq!(case(0), Some(BoolValue { value: false }));
    assert_eq!(case(1), None);
    assert_eq!(case(2), None, "the catch-all");
    assert_eq!(
        action(0).idle_timeout,
        Some(Duration {
            seconds: 90,
            nanos: 0
        })
    );
    assert_eq!(action(1).idle_timeout, None);
    assert_eq!(action(2).idle_timeout, None);

    let mut config = rigging_proxy_config::ProxyConfig::default();
    for ty in ResourceType::ALL {
        config = config
            .with_resources(ty, &res.packed(ty).into_any())
            .unwrap_or_else(|err| panic!("{ty} refused: {err}"));
    }
}
