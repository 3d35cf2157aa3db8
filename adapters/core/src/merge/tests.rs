use std::collections::BTreeMap;

use proptest::prelude::*;
use rigging_mesh_model::{Endpoint, Health, Locality, Proxy, Service};

use super::*;

fn name(s: &str) -> ServiceName {
    ServiceName::new(s).unwrap()
}

fn endpoint(instance: &str, port: u16) -> Endpoint {
    Endpoint {
        instance: instance.to_owned(),
        address: ([127, 0, 0, 1], port).into(),
        health: Health::Passing,
        locality: Locality::default(),
        metadata: BTreeMap::from([("version".to_owned(), "v1".to_owned())]),
        sidecar: false,
        tags: Vec::new(),
    }
}

fn service(n: &str, protocol: Protocol, endpoints: Vec<Endpoint>) -> Service {
    let mut s = Service::new(name(n), protocol);
    s.endpoints = endpoints;
    s
}

fn proxy(id: &str, svc: &str) -> Proxy {
    Proxy {
        id: ProxyId::new(id).unwrap(),
        service: name(svc),
        inbound: "127.0.0.1:21000".parse().unwrap(),
        local_app: "127.0.0.1:8080".parse().unwrap(),
        upstreams: vec![],
        expose: vec![],
    }
}

fn snap(registry: &str, services: Vec<Service>, proxies: Vec<Proxy>) -> Arc<RegistrySnapshot> {
    let mut c = Catalog::default();
    for s in services {
        c.services.insert(s.name.clone(), s);
    }
    for p in proxies {
        c.proxies.insert(p.id.clone(), p);
    }
    Arc::new(RegistrySnapshot::new(registry, 1, c))
}

#[test]
fn union_of_endpoints_with_registry_meta() {
    let a = snap(
        "consul",
        vec![service("api", Protocol::Http, vec![endpoint("a1", 1)])],
        vec![proxy("a1", "api")],
    );
    let b = snap(
        "file",
        vec![service("api", Protocol::Http, vec![endpoint("b1", 2)])],
        vec![],
    );
    let (c, warnings) = merge(&[a, b]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let api = c.service(&name("api")).unwrap();
    let origins: Vec<_> = api
        .endpoints
        .iter()
        .map(|e| (e.instance.as_str(), e.metadata[META_REGISTRY].as_str()))
        .collect();
    assert_eq!(origins, [("a1", "consul"), ("b1", "file")]);
    assert_eq!(api.endpoints[0].metadata["version"], "v1");
    assert_eq!(c.proxies.len(), 1);
}

#[test]
fn first_registry_wins_conflicts() {
    let mut slow = service("api", Protocol::Grpc, vec![]);
    slow.lb_policy = LbPolicy::LeastRequest;
    slow.connect_timeout = Duration::from_secs(9);
    let a = snap(
        "a",
        vec![service("api", Protocol::Http, vec![])],
        vec![proxy("p", "api")],
    );
    let b = snap("b", vec![slow], vec![proxy("p", "other")]);
    let (c, warnings) = merge(&[a, b]);
    let api = c.service(&name("api")).unwrap();
    assert_eq!(api.protocol, Protocol::Http);
    assert_eq!(api.lb_policy, LbPolicy::RoundRobin);
    assert_eq!(c.proxies[&ProxyId::new("p").unwrap()].service, name("api"));
    let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        text,
        [
            "service api: registry b says protocol grpc, registry a says http; keeping http",
            "service api: registry b says load balancer least_request, registry a says round_robin; keeping round_robin",
            "service api: registry b says connect timeout 9s, registry a says 5s; keeping 5s",
            "proxy p is declared by registries a and b; keeping the one from a",
        ]
    );
}

fn arb_protocol() -> impl Strategy<Value = Protocol> {
    prop::sample::select(Protocol::ALL.to_vec())
}

/// A catalog over a small name pool (so registries overlap) with a few endpoints each.
fn arb_catalog(names: &'static [&'static str]) -> impl Strategy<Value = Catalog> {
    prop::collection::btree_map(
        prop::sample::select(names),
        (arb_protocol(), 0usize..4),
        0..names.len(),
    )
    .prop_map(|m| {
        let mut c = Catalog::default();
        for (n, (protocol, count)) in m {
            let eps = (0..count)
                .map(|i| endpoint(&format!("{n}-{i}"), 1000 + i as u16))
                .collect();
            let s = service(n, protocol, eps);
            c.services.insert(s.name.clone(), s);
            let p = proxy(&format!("{n}-proxy"), n);
            c.proxies.insert(p.id.clone(), p);
        }
        c
    })
}

const POOL: &[&str] = &["api", "web", "db", "cache"];
const OTHER_POOL: &[&str] = &["auth", "mail", "queue"];

fn endpoint_count(c: &Catalog) -> usize {
    c.services.values().map(|s| s.endpoints.len()).sum()
}

proptest! {
    #[test]
    fn endpoint_count_is_the_sum(cats in prop::collection::vec(arb_catalog(POOL), 0..4)) {
        let snaps: Vec<_> = cats
            .iter()
            .enumerate()
            .map(|(i, c)| Arc::new(RegistrySnapshot::new(format!("r{i}"), 1, c.clone())))
            .collect();
        let (merged, _) = merge(&snaps);
        prop_assert_eq!(endpoint_count(&merged), cats.iter().map(endpoint_count).sum::<usize>());
    }

    #[test]
    fn merge_of_one_is_itself_plus_registry_meta(cat in arb_catalog(POOL)) {
        let (merged, warnings) = merge(&[Arc::new(RegistrySnapshot::new("only", 1, cat.clone()))]);
        prop_assert!(warnings.is_empty());
        let mut expected = cat;
        for s in expected.services.values_mut() {
            for e in &mut s.endpoints {
                e.metadata.insert(META_REGISTRY.to_owned(), "only".to_owned());
            }
        }
        prop_assert_eq!(merged, expected);
    }

    #[test]
    fn order_of_unrelated_registries_is_irrelevant(
        a in arb_catalog(POOL),
        b in arb_catalog(OTHER_POOL),
    ) {
        let a = Arc::new(RegistrySnapshot::new("a", 1, a));
        let b = Arc::new(RegistrySnapshot::new("b", 1, b));
        let (ab, wab) = merge(&[a.clone(), b.clone()]);
        let (ba, wba) = merge(&[b, a]);
        prop_assert!(wab.is_empty() && wba.is_empty());
        prop_assert_eq!(ab, ba);
    }
}
