//! The Nomad registry against the fake Nomad: sync, changes, index rules, paging, namespaces.

#[path = "support/helpers.rs"]
mod helpers;

use std::time::Duration;

use helpers::{WAIT, config, has, paged, ports, start, synced, until};
use rigging_adapters_core::Registry;
use rigging_adapters_nomad::{META_ALLOC, META_JOB, META_NAMESPACE, NomadConfig};
use rigging_mesh_model::Health;
use rigging_mesh_test_util::fake_nomad::{FakeNomad, Registration, docs_registrations};

const REDIS: &str = "example-cache-redis";

fn reg(service: &str, alloc: &str, port: u16) -> Registration {
    Registration::new(service, alloc, "10.0.0.1", port)
}

#[tokio::test]
async fn initial_sync_maps_the_docs_sample() {
    let fake = FakeNomad::start().await;
    for r in docs_registrations() {
        fake.register(r);
    }
    let (registry, mut rx) = start(config(&fake));
    let snap = synced(&mut rx).await;
    assert_eq!(snap.version, 1);
    assert_eq!(snap.registry, "nomad");
    assert_eq!(ports(&snap, REDIS), [29702, 27232]);
    let e = &snap
        .catalog
        .services
        .values()
        .next()
        .expect("redis")
        .endpoints[0];
    assert_eq!(
        e.instance,
        "_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-redis-example-cache-redis-db"
    );
    assert_eq!(e.address, "127.0.0.1:29702".parse().expect("addr"));
    assert_eq!(e.tags, ["db", "cache"]);
    assert_eq!(e.health, Health::Passing);
    assert!(!e.sidecar);
    assert_eq!(e.metadata[META_JOB], "example");
    assert_eq!(e.metadata[META_NAMESPACE], "default");
    assert_eq!(
        e.metadata[META_ALLOC],
        "177160af-26f6-619f-9c9f-5e46d1104395"
    );
    assert_eq!(e.locality.zone, "dc1");
    let h = registry.health().expect("health");
    assert!(!h.is_stale() && h.last_success.is_some(), "{h:?}");
    // the first query of each watch answers at once; the next ones block on the index
    let list = fake.requests_to("/v1/services");
    assert!(!list[0].query.contains_key("index"), "{:?}", list[0]);
    let blocking = until_requests(&fake, "/v1/services", 2).await;
    assert_eq!(
        blocking[1].query.get("wait").map(String::as_str),
        Some("1000ms")
    );
    assert_eq!(blocking[1].query["index"], fake.index().to_string());
}

#[tokio::test]
async fn an_empty_nomad_syncs_to_an_empty_catalog() {
    let fake = FakeNomad::start().await;
    let (_registry, mut rx) = start(config(&fake));
    let snap = synced(&mut rx).await;
    assert!(snap.catalog.services.is_empty());
}

#[tokio::test]
async fn endpoints_are_added_and_removed() {
    let fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    let (_registry, mut rx) = start(config(&fake));
    assert_eq!(ports(&*synced(&mut rx).await, "api"), [8001]);

    let second = reg("api", "a2", 8002);
    fake.register(second.clone());
    let snap = until(&mut rx, "a second endpoint", |s| ports(s, "api").len() == 2).await;
    assert_eq!(ports(&snap, "api"), [8001, 8002]);

    assert!(fake.deregister("default", &second.id));
    let snap = until(&mut rx, "the endpoint gone", |s| ports(s, "api").len() == 1).await;
    assert_eq!(ports(&snap, "api"), [8001]);

    fake.register(reg("web", "w1", 9001));
    let snap = until(&mut rx, "a new service", |s| has(s, "web")).await;
    assert_eq!(ports(&snap, "web"), [9001]);
}

#[tokio::test]
async fn a_deleted_service_disappears_and_its_watch_stops() {
    let fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    fake.register(reg("old", "o1", 7001));
    let (registry, mut rx) = start(config(&fake));
    assert!(has(&*synced(&mut rx).await, "old"));

    fake.remove_service("default", "old");
    until(&mut rx, "the service gone", |s| {
        !has(s, "old") && has(s, "api")
    })
    .await;
    assert_eq!(
        registry.watched_services(),
        [("default".to_owned(), "api".to_owned())]
    );
    let before = fake.requests_to("/v1/service/old").len();

    // changes wake every blocking query; a watch still running would ask again
    fake.register(reg("api", "a2", 8002));
    until(&mut rx, "a later change", |s| ports(s, "api").len() == 2).await;
    fake.register(reg("api", "a3", 8003));
    until(&mut rx, "another change", |s| ports(s, "api").len() == 3).await;
    assert_eq!(fake.requests_to("/v1/service/old").len(), before);
}

#[tokio::test]
async fn an_index_going_backwards_resets_the_watch() {
    let fake = FakeNomad::start().await;
    for port in 8001..8011 {
        fake.register(reg("api", &format!("a{port}"), port));
    }
    let (_registry, mut rx) = start(config(&fake));
    synced(&mut rx).await;
    let high = fake.index();
    until_requests(&fake, "/v1/service/api", 2).await;

    // a restored snapshot: the index drops, and the data changes below the old index
    fake.set_index(2);
    fake.register(reg("api", "restored", 9000));
    assert!(fake.index() < high);
    until(&mut rx, "the change below the old index", |s| {
        ports(s, "api").contains(&9000)
    })
    .await;
    // the watch starts over with a query that answers at once...
    let deadline = tokio::time::Instant::now() + helpers::WITHIN;
    while !fake.requests_to("/v1/service/api")[1..]
        .iter()
        .any(|r| !r.query.contains_key("index"))
    {
        assert!(tokio::time::Instant::now() < deadline, "no reset query");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // ...then blocks on the new, lower index, so the next change wakes it at once rather than
    // after a whole wait
    fake.register(reg("api", "later", 9001));
    tokio::time::timeout(WAIT / 2, rx.wait_for(|s| ports(s, "api").contains(&9001)))
        .await
        .expect("the next change within half a wait")
        .expect("alive");
}

#[tokio::test]
async fn an_index_of_zero_is_sent_as_one() {
    let fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    let (_registry, mut rx) = start(config(&fake));
    synced(&mut rx).await;
    until_requests(&fake, "/v1/service/api", 2).await;

    // the old bug: answers carry X-Nomad-Index: 0, which would make every query return at once
    fake.set_index(0);
    let start = fake.requests().len();
    tokio::time::sleep(WAIT * 3).await;
    let after = fake.requests();
    let sent: Vec<_> = after[start..]
        .iter()
        .filter_map(|r| r.query.get("index"))
        .collect();
    assert!(!sent.iter().any(|i| *i == "0"), "index=0 sent: {sent:?}");
    // two watches, each about one query per wait plus a reset: no busy loop at the token rate
    assert!(
        after.len() - start <= 16,
        "{} queries in 3 s",
        after.len() - start
    );
    assert!(sent.iter().any(|i| *i == "1"), "{sent:?}");

    fake.register(reg("api", "a2", 8002));
    fake.register(reg("api", "a3", 8003));
    until(&mut rx, "changes after the bad index", |s| {
        ports(s, "api").len() == 3
    })
    .await;
}

#[tokio::test]
async fn services_are_read_page_by_page() {
    let fake = FakeNomad::start().await;
    for port in 8001..8006 {
        fake.register(reg("api", &format!("a{port}"), port));
    }
    let (_registry, mut rx) = start(paged(&fake, 2));
    let snap = synced(&mut rx).await;
    assert_eq!(ports(&snap, "api"), [8001, 8002, 8003, 8004, 8005]);
    let reqs = fake.requests_to("/v1/service/api");
    assert!(
        reqs.iter()
            .all(|r| r.query.get("per_page").map(String::as_str) == Some("2"))
    );
    let tokens = reqs
        .iter()
        .filter(|r| r.query.contains_key("next_token"))
        .count();
    assert!(
        tokens >= 2,
        "5 registrations at 2 a page take 3 pages: {reqs:?}"
    );

    fake.register(reg("api", "a8006", 8006));
    let snap = until(&mut rx, "a sixth endpoint", |s| ports(s, "api").len() == 6).await;
    assert_eq!(ports(&snap, "api").last(), Some(&8006));
}

fn namespaced(fake: &FakeNomad) {
    fake.register(reg("api", "d1", 8001));
    fake.register(reg("api", "s1", 8101).in_namespace("staging"));
    fake.register(reg("db", "s2", 8102).in_namespace("staging"));
    fake.register(reg("api", "p1", 8201).in_namespace("prod"));
}

#[tokio::test]
async fn namespaces_keep_their_services_apart() {
    let fake = FakeNomad::start().await;
    namespaced(&fake);
    let (_registry, mut rx) = start(NomadConfig {
        namespaces: vec!["default".to_owned(), "staging".to_owned()],
        ..config(&fake)
    });
    let snap = synced(&mut rx).await;
    let names: Vec<_> = snap
        .catalog
        .services
        .keys()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["api", "api.staging", "db.staging"]);
    assert_eq!(ports(&snap, "api.staging"), [8101]);
    let staging = &snap.catalog.services.values().nth(1).expect("api.staging");
    assert_eq!(staging.endpoints[0].metadata[META_NAMESPACE], "staging");
    let asked: Vec<_> = fake
        .requests_to("/v1/service/api")
        .iter()
        .map(|r| r.query["namespace"].clone())
        .collect();
    assert!(asked.contains(&"staging".to_owned()) && !asked.contains(&"prod".to_owned()));
}

#[tokio::test]
async fn the_wildcard_namespace_watches_all_with_a_primary() {
    let fake = FakeNomad::start().await;
    namespaced(&fake);
    let (_registry, mut rx) = start(NomadConfig {
        namespaces: vec!["*".to_owned(), "prod".to_owned()],
        ..config(&fake)
    });
    let snap = synced(&mut rx).await;
    let names: Vec<_> = snap
        .catalog
        .services
        .keys()
        .map(|n| n.to_string())
        .collect();
    assert_eq!(names, ["api", "api.default", "api.staging", "db.staging"]);
    assert_eq!(ports(&snap, "api"), [8201], "prod is the primary namespace");
    let lists = fake.requests_to("/v1/services");
    assert!(lists.iter().all(|r| r.query["namespace"] == "*"));

    fake.register(reg("cache", "p2", 8202).in_namespace("prod"));
    until(&mut rx, "a service in a namespace seen through *", |s| {
        has(s, "cache")
    })
    .await;
}

#[tokio::test]
async fn token_and_region_go_with_every_query() {
    let fake = FakeNomad::start().await;
    fake.require_token(Some("s3cret"));
    fake.register(reg("api", "a1", 8001));
    let (registry, mut rx) = start(NomadConfig {
        token: Some("s3cret".to_owned()),
        region: Some("global".to_owned()),
        ..config(&fake)
    });
    let snap = synced(&mut rx).await;
    assert_eq!(
        snap.catalog
            .services
            .values()
            .next()
            .expect("api")
            .endpoints[0]
            .locality
            .region,
        "global"
    );
    let reqs = fake.requests();
    assert!(reqs.iter().all(|r| r.token.as_deref() == Some("s3cret")));
    assert!(
        reqs.iter()
            .all(|r| r.query.get("region").map(String::as_str) == Some("global"))
    );
    assert!(!registry.health().expect("health").is_stale());
}

/// Waits until `path` got at least `n` requests, and returns them.
async fn until_requests(
    fake: &FakeNomad,
    path: &str,
    n: usize,
) -> Vec<rigging_mesh_test_util::fake_nomad::Recorded> {
    let deadline = tokio::time::Instant::now() + helpers::WITHIN;
    loop {
        let reqs = fake.requests_to(path);
        if reqs.len() >= n {
            return reqs;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path}: {} requests",
            reqs.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
