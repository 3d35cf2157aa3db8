//! Compiler tests. Golden: a catalog in, the rendered xDS resources of one proxy out, compared with
//! `tests/golden/<case>.txt`. Set `UPDATE_GOLDEN=1` to rewrite the files after a deliberate change.
#![allow(clippy::unwrap_used)]

#[path = "compile/mtls.rs"]
mod mtls;
#[path = "compile/support.rs"]
mod support;

use rigging_mesh_model::{Catalog, Health, MutualTlsMode, Protocol, ProxyId};
use rigging_mesh_spiffe::TrustDomain;
use rigging_pilot_compiler::{CompileError, CompileOptions, Entries, MeshSecurity, compile};
use support::*;

/// The mesh of the secured cases: trust domain `rigging.local`, datacenter `dc1`.
fn secured() -> CompileOptions {
    CompileOptions {
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
    }
}

fn demo_catalog() -> Catalog {
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
                    endpoint("api-v1-1", "127.0.0.1:21001", Health::Passing, "a"),
                    endpoint("api-v2-1", "127.0.0.1:21002", Health::Warning, "b"),
                    endpoint("api-v2-2", "127.0.0.1:21003", Health::Critical, "b"),
                ],
            ),
            service(
                "db",
                Protocol::Tcp,
                vec![endpoint("db-1", "127.0.0.1:21004", Health::Passing, "a")],
            ),
            service(
                "grpc-api",
                Protocol::Grpc,
                vec![endpoint(
                    "grpc-1",
                    "127.0.0.1:21005",
                    Health::Maintenance,
                    "a",
                )],
            ),
        ],
        vec![
            proxy(
                "web-1",
                "web",
                21000,
                8080,
                &[
                    ("api", 9191),
                    ("db", 9192),
                    ("grpc-api", 9193),
                    ("missing", 9194),
                ],
            ),
            proxy("db-1", "db", 21004, 5432, &[]),
        ],
    )
}

/// The demo mesh with sidecars: every instance behind its sidecar but `api-v2-2` (a plain
/// registration, which a secured mesh must not send), and `db` in permissive mode.
fn secured_catalog() -> Catalog {
    let mut cat = demo_catalog();
    for s in cat.services.values_mut() {
        for e in &mut s.endpoints {
            e.sidecar = e.instance != "api-v2-2";
        }
        if s.name.as_str() == "db" {
            s.mutual_tls_mode = MutualTlsMode::Permissive;
        }
    }
    cat
}

#[test]
fn golden_web_proxy_with_http_tcp_grpc_and_missing_upstreams() {
    let opts = CompileOptions::default();
    let res = compile(
        &demo_catalog(),
        &Entries::default(),
        &ProxyId::new("web-1").unwrap(),
        &opts,
    )
    .unwrap();
    check("web-1", &render(&res));
}

#[test]
fn golden_tcp_proxy_without_upstreams() {
    let opts = CompileOptions::default();
    let res = compile(
        &demo_catalog(),
        &Entries::default(),
        &ProxyId::new("db-1").unwrap(),
        &opts,
    )
    .unwrap();
    check("db-1", &render(&res));
}

/// Strict inbound mTLS, upstream mTLS per destination, only sidecar endpoints.
#[test]
fn golden_web_proxy_with_strict_mtls() {
    let res = compile(
        &secured_catalog(),
        &Entries::default(),
        &ProxyId::new("web-1").unwrap(),
        &secured(),
    )
    .unwrap();
    check("web-1-mtls-strict", &render(&res));
}

/// Permissive inbound: the TLS inspector, a TLS chain and a plaintext chain.
#[test]
fn golden_tcp_proxy_with_permissive_mtls() {
    let res = compile(
        &secured_catalog(),
        &Entries::default(),
        &ProxyId::new("db-1").unwrap(),
        &secured(),
    )
    .unwrap();
    check("db-1-mtls-permissive", &render(&res));
}

/// Sidecar flags and mTLS modes change nothing while security is off.
#[test]
fn without_security_sidecars_and_modes_change_nothing() {
    let opts = CompileOptions::default();
    for id in ["web-1", "db-1"] {
        let id = ProxyId::new(id).unwrap();
        assert_eq!(
            compile(&secured_catalog(), &Entries::default(), &id, &opts),
            compile(&demo_catalog(), &Entries::default(), &id, &opts)
        );
    }
}

#[test]
fn unknown_proxy_is_an_error() {
    let id = ProxyId::new("nobody").unwrap();
    assert_eq!(
        compile(
            &demo_catalog(),
            &Entries::default(),
            &id,
            &CompileOptions::default()
        ),
        Err(CompileError::UnknownProxy(id))
    );
}

mod properties {
    use std::collections::BTreeSet;

    use envoy_types::pb::envoy::config::listener::v3::filter::ConfigType;
    use envoy_types::pb::envoy::config::route::v3::{
        route::Action, route_action::ClusterSpecifier,
    };
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
        HttpConnectionManager, http_connection_manager::RouteSpecifier,
    };
    use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{
        TcpProxy, tcp_proxy::ClusterSpecifier as TcpCluster,
    };
    use proptest::prelude::*;
    use rigging_mesh_model::{Catalog, Health, MutualTlsMode, Protocol, ProxyId};
    use rigging_mesh_xds::{HTTP_CONNECTION_MANAGER, ResourceType, TCP_PROXY, unpack};
    use rigging_pilot_compiler::{CompileOptions, Entries, ProxyResources, compile};

    use super::mtls;
    use super::support::*;

    const NAMES: [&str; 5] = ["a", "b", "c", "d", "e"];

    fn arb_protocol() -> impl Strategy<Value = Protocol> {
        prop::sample::select(Protocol::ALL.to_vec())
    }

    fn arb_mode() -> impl Strategy<Value = MutualTlsMode> {
        prop::sample::select(vec![MutualTlsMode::Strict, MutualTlsMode::Permissive])
    }

    /// No security, or the mesh of the secured goldens.
    fn arb_options() -> impl Strategy<Value = CompileOptions> {
        prop::bool::ANY.prop_map(|on| {
            if on {
                super::secured()
            } else {
                CompileOptions::default()
            }
        })
    }

    fn arb_health() -> impl Strategy<Value = Health> {
        prop::sample::select(vec![
            Health::Passing,
            Health::Warning,
            Health::Critical,
            Health::Maintenance,
        ])
    }

    /// Services a..e with random protocols, mTLS modes and endpoints (sidecars or not); one
    /// proxy per service with a random subset of the others (and possibly unknown ones) as
    /// upstreams.
    fn arb_catalog() -> impl Strategy<Value = Catalog> {
        let services = prop::collection::vec(
            (
                arb_protocol(),
                arb_mode(),
                prop::collection::vec((arb_health(), 0u8..3, prop::bool::ANY), 0..5),
            ),
            NAMES.len(),
        );
        let upstreams =
            prop::collection::vec(prop::collection::btree_set(0usize..7, 0..5), NAMES.len());
        (services, upstreams).prop_map(|(services, upstreams)| {
            let mut port = 30000u16;
            let mut svcs = Vec::new();
            for (i, (protocol, mode, eps)) in services.into_iter().enumerate() {
                let eps = eps
                    .into_iter()
                    .enumerate()
                    .map(|(j, (h, zone, sidecar))| {
                        port += 1;
                        let mut e = endpoint(
                            &format!("{}-{j}", NAMES[i]),
                            &format!("127.0.0.1:{port}"),
                            h,
                            &zone.to_string(),
                        );
                        e.sidecar = sidecar;
                        e
                    })
                    .collect();
                let mut s = service(NAMES[i], protocol, eps);
                s.mutual_tls_mode = mode;
                svcs.push(s);
            }
            let names7 = ["a", "b", "c", "d", "e", "unknown-x", "unknown-y"];
            let proxies = upstreams
                .into_iter()
                .enumerate()
                .map(|(i, ups)| {
                    let ups: Vec<(&str, u16)> = ups
                        .into_iter()
                        .filter(|u| *u != i)
                        .map(|u| (names7[u], 9000 + u as u16))
                        .collect();
                    proxy(
                        &format!("{}-proxy", NAMES[i]),
                        NAMES[i],
                        21000 + i as u16,
                        8000 + i as u16,
                        &ups,
                    )
                })
                .collect();
            catalog(svcs, proxies)
        })
    }

    fn referenced(res: &ProxyResources) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut rds = BTreeSet::new();
        let mut clusters = BTreeSet::new();
        for l in &res.listeners {
            for f in l.filter_chains.iter().flat_map(|c| &c.filters) {
                let Some(ConfigType::TypedConfig(any)) = &f.config_type else {
                    panic!("no typed config")
                };
                match any.type_url.as_str() {
                    HTTP_CONNECTION_MANAGER => {
                        let h: HttpConnectionManager =
                            unpack(HTTP_CONNECTION_MANAGER, any).unwrap();
                        let Some(RouteSpecifier::Rds(r)) = h.route_specifier else {
                            panic!("not rds")
                        };
                        rds.insert(r.route_config_name);
                    }
                    TCP_PROXY => {
                        let t: TcpProxy = unpack(TCP_PROXY, any).unwrap();
                        let Some(TcpCluster::Cluster(c)) = t.cluster_specifier else {
                            panic!("no cluster")
                        };
                        clusters.insert(c);
                    }
                    other => panic!("unexpected filter {other}"),
                }
            }
        }
        for r in &res.routes {
            for route in r.virtual_hosts.iter().flat_map(|v| &v.routes) {
                let Some(Action::Route(a)) = &route.action else {
                    panic!("not a route action")
                };
                let Some(ClusterSpecifier::Cluster(c)) = &a.cluster_specifier else {
                    panic!("no cluster")
                };
                clusters.insert(c.clone());
            }
        }
        (rds, clusters)
    }

    /// Everything compiled for every proxy of `cat` converts into the proxy's own config, and
    /// every reference resolves.
    fn proxy_accepts(cat: &Catalog, opts: &CompileOptions) -> Result<(), TestCaseError> {
        for p in cat.proxies.values() {
            let res = compile(cat, &Entries::default(), &p.id, opts).unwrap();
            let mut config = rigging_proxy_config::ProxyConfig::default();
            for ty in ResourceType::ALL {
                let any = res.packed(ty).into_any();
                config = config
                    .with_resources(ty, &any)
                    .map_err(|e| TestCaseError::fail(format!("{ty} refused: {e}")))?;
            }
            prop_assert_eq!(config.listeners.len(), res.listeners.len());
            prop_assert!(
                config.check_references().is_empty(),
                "{:?}",
                config.check_references()
            );
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn only_declared_upstreams_and_every_reference_resolves(
            cat in arb_catalog(),
            opts in arb_options(),
        ) {
            for p in cat.proxies.values() {
                let res = compile(&cat, &Entries::default(), &p.id, &opts).unwrap();
                let n = p.upstreams.len();
                prop_assert_eq!(res.listeners.len(), 1 + n);
                prop_assert_eq!(res.clusters.len(), 1 + n);
                prop_assert_eq!(res.endpoints.len(), n);
                let cluster_names: BTreeSet<_> = res.clusters.iter().map(|c| c.name.clone()).collect();
                let mut want: BTreeSet<String> = p.upstreams.iter().map(|u| u.service.to_string()).collect();
                want.insert("local_app".to_owned());
                prop_assert_eq!(&cluster_names, &want);

                let (rds, used_clusters) = referenced(&res);
                let route_names: BTreeSet<_> = res.routes.iter().map(|r| r.name.clone()).collect();
                prop_assert_eq!(rds, route_names);
                prop_assert!(used_clusters.is_subset(&cluster_names));

                for cla in &res.endpoints {
                    let sent: usize = cla.endpoints.iter().map(|g| g.lb_endpoints.len()).sum();
                    let known = cat
                        .services
                        .values()
                        .find(|s| s.name.as_str() == cla.cluster_name)
                        .map_or(0, |s| {
                            s.endpoints
                                .iter()
                                .filter(|e| e.sidecar || opts.security.is_none())
                                .count()
                        });
                    prop_assert_eq!(sent, known);
                }
            }
        }

        /// Everything Pilot compiles, our proxy accepts, and every reference resolves.
        #[test]
        fn the_proxy_accepts_everything_compiled(cat in arb_catalog()) {
            proxy_accepts(&cat, &CompileOptions::default())?;
        }

        /// The same for a secured mesh: mTLS on every inbound listener and upstream cluster.
        #[test]
        fn the_proxy_accepts_everything_compiled_with_mtls(cat in arb_catalog()) {
            proxy_accepts(&cat, &super::secured())?;
        }

        /// With security, every upstream cluster originates mTLS to its destination's SPIFFE ID,
        /// no endpoint but a sidecar is sent, and the inbound listener follows the service's mode.
        #[test]
        fn secured_mesh_speaks_mtls_to_sidecars_only(cat in arb_catalog()) {
            let opts = super::secured();
            for p in cat.proxies.values() {
                let res = compile(&cat, &Entries::default(), &p.id, &opts).unwrap();
                for c in &res.clusters {
                    if c.name == "local_app" {
                        prop_assert!(c.transport_socket.is_none(), "local_app stays plaintext");
                        continue;
                    }
                    mtls::check_upstream(c)?;
                }
                for cla in &res.endpoints {
                    let sidecars: BTreeSet<String> = cat
                        .services
                        .values()
                        .filter(|s| s.name.as_str() == cla.cluster_name)
                        .flat_map(|s| &s.endpoints)
                        .filter(|e| e.sidecar)
                        .map(|e| e.address.to_string())
                        .collect();
                    for addr in mtls::addresses(cla) {
                        prop_assert!(sidecars.contains(&addr), "{addr} is not a sidecar of {}", cla.cluster_name);
                    }
                }
                let mode = cat.service(&p.service).map(|s| s.mutual_tls_mode).unwrap_or_default();
                for l in &res.listeners {
                    if l.name.starts_with("outbound:") {
                        prop_assert!(l.listener_filters.is_empty());
                        prop_assert!(l.filter_chains.iter().all(|c| c.transport_socket.is_none()));
                    } else {
                        mtls::check_inbound(l, mode)?;
                    }
                }
            }
        }

        #[test]
        fn versions_are_deterministic_and_track_content(cat in arb_catalog()) {
            let id = ProxyId::new("a-proxy").unwrap();
            let opts = CompileOptions::default();
            let one = compile(&cat, &Entries::default(), &id, &opts).unwrap();
            let two = compile(&cat.clone(), &Entries::default(), &id, &opts).unwrap();
            for ty in ResourceType::ALL {
                prop_assert_eq!(one.packed(ty), two.packed(ty));
            }
            let mut changed = cat.clone();
            let first_up = changed.proxies.get(&id).and_then(|p| p.upstreams.first()).cloned();
            if let Some(s) = first_up.and_then(|up| changed.services.get_mut(&up.service)) {
                s.endpoints.push(endpoint("new-1", "127.0.0.2:1", Health::Passing, "z"));
                let three = compile(&changed, &Entries::default(), &id, &opts).unwrap();
                prop_assert_ne!(
                    one.packed(ResourceType::Endpoint).version,
                    three.packed(ResourceType::Endpoint).version
                );
                prop_assert_eq!(
                    one.packed(ResourceType::Listener).version,
                    three.packed(ResourceType::Listener).version
                );
            }
        }
    }
}
