//! Starting a registry against a fake API server, waiting for what it publishes, and objects.

use std::sync::Arc;
use std::time::Duration;

use rigging_adapters_core::{HealthReport, Registry, RegistrySnapshot};
use rigging_adapters_kubernetes::{KubernetesConfig, KubernetesRegistry};
use rigging_mesh_model::{Endpoint, Health, Service, ServiceName};
use rigging_mesh_test_util::fake_kube::{self, FakeKube, Kind};
use serde_json::{Value, json};
use tokio::sync::watch;

/// How long any awaited change may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(10);

pub struct Harness {
    pub fake: FakeKube,
    pub registry: KubernetesRegistry,
    pub rx: watch::Receiver<Arc<RegistrySnapshot>>,
}

pub fn client(url: &str) -> kube::Client {
    let config = kube::Config::new(url.parse().expect("url"));
    kube::Client::try_from(config).expect("client")
}

pub fn config(namespaces: &[&str]) -> KubernetesConfig {
    let mut config = KubernetesConfig::new("k8s");
    config.namespaces = namespaces.iter().map(|s| (*s).to_owned()).collect();
    config.region = "eu".to_owned();
    config.retry_base = Duration::from_millis(10);
    config.retry_max = Duration::from_millis(200);
    config
}

impl Harness {
    /// A registry over `fake` (already filled by the test), watching `namespaces`.
    pub fn start(fake: FakeKube, namespaces: &[&str]) -> Self {
        let registry = KubernetesRegistry::with_client(config(namespaces), client(&fake.url()))
            .expect("registry");
        let rx = registry.subscribe();
        Self { fake, registry, rx }
    }

    /// Waits for a snapshot `pred` accepts, and returns it.
    pub async fn wait(
        &mut self,
        what: &str,
        pred: impl Fn(&RegistrySnapshot) -> bool,
    ) -> Arc<RegistrySnapshot> {
        let found = tokio::time::timeout(PATIENCE, self.rx.wait_for(|s| pred(s)))
            .await
            .map(|r| r.map(|snap| Arc::clone(&snap)));
        match found {
            Ok(Ok(snap)) => snap,
            _ => panic!(
                "timed out waiting for {what}; last snapshot: {:#?}",
                self.rx.borrow()
            ),
        }
    }

    /// Waits for the first complete view.
    pub async fn synced(&mut self) -> Arc<RegistrySnapshot> {
        self.wait("the first sync", |s| s.version >= 1).await
    }

    /// Waits for a health report `pred` accepts.
    pub async fn health(&self, what: &str, pred: impl Fn(&HealthReport) -> bool) -> HealthReport {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let report = self
                .registry
                .health()
                .expect("a remote registry has health");
            if pred(&report) {
                return report;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {report:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until both kinds have a watch open (the requests come after the lists).
    pub async fn watching(&self) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.fake.watches(Kind::Service) == 0 || self.fake.watches(Kind::EndpointSlice) == 0 {
            assert!(tokio::time::Instant::now() < deadline, "no watch opened");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn snapshot(&self) -> Arc<RegistrySnapshot> {
        Arc::clone(&self.rx.borrow())
    }
}

pub fn service<'a>(snap: &'a RegistrySnapshot, name: &str) -> Option<&'a Service> {
    snap.catalog
        .services
        .get(&ServiceName::new(name).expect("name"))
}

/// `(address, health)` of each endpoint of `name`, or `None` when the service is absent.
pub fn endpoints(snap: &RegistrySnapshot, name: &str) -> Option<Vec<(String, Health)>> {
    service(snap, name).map(|s| {
        s.endpoints
            .iter()
            .map(|e: &Endpoint| (e.address.to_string(), e.health))
            .collect()
    })
}

pub const READY: (bool, bool, bool) = (true, true, false);
pub const NOT_READY: (bool, bool, bool) = (false, false, false);
pub const TERMINATING: (bool, bool, bool) = (false, true, true);

/// Service `name` in `ns` with one port `http` (80 → the container port named `web`).
pub fn web_service(ns: &str, name: &str) -> Value {
    let port = fake_kube::service_port("http", 80, json!("web"), Some("http"));
    fake_kube::service(ns, name, json!([port]))
}

/// A slice of `service` with pods `(ip, conditions)` behind port `http` → 8080.
pub fn web_slice(
    ns: &str,
    name: &str,
    service: &str,
    pods: &[(&str, (bool, bool, bool))],
) -> Value {
    let endpoints = pods
        .iter()
        .enumerate()
        .map(|(i, (ip, c))| {
            fake_kube::endpoint(ip, &format!("{service}-{i}"), *c, "node-1", "eu-1a")
        })
        .collect();
    fake_kube::endpoint_slice(
        ns,
        name,
        service,
        endpoints,
        json!([fake_kube::slice_port("http", 8080, None)]),
    )
}

/// A fake with service `web` in `default` and two ready pods.
pub async fn fake_with_web() -> FakeKube {
    let fake = FakeKube::start().await;
    fake.apply(Kind::Service, web_service("default", "web"));
    fake.apply(
        Kind::EndpointSlice,
        web_slice(
            "default",
            "web-abc",
            "web",
            &[("10.1.0.1", READY), ("10.1.0.2", READY)],
        ),
    );
    fake
}
