//! The catalog as it changes: sync, instances, health, services coming and going, sidecars.

use rigging_adapters_consul::{ConsulConfig, ConsulRegistry, META_DATACENTER};
use rigging_adapters_core::Registry;
use rigging_mesh_model::{Health, ProxyId};
use rigging_mesh_test_util::fake_consul::{instance, sidecar};

use std::time::Duration;

use super::*;

#[tokio::test]
async fn initial_sync_reads_every_service() {
    let fake = fake_with_two_services().await;
    let (reg, rx) = synced(&fake).await;
    let snap = rx.borrow().clone();
    assert_eq!(snap.version, 1);
    assert_eq!(snap.registry, "consul");
    assert_eq!(instances(&snap, "web"), ["web-1", "web-2"]);
    let db = endpoints(&snap, "db");
    assert_eq!(db.len(), 1);
    assert_eq!(db[0].address, "10.0.1.2:5432".parse().expect("addr"));
    assert_eq!(db[0].health, Health::Passing);
    assert_eq!(db[0].metadata[META_DATACENTER], "dc1");
    assert!(snap.catalog.validate().is_ok());
    let health = reg.health().expect("health");
    assert!(
        !health.is_stale() && health.last_success.is_some(),
        "{health:?}"
    );
    let paths: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    for p in [
        "/v1/catalog/services",
        "/v1/health/service/web",
        "/v1/health/connect/web",
    ] {
        assert!(paths.iter().any(|x| x == p), "{p} never read: {paths:?}");
    }
}

#[tokio::test]
async fn blocking_queries_echo_the_index_and_wait() {
    let fake = fake_with_two_services().await;
    let (_reg, _rx) = synced(&fake).await;
    tokio::time::sleep(WAIT / 2).await;
    let catalog = requests_since(&fake, 0, "/v1/catalog/services");
    assert_eq!(catalog[0].index, None, "the first read does not block");
    let second = catalog.get(1).expect("a blocking query follows");
    assert_eq!(second.index, Some(fake.index()));
    assert_eq!(second.wait.as_deref(), Some("1000ms"));
    assert!(catalog.len() <= 3, "no busy loop: {catalog:?}");
}

#[tokio::test]
async fn endpoints_are_added_removed_and_turn_unhealthy() {
    let fake = fake_with_two_services().await;
    let (_reg, mut rx) = synced(&fake).await;

    fake.register(instance("n3", "10.0.0.3", "web", "web-3", "", 8080));
    until(&mut rx, "web-3 added", |s| {
        instances(s, "web") == ["web-1", "web-2", "web-3"]
    })
    .await;

    fake.set_check("web-1", "critical");
    let snap = until(&mut rx, "web-1 critical", |s| {
        endpoints(s, "web")
            .first()
            .is_some_and(|e| e.health == Health::Critical)
    })
    .await;
    assert_eq!(endpoints(&snap, "web")[1].health, Health::Passing);

    fake.set_node_health("n2", "critical");
    until(&mut rx, "node n2 down makes web-2 and db-1 critical", |s| {
        endpoints(s, "web")[1].health == Health::Critical
            && endpoints(s, "db")[0].health == Health::Critical
    })
    .await;

    let before = rx.borrow().version;
    fake.deregister("web-2");
    let snap = until(&mut rx, "web-2 removed", |s| {
        instances(s, "web") == ["web-1", "web-3"]
    })
    .await;
    assert!(snap.version > before);
}

#[tokio::test]
async fn a_deleted_service_leaves_and_its_watch_stops() {
    let fake = fake_with_two_services().await;
    let (_reg, mut rx) = synced(&fake).await;
    fake.delete_service("db");
    let snap = until(&mut rx, "db gone", |s| endpoints(s, "db").is_empty()).await;
    assert!(snap.catalog.services.keys().all(|n| n.as_str() != "db"));
    assert_eq!(instances(&snap, "web"), ["web-1", "web-2"], "web untouched");

    tokio::time::sleep(Duration::from_millis(100)).await;
    let mark = fake.requests().len();
    // longer than one blocking wait: a live watch would have asked again
    tokio::time::sleep(WAIT + WAIT / 2).await;
    let db = requests_since(&fake, mark, "/v1/health/service/db");
    let db_connect = requests_since(&fake, mark, "/v1/health/connect/db");
    assert!(
        db.is_empty() && db_connect.is_empty(),
        "db still watched: {db:?} {db_connect:?}"
    );
    assert!(
        !requests_since(&fake, mark, "/v1/health/service/web").is_empty(),
        "web still watched"
    );

    fake.register(instance("n2", "10.0.0.2", "db", "db-2", "", 5432));
    until(&mut rx, "db back", |s| instances(s, "db") == ["db-2"]).await;
}

#[tokio::test]
async fn a_connect_sidecar_becomes_a_sidecar_endpoint_and_a_proxy() {
    let fake = fake_with_two_services().await;
    fake.register(sidecar(
        "n1",
        "10.0.0.1",
        "web",
        "web-1",
        21000,
        8080,
        &[("db", 9191)],
    ));
    let (_reg, mut rx) = synced(&fake).await;
    let snap = until(&mut rx, "web-1 behind its sidecar", |s| {
        endpoints(s, "web").first().is_some_and(|e| e.sidecar)
    })
    .await;
    let web = endpoints(&snap, "web");
    assert_eq!(web[0].instance, "web-1");
    assert_eq!(web[0].address, "10.0.0.1:21000".parse().expect("addr"));
    assert!(!web[1].sidecar, "web-2 has no sidecar");
    assert!(
        snap.catalog
            .services
            .keys()
            .all(|n| n.as_str() != "web-sidecar-proxy"),
        "a sidecar is not a service of its own"
    );
    let proxy = snap
        .catalog
        .proxy(&ProxyId::new("web-1-sidecar-proxy").expect("id"))
        .expect("the sidecar's proxy");
    assert_eq!(proxy.service.as_str(), "web");
    assert_eq!(proxy.inbound, web[0].address);
    assert_eq!(proxy.local_app, "127.0.0.1:8080".parse().expect("addr"));
    assert_eq!(proxy.upstreams.len(), 1);
    assert_eq!(proxy.upstreams[0].service.as_str(), "db");
    assert!(snap.catalog.validate().is_ok());

    fake.deregister("web-1-sidecar-proxy");
    let snap = until(&mut rx, "the sidecar gone", |s| {
        s.catalog.proxies.is_empty()
    })
    .await;
    assert!(endpoints(&snap, "web").iter().all(|e| !e.sidecar));
}

#[tokio::test]
async fn the_datacenter_is_selected_with_dc() {
    let fake = fake_with_two_services().await;
    fake.set_datacenter("dc2");
    let reg = ConsulRegistry::start(config(&fake).with_datacenter("dc2")).expect("start");
    let mut rx = reg.subscribe();
    until(&mut rx, "dc2 synced", |s| instances(s, "web").len() == 2).await;
    assert!(
        fake.requests()
            .iter()
            .all(|r| r.dc.as_deref() == Some("dc2"))
    );

    let other = ConsulRegistry::start(config(&fake).with_datacenter("dc3")).expect("start");
    let h = until_health(&other, "an unknown dc reported", |h| h.is_stale()).await;
    let error = h.last_error.unwrap_or_default();
    assert!(error.contains("No path to datacenter"), "{error}");
    assert_eq!(other.version(), 0, "nothing published from an error");
}

#[tokio::test]
async fn bad_configurations_fail_at_start() {
    let bad = ConsulConfig::new("consul", "127.0.0.1:8500");
    assert!(ConsulRegistry::start(bad).is_err(), "no scheme");
    let zero = ConsulConfig::new("consul", "http://127.0.0.1:8500").with_wait(Duration::ZERO);
    assert!(ConsulRegistry::start(zero).is_err());
    let ca =
        ConsulConfig::new("consul", "https://127.0.0.1:8500").with_ca_file("/nonexistent/ca.pem");
    let err = ConsulRegistry::start(ca).expect_err("missing ca file");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

#[tokio::test]
async fn several_datacenters_are_one_registry_each_merged() {
    use rigging_adapters_core::MergedCatalog;
    use rigging_mesh_test_util::fake_consul::FakeConsul;

    let dc1 = fake_with_two_services().await;
    let dc2 = FakeConsul::start().await;
    dc2.set_datacenter("dc2");
    let mut remote = instance("m1", "10.2.0.1", "web", "web-east-1", "", 8080);
    remote["Node"]["Datacenter"] = serde_json::json!("dc2");
    dc2.register(remote);

    let mut one = config(&dc1).with_datacenter("dc1");
    one.name = "consul-dc1".to_owned();
    let mut two = config(&dc2).with_datacenter("dc2");
    two.name = "consul-dc2".to_owned();
    let registries: Vec<Arc<dyn Registry>> = vec![
        Arc::new(ConsulRegistry::start(one).expect("dc1")),
        Arc::new(ConsulRegistry::start(two).expect("dc2")),
    ];
    let mut merged = MergedCatalog::spawn(registries);
    let name = ServiceName::new("web").expect("name");
    let found = tokio::time::timeout(PATIENCE, async {
        loop {
            let snap = merged.borrow_and_update().clone();
            if let Some(web) = snap
                .catalog
                .service(&name)
                .filter(|w| w.endpoints.len() == 3)
            {
                return web.clone();
            }
            merged.changed().await.expect("merge alive");
        }
    })
    .await
    .expect("both datacenters merged");
    let dcs: Vec<(&str, &str)> = found
        .endpoints
        .iter()
        .map(|e| (e.instance.as_str(), e.metadata[META_DATACENTER].as_str()))
        .collect();
    assert_eq!(
        dcs,
        [("web-1", "dc1"), ("web-2", "dc1"), ("web-east-1", "dc2")]
    );
}
