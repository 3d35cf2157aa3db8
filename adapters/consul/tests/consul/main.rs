//! The Consul adapter against the fake Consul of `rigging-mesh-test-util`: a real HTTP server,
//! so the production code path (reqwest, blocking queries, mapping) is the one tested.

mod entries;
mod outages;
mod registry;
mod tls;

use std::sync::Arc;
use std::time::Duration;

use rigging_adapters_consul::{ConsulConfig, ConsulRegistry};
use rigging_adapters_core::{HealthReport, Registry, RegistrySnapshot};
use rigging_mesh_model::{Endpoint, ServiceName};
use rigging_mesh_test_util::fake_consul::{FakeConsul, Recorded, instance};
use tokio::sync::watch;

/// How long a test waits for a change it expects before failing.
const PATIENCE: Duration = Duration::from_secs(10);
/// The blocking wait the tests use: short, so held queries come back quickly.
const WAIT: Duration = Duration::from_secs(1);

fn config(fake: &FakeConsul) -> ConsulConfig {
    ConsulConfig::new("consul", fake.url())
        .with_wait(WAIT)
        .with_rate_limit(50.0, 10)
        .with_backoff(Duration::from_millis(50), Duration::from_millis(200))
}

/// A fake with `web` (web-1 on n1, web-2 on n2) and `db` (db-1 on n2).
async fn fake_with_two_services() -> FakeConsul {
    let fake = FakeConsul::start().await;
    fake.register(instance("n1", "10.0.0.1", "web", "web-1", "", 8080));
    fake.register(instance("n2", "10.0.0.2", "web", "web-2", "", 8080));
    fake.register(instance("n2", "10.0.0.2", "db", "db-1", "10.0.1.2", 5432));
    fake
}

/// Waits until the published snapshot satisfies `ok`, or fails the test naming `what`.
async fn until(
    rx: &mut watch::Receiver<Arc<RegistrySnapshot>>,
    what: &str,
    ok: impl Fn(&RegistrySnapshot) -> bool,
) -> Arc<RegistrySnapshot> {
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            let snap = Arc::clone(&rx.borrow_and_update());
            if ok(&snap) {
                return snap;
            }
            rx.changed().await.expect("registry alive");
        }
    })
    .await;
    match waited {
        Ok(snap) => snap,
        Err(_) => panic!(
            "timed out waiting for {what}; last snapshot: {:#?}",
            rx.borrow()
        ),
    }
}

/// Waits until the registry's health satisfies `ok`.
async fn until_health(
    reg: &ConsulRegistry,
    what: &str,
    ok: impl Fn(&HealthReport) -> bool,
) -> HealthReport {
    let start = tokio::time::Instant::now();
    loop {
        let h = reg.health().expect("a remote registry has health");
        if ok(&h) {
            return h;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "timed out waiting for {what}; health: {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn endpoints<'s>(snap: &'s RegistrySnapshot, service: &str) -> Vec<&'s Endpoint> {
    let name = ServiceName::new(service).expect("name");
    snap.catalog
        .service(&name)
        .map(|s| s.endpoints.iter().collect())
        .unwrap_or_default()
}

fn instances(snap: &RegistrySnapshot, service: &str) -> Vec<String> {
    endpoints(snap, service)
        .iter()
        .map(|e| e.instance.clone())
        .collect()
}

/// The requests for `path` from position `from` of the log on.
fn requests_since(fake: &FakeConsul, from: usize, path: &str) -> Vec<Recorded> {
    fake.requests()
        .into_iter()
        .skip(from)
        .filter(|r| r.path == path)
        .collect()
}

/// A registry on `fake`, synced.
async fn synced(fake: &FakeConsul) -> (ConsulRegistry, watch::Receiver<Arc<RegistrySnapshot>>) {
    let reg = ConsulRegistry::start(config(fake)).expect("start");
    let mut rx = reg.subscribe();
    until(&mut rx, "the first sync", |s| s.version >= 1).await;
    (reg, rx)
}
