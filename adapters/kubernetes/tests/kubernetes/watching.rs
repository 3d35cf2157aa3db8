//! The watch itself: the first sync, changes, namespaces, resumption and 410 Gone.

use rigging_adapters_kubernetes::{
    KubernetesRegistry, META_NAMESPACE, META_NODE, META_POD, META_SERVICE, Registry,
};
use rigging_mesh_model::{Health, Locality, Protocol};
use rigging_mesh_test_util::fake_kube::{FakeKube, Kind};

use crate::support::*;

fn healths(pairs: &[(&str, Health)]) -> Option<Vec<(String, Health)>> {
    Some(pairs.iter().map(|(a, h)| ((*a).to_owned(), *h)).collect())
}

#[tokio::test]
async fn initial_sync_publishes_every_service_once() {
    let fake = fake_with_web().await;
    fake.apply(Kind::Service, web_service("kube-system", "metrics"));
    let mut h = Harness::start(fake, &[]);
    let snap = h.synced().await;
    assert_eq!(snap.version, 1);
    assert_eq!(snap.registry, "k8s");
    let web = service(&snap, "web").expect("web");
    assert_eq!(web.protocol, Protocol::Http);
    assert_eq!(
        endpoints(&snap, "web"),
        healths(&[
            ("10.1.0.1:8080", Health::Passing),
            ("10.1.0.2:8080", Health::Passing)
        ])
    );
    let e = &web.endpoints[0];
    assert_eq!(e.instance, "web-0");
    assert_eq!(
        e.locality,
        Locality {
            region: "eu".into(),
            zone: "eu-1a".into()
        }
    );
    assert_eq!(e.metadata[META_NAMESPACE], "default");
    assert_eq!(e.metadata[META_SERVICE], "web");
    assert_eq!(e.metadata[META_NODE], "node-1");
    assert_eq!(e.metadata[META_POD], "web-0");
    assert!(!e.sidecar);
    // not the primary namespace: suffixed; no slices yet: no endpoints
    assert_eq!(endpoints(&snap, "metrics.kube-system"), Some(vec![]));
    assert!(h.registry.is_synced());
    let health = h.registry.health().expect("health");
    assert!(
        !health.is_stale() && health.last_success.is_some(),
        "{health:?}"
    );
    // slices are listed with the service-name label selector, cluster-wide
    let requests = h.fake.requests();
    assert!(
        requests.iter().any(
            |r| r.starts_with("GET /apis/discovery.k8s.io/v1/endpointslices?")
                && r.contains("labelSelector=kubernetes.io%2Fservice-name")
        ),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn endpoints_come_go_and_turn_not_ready() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    let slice = |pods: &[(&str, (bool, bool, bool))]| web_slice("default", "web-abc", "web", pods);
    h.fake.apply(
        Kind::EndpointSlice,
        slice(&[
            ("10.1.0.1", READY),
            ("10.1.0.2", READY),
            ("10.1.0.3", READY),
        ]),
    );
    h.wait("a third endpoint", |s| {
        endpoints(s, "web").is_some_and(|e| e.len() == 3)
    })
    .await;
    h.fake.apply(
        Kind::EndpointSlice,
        slice(&[
            ("10.1.0.1", READY),
            ("10.1.0.2", NOT_READY),
            ("10.1.0.3", TERMINATING),
        ]),
    );
    let snap = h
        .wait("not ready and draining", |s| {
            endpoints(s, "web").is_some_and(|e| e.iter().any(|(_, h)| *h == Health::Critical))
        })
        .await;
    assert_eq!(
        endpoints(&snap, "web"),
        healths(&[
            ("10.1.0.1:8080", Health::Passing),
            ("10.1.0.2:8080", Health::Critical),
            ("10.1.0.3:8080", Health::Maintenance),
        ])
    );
    // no ready endpoint left: the serving, terminating one still takes traffic (kube-proxy's fallback)
    h.fake
        .apply(Kind::EndpointSlice, slice(&[("10.1.0.3", TERMINATING)]));
    let snap = h
        .wait("only a draining endpoint", |s| {
            endpoints(s, "web").is_some_and(|e| e.len() == 1)
        })
        .await;
    assert_eq!(
        endpoints(&snap, "web"),
        healths(&[("10.1.0.3:8080", Health::Warning)])
    );
    h.fake.delete(Kind::EndpointSlice, "default", "web-abc");
    h.wait("no endpoints", |s| endpoints(s, "web") == Some(vec![]))
        .await;
    // a second slice adds to the first
    h.fake.apply(
        Kind::EndpointSlice,
        web_slice("default", "web-1", "web", &[("10.1.0.4", READY)]),
    );
    h.fake.apply(
        Kind::EndpointSlice,
        web_slice("default", "web-2", "web", &[("10.1.0.5", READY)]),
    );
    h.wait("two slices", |s| {
        endpoints(s, "web").is_some_and(|e| e.len() == 2)
    })
    .await;
}

#[tokio::test]
async fn a_deleted_service_leaves_the_catalog() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    let first = h.synced().await;
    h.fake.delete(Kind::Service, "default", "web");
    let snap = h.wait("web gone", |s| service(s, "web").is_none()).await;
    assert!(snap.version > first.version);
    assert!(snap.catalog.services.is_empty());
    // its slice is still there and is picked up again with the service
    h.fake.apply(Kind::Service, web_service("default", "web"));
    h.wait("web back", |s| {
        endpoints(s, "web").is_some_and(|e| e.len() == 2)
    })
    .await;
}

#[tokio::test]
async fn only_the_configured_namespaces_are_watched() {
    let fake = FakeKube::start().await;
    for ns in ["prod", "staging", "dev"] {
        fake.apply(Kind::Service, web_service(ns, "api"));
        fake.apply(
            Kind::EndpointSlice,
            web_slice(ns, "api-x", "api", &[("10.2.0.1", READY)]),
        );
    }
    let mut h = Harness::start(fake, &["prod", "staging"]);
    let snap = h.synced().await;
    let names: Vec<_> = snap
        .catalog
        .services
        .keys()
        .map(|n| n.as_str().to_owned())
        .collect();
    assert_eq!(names, ["api", "api.staging"]);
    h.fake.apply(Kind::Service, web_service("dev", "other"));
    h.fake.apply(Kind::Service, web_service("staging", "other"));
    let snap = h
        .wait("staging/other", |s| service(s, "other.staging").is_some())
        .await;
    assert!(service(&snap, "other.dev").is_none() && service(&snap, "other").is_none());
    let requests = h.fake.requests();
    assert!(
        requests
            .iter()
            .all(|r| r.contains("/namespaces/prod/") || r.contains("/namespaces/staging/")),
        "{requests:#?}"
    );
}

#[tokio::test]
async fn a_watch_that_ends_is_resumed_without_a_relist() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    let lists = h.fake.lists(Kind::EndpointSlice);
    let watches = h.fake.watches(Kind::EndpointSlice);
    h.fake.end_watches();
    // made while no watch may be open: delivered from the history when the watch resumes
    h.fake.apply(
        Kind::EndpointSlice,
        web_slice("default", "web-abc", "web", &[("10.1.0.9", READY)]),
    );
    h.wait("the change after the end", |s| {
        endpoints(s, "web") == healths(&[("10.1.0.9:8080", Health::Passing)])
    })
    .await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while h.fake.watches(Kind::EndpointSlice) <= watches {
        assert!(tokio::time::Instant::now() < deadline, "no new watch");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        h.fake.lists(Kind::EndpointSlice),
        lists,
        "resumed from its resourceVersion, no list"
    );
    assert!(!h.registry.health().expect("health").is_stale());
}

#[tokio::test]
async fn gone_relists_and_finds_what_the_watch_missed() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    let lists = h.fake.lists(Kind::EndpointSlice);
    // changes the watches never see: only a list shows them
    h.fake.apply_unseen(
        Kind::EndpointSlice,
        web_slice("default", "web-abc", "web", &[("10.1.0.7", READY)]),
    );
    h.fake
        .apply_unseen(Kind::Service, web_service("default", "new"));
    h.fake.expire_watches();
    let snap = h
        .wait("the relisted state", |s| {
            endpoints(s, "web") == healths(&[("10.1.0.7:8080", Health::Passing)])
                && service(s, "new").is_some()
        })
        .await;
    assert!(snap.version >= 2);
    assert!(h.fake.lists(Kind::EndpointSlice) > lists);
    // a 410 is routine, not an outage
    assert!(!h.registry.health().expect("health").is_stale());
}

#[tokio::test]
async fn an_http_410_on_the_watch_request_relists_too() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    h.fake.set_gone_as_http(true);
    h.fake.delete_unseen(Kind::Service, "default", "web");
    h.fake.end_watches();
    h.wait("the relisted state", |s| s.catalog.services.is_empty())
        .await;
}

#[tokio::test]
async fn dropping_the_registry_stops_its_watches() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    // the watch requests are sent after the lists; wait for them so none is still in flight
    h.watching().await;
    let Harness { fake, registry, .. } = h;
    drop(registry);
    let before = fake.requests().len();
    fake.end_watches();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        fake.requests().len(),
        before,
        "{:#?}",
        &fake.requests()[before..]
    );
}

#[tokio::test]
async fn bookmarks_move_the_resume_point_so_compaction_needs_no_relist() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    h.watching().await;
    // services move on; the slice watch hears nothing but the bookmark
    h.fake.apply(Kind::Service, web_service("default", "other"));
    h.wait("other", |s| service(s, "other").is_some()).await;
    let lists = h.fake.lists(Kind::EndpointSlice);
    let watches = h.fake.watches(Kind::EndpointSlice);
    // the bookmark comes before the end in the same stream, so it is read before the resume
    h.fake.bookmark();
    h.fake.compact();
    h.fake.end_watches();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while h.fake.watches(Kind::EndpointSlice) <= watches {
        assert!(tokio::time::Instant::now() < deadline, "no new watch");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    h.fake.apply(
        Kind::EndpointSlice,
        web_slice("default", "web-abc", "web", &[("10.1.0.9", READY)]),
    );
    h.wait("a change after the resume", |s| {
        endpoints(s, "web") == healths(&[("10.1.0.9:8080", Health::Passing)])
    })
    .await;
    assert_eq!(
        h.fake.lists(Kind::EndpointSlice),
        lists,
        "resumed, not relisted"
    );
}

#[tokio::test]
async fn start_reads_a_kubeconfig_file() {
    let fake = fake_with_web().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kubeconfig");
    let kubeconfig = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: fake\n\
         clusters:\n- name: fake\n  cluster:\n    server: {}\n\
         users:\n- name: pilot\n  user:\n    token: secret-token\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: pilot\n    namespace: default\n",
        fake.url()
    );
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    let mut config = config(&[]);
    config.kubeconfig = Some(path.clone());
    let registry = KubernetesRegistry::start(config.clone())
        .await
        .expect("start");
    let mut rx = registry.subscribe();
    let snap = tokio::time::timeout(PATIENCE, rx.wait_for(|s| s.version >= 1))
        .await
        .expect("sync")
        .expect("open")
        .clone();
    assert_eq!(endpoints(&snap, "web").map(|e| e.len()), Some(2));
    config.kubeconfig = Some(dir.path().join("missing"));
    let error = KubernetesRegistry::start(config)
        .await
        .expect_err("no such file");
    assert!(
        error.to_string().contains("cannot read the kubeconfig"),
        "{error}"
    );
}
