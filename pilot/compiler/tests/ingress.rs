//! Ingress gateways compiled from `ingress-gateway` entries: golden files for an HTTP
//! listener with hosts, header changes and limits beside a tcp listener, and for a wildcard
//! listener in a secured mesh; checks of Consul's rules and of what the proxy accepts.
//! `UPDATE_GOLDEN=1` rewrites the goldens.
#![allow(clippy::unwrap_used)]

#[allow(unused_imports)]
#[path = "compile/support.rs"]
mod support;

use std::net::IpAddr;
use std::path::Path;

use envoy_types::pb::envoy::config::route::v3::{route::Action, route_action::ClusterSpecifier};
use rigging_mesh_config_entries::{ConfigEntry, parse_str};
use rigging_mesh_model::{Catalog, Health, Protocol, ServiceName};
use rigging_mesh_spiffe::TrustDomain;
use rigging_pilot_chain::Entries;
use rigging_pilot_compiler::{
    CompileError, CompileOptions, IngressNode, IngressResources, MeshSecurity, NodeId,
    compile_ingress,
};
use support::*;

fn secured() -> CompileOptions {
    CompileOptions {
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
    }
}

fn versioned(mut e: rigging_mesh_model::Endpoint, version: &str) -> rigging_mesh_model::Endpoint {
    e.metadata.insert("version".to_owned(), version.to_owned());
    e.sidecar = true;
    e
}

/// `api` (v1 and v2), `web` (HTTP) and `db` (tcp), every endpoint a sidecar.
fn mesh() -> Catalog {
    catalog(
        vec![
            service(
                "api",
                Protocol::Http,
                vec![
                    versioned(
                        endpoint("api-v1-1", "127.0.0.1:21001", Health::Passing, "a"),
                        "v1",
                    ),
                    versioned(
                        endpoint("api-v2-1", "127.0.0.1:21002", Health::Passing, "a"),
                        "v2",
                    ),
                ],
            ),
            service(
                "web",
                Protocol::Http,
                vec![versioned(
                    endpoint("web-1", "127.0.0.1:21003", Health::Passing, "a"),
                    "v1",
                )],
            ),
            service(
                "db",
                Protocol::Tcp,
                vec![versioned(
                    endpoint("db-1", "127.0.0.1:21004", Health::Passing, "a"),
                    "v1",
                )],
            ),
        ],
        vec![],
    )
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

const API_SPLIT: &str = r#"
Kind = "service-resolver"
Name = "api"
DefaultSubset = "v1"
Subsets = {
  v1 = { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2" }
}
"#;

const API_SPLITTER: &str = r#"
Kind = "service-splitter"
Name = "api"
Splits = [
  { Weight = 50, ServiceSubset = "v1" },
  { Weight = 50, ServiceSubset = "v2" },
]
"#;

const EDGE: &str = r#"
Kind = "ingress-gateway"
Name = "edge"
Defaults {
  MaxConnections = 100
  MaxPendingRequests = 10
  PassiveHealthCheck = { Interval = "10s", MaxFailures = 5 }
}
Listeners = [
  {
    Port = 8080
    Protocol = "http"
    Services = [
      {
        Name = "api"
        Hosts = ["api.example.com"]
        MaxConnections = 50
        PassiveHealthCheck = { MaxFailures = 2 }
        RequestHeaders {
          Set { x-via = "edge" }
          Remove = ["x-internal"]
        }
        ResponseHeaders {
          Add { x-gateway = "edge" }
        }
      },
      { Name = "web" },
    ]
  },
  {
    Port = 9000
    Protocol = "tcp"
    Services = [ { Name = "db" } ]
  },
]
"#;

fn edge_set() -> Entries {
    entries(&[PROXY_DEFAULTS_HTTP, DB_TCP, API_SPLIT, API_SPLITTER, EDGE])
}

fn node(name: &str, bind: &str) -> IngressNode {
    IngressNode::new(
        ServiceName::new(name).unwrap(),
        bind.parse::<IpAddr>().unwrap(),
    )
}

fn compiled(
    cat: &Catalog,
    e: &Entries,
    n: &IngressNode,
    opts: &CompileOptions,
) -> IngressResources {
    compile_ingress(cat, e, n, opts).unwrap()
}

/// An HTTP listener with a host, header changes and a 50/50 split behind it, a service on
/// its default host, and a tcp listener; `Defaults` limits overlaid by the service's own.
#[test]
fn golden_http_and_tcp_listeners() {
    let res = compiled(
        &mesh(),
        &edge_set(),
        &node("edge", "127.0.0.1"),
        &CompileOptions::default(),
    );
    assert!(res.notes.is_empty(), "{:?}", res.notes);
    check("ingress-http-tcp", &render(&res.resources));
    assert_proxy_accepts("plaintext", &res.resources);
}

/// The wildcard service in a secured mesh: every HTTP service on `<service>.ingress.*`,
/// clusters with mTLS to the services' SPIFFE IDs.
#[test]
fn golden_wildcard_secured() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        r#"
Kind = "ingress-gateway"
Name = "public"
Listeners = [ { Port = 443, Protocol = "http", Services = [ { Name = "*" } ] } ]
"#,
    ]);
    let res = compiled(&mesh(), &e, &node("public", "0.0.0.0"), &secured());
    assert!(res.notes.is_empty(), "{:?}", res.notes);
    let names: Vec<&str> = res.services.iter().map(ServiceName::as_str).collect();
    assert_eq!(names, ["api", "web"], "db is tcp: not on an http wildcard");
    check("ingress-wildcard-mtls", &render(&res.resources));
    assert_proxy_accepts("secured", &res.resources);
}

#[test]
fn hosts_default_domains_and_the_split() {
    let res = compiled(
        &mesh(),
        &edge_set(),
        &node("edge", "127.0.0.1"),
        &CompileOptions::default(),
    );
    let names = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
    let rc = &res.resources.routes[0];
    assert_eq!(rc.name, "ingress:8080");
    let hosts: Vec<(&str, &Vec<String>)> = rc
        .virtual_hosts
        .iter()
        .map(|v| (v.name.as_str(), &v.domains))
        .collect();
    assert_eq!(
        hosts,
        [
            (
                "api",
                &names(vec!["api.example.com", "api.example.com:8080"])
            ),
            ("web", &names(vec!["web.ingress.*", "web.ingress.*:8080"])),
        ]
    );
    let Some(Action::Route(a)) = &rc.virtual_hosts[0].routes[0].action else {
        panic!()
    };
    let Some(ClusterSpecifier::WeightedClusters(w)) = &a.cluster_specifier else {
        panic!("{a:?}")
    };
    let split: Vec<(&str, u32)> = w
        .clusters
        .iter()
        .map(|c| (c.name.as_str(), c.weight.unwrap().value))
        .collect();
    assert_eq!(split, [("v1.api", 5000), ("v2.api", 5000)]);
    let listeners: Vec<&str> = res
        .resources
        .listeners
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(
        listeners,
        ["ingress:127.0.0.1:8080", "ingress:127.0.0.1:9000"]
    );
    let v1 = res
        .resources
        .clusters
        .iter()
        .find(|c| c.name == "v1.api")
        .unwrap();
    let t = &v1.circuit_breakers.as_ref().unwrap().thresholds[0];
    assert_eq!(
        t.max_connections.map(|v| v.value),
        Some(50),
        "the service's own"
    );
    assert_eq!(
        t.max_pending_requests.map(|v| v.value),
        Some(10),
        "Defaults"
    );
    let od = v1.outlier_detection.as_ref().unwrap();
    assert_eq!(od.consecutive_5xx.map(|v| v.value), Some(2));
    assert_eq!(od.interval.map(|d| d.seconds), Some(10));
}

#[test]
fn an_unknown_gateway_is_an_error() {
    let err = compile_ingress(
        &mesh(),
        &edge_set(),
        &node("nope", "127.0.0.1"),
        &CompileOptions::default(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        CompileError::UnknownGateway(ServiceName::new("nope").unwrap())
    );
    assert_eq!(
        err.to_string(),
        "ingress gateway nope has no ingress-gateway config entry"
    );
}

const TLS_EDGE: &str = r#"
Kind = "ingress-gateway"
Name = "edge"
TLS = { Enabled = true, TLSMinVersion = "TLSv1_0" }
Listeners = [
  {
    Port = 8443
    Protocol = "http"
    TLS {
      TLSMaxVersion = "TLSv1_2"
      CipherSuites = ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA"]
    }
    Services = [ { Name = "api", Hosts = ["api.example.com"] } ]
  },
  { Port = 9443, Protocol = "tcp", Services = [ { Name = "db" } ] },
  {
    Port = 9444
    Protocol = "tcp"
    TLS { TLSMaxVersion = "TLSv1_1" }
    Services = [ { Name = "db" } ]
  },
  {
    Port = 9445
    Protocol = "http"
    TLS { SDS { ClusterName = "sds", CertResource = "web-cert" } }
    Services = [ { Name = "web" } ]
  },
  {
    Port = 9446
    Protocol = "http"
    Services = [
      {
        Name = "web"
        Hosts = ["web.example.com"]
        TLS { SDS { ClusterName = "sds", CertResource = "web-only" } }
      },
    ]
  },
]
"#;

/// TLS to clients, Consul's merge of gateway and listener settings: served with the
/// gateway's workload certificate and no client certificate in a secured mesh, versions
/// raised to what the proxy speaks and CBC suites left out with notes; a maximum below TLS
/// 1.2 is not served; a listener's SDS certificate is, and a service's own is chosen by SNI.
/// Without Citadel only the SDS listener opens.
#[test]
fn tls_listeners() {
    let e = entries(&[PROXY_DEFAULTS_HTTP, DB_TCP, TLS_EDGE]);
    let res = compiled(&mesh(), &e, &node("edge", "127.0.0.1"), &secured());
    let listeners: Vec<&str> = res
        .resources
        .listeners
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(
        listeners,
        [
            "ingress:127.0.0.1:8443",
            "ingress:127.0.0.1:9443",
            "ingress:127.0.0.1:9445",
            "ingress:127.0.0.1:9446"
        ]
    );
    let notes = res.notes.join("\n");
    for expected in [
        "port 8443: TLSMinVersion V1_0: the proxy speaks TLS 1.2 and 1.3 only",
        "port 8443: CipherSuites: [\"TLS_RSA_WITH_AES_128_CBC_SHA\"] are not offered",
        "port 9443: TLSMinVersion V1_0",
        "port 9444: TLSMaxVersion V1_1: the proxy speaks TLS 1.2 and 1.3 only; the listener is not opened",
        "port 9445: TLSMinVersion V1_0",
        "port 9446: TLSMinVersion V1_0",
    ] {
        assert!(notes.contains(expected), "{expected:?} not in\n{notes}");
    }
    assert_eq!(res.notes.len(), 6, "{notes}");
    // 9446: web's own certificate for its host, the gateway's for any other name.
    let sni = &res.resources.listeners[3];
    let names: Vec<&[String]> = sni
        .filter_chains
        .iter()
        .map(|c| {
            c.filter_chain_match
                .as_ref()
                .unwrap()
                .server_names
                .as_slice()
        })
        .collect();
    assert_eq!(names, [&["web.example.com".to_owned()][..], &[]]);
    check("ingress-tls", &render(&res.resources));
    assert_proxy_accepts("tls", &res.resources);

    let plain = compiled(
        &mesh(),
        &e,
        &node("edge", "127.0.0.1"),
        &CompileOptions::default(),
    );
    let listeners: Vec<&str> = plain
        .resources
        .listeners
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(listeners, ["ingress:127.0.0.1:9445"]);
    assert!(
        plain.notes.iter().any(|n| n.contains(
            "port 8443: TLS is enabled, but the mesh has no Citadel to issue the certificate"
        )),
        "{:?}",
        plain.notes
    );
}

/// A service named on the listener is not added again by the wildcard, and hosts stay
/// unique on a listener.
#[test]
fn the_wildcard_leaves_named_services_alone() {
    let e = entries(&[
        PROXY_DEFAULTS_HTTP,
        DB_TCP,
        r#"
Kind = "ingress-gateway"
Name = "edge"
Listeners = [
  {
    Port = 8080
    Protocol = "http"
    Services = [ { Name = "*" }, { Name = "api", Hosts = ["*"] } ]
  },
]
"#,
    ]);
    let res = compiled(
        &mesh(),
        &e,
        &node("edge", "127.0.0.1"),
        &CompileOptions::default(),
    );
    assert!(res.notes.is_empty(), "{:?}", res.notes);
    let vh: Vec<(&str, &str)> = res.resources.routes[0]
        .virtual_hosts
        .iter()
        .map(|v| (v.name.as_str(), v.domains[0].as_str()))
        .collect();
    assert_eq!(vh, [("web", "web.ingress.*"), ("api", "*")]);
    assert_proxy_accepts("wildcard", &res.resources);
}

#[test]
fn node_ids_name_gateways() {
    let n = node("edge", "10.0.0.7");
    assert_eq!(n.to_string(), "ingress-gateway~10.0.0.7~edge");
    assert_eq!(NodeId::parse(&n.to_string()), Ok(NodeId::Ingress(n)));
}

/// Every `ingress-gateway` entry of the shared corpus compiles, over a catalog holding the
/// services it names, into resources the proxy accepts; what cannot be served (TLS) is noted.
#[test]
fn corpus_gateways_compile() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    }
    .join("consul-config-entries");
    let Ok(files) = std::fs::read_dir(&dir) else {
        eprintln!("skipped: corpus folder {} is absent", dir.display());
        return;
    };
    let mut gateways = 0;
    for path in files.map(|f| f.unwrap().path()) {
        let loaded = parse_str(&path, &std::fs::read_to_string(&path).unwrap());
        for e in &loaded.entries {
            let ConfigEntry::IngressGateway(g) = e else {
                continue;
            };
            let names: Vec<&str> = g
                .listeners
                .iter()
                .flat_map(|l| &l.services)
                .map(|s| s.name.as_str())
                .filter(|n| ServiceName::new(*n).is_ok())
                .collect();
            let cat = catalog(
                names
                    .iter()
                    .map(|n| service(n, Protocol::Http, vec![]))
                    .collect(),
                vec![],
            );
            let e = Entries::new(vec![e.clone()]);
            let n = node(&g.header.name, "127.0.0.1");
            for opts in [CompileOptions::default(), secured()] {
                let res = compile_ingress(&cat, &e, &n, &opts).unwrap();
                eprintln!("{}: {:?}", path.display(), res.notes);
                assert_proxy_accepts(&path.display().to_string(), &res.resources);
            }
            gateways += 1;
        }
    }
    assert!(
        gateways > 0,
        "no ingress-gateway entry in {}",
        dir.display()
    );
}
