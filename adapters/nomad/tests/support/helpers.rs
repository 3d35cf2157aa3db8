//! Shared by the Nomad registry's tests: a config for the fake, and waits with a deadline.
#![allow(dead_code)] // each test file uses a part of these

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use rigging_adapters_core::{HealthReport, Registry, RegistrySnapshot};
use rigging_adapters_nomad::{NomadConfig, NomadRegistry, parse_address};
use rigging_mesh_test_util::fake_nomad::FakeNomad;
use tokio::sync::watch;

/// The blocking wait the tests use: short, so a query that times out returns soon.
pub const WAIT: Duration = Duration::from_secs(1);
/// How long a test waits for an expected change: a few waits, never a fixed sleep.
pub const WITHIN: Duration = Duration::from_secs(6);

/// A config for `fake`: a 1 s wait, a fast token bucket, short retries.
pub fn config(fake: &FakeNomad) -> NomadConfig {
    let mut c = NomadConfig::new("nomad", parse_address(&fake.url()).expect("fake url"));
    c.wait = WAIT;
    c.query_rate = 20.0;
    c.query_burst = 4;
    c.retry_max = Duration::from_millis(300);
    c
}

pub fn paged(fake: &FakeNomad, per_page: u32) -> NomadConfig {
    NomadConfig {
        per_page: NonZeroU32::new(per_page),
        ..config(fake)
    }
}

pub fn start(config: NomadConfig) -> (NomadRegistry, watch::Receiver<Arc<RegistrySnapshot>>) {
    let registry = NomadRegistry::start(config).expect("registry starts");
    let rx = registry.subscribe();
    (registry, rx)
}

/// Waits until the published snapshot satisfies `cond`, and returns it.
pub async fn until(
    rx: &mut watch::Receiver<Arc<RegistrySnapshot>>,
    what: &str,
    mut cond: impl FnMut(&RegistrySnapshot) -> bool,
) -> Arc<RegistrySnapshot> {
    let found = tokio::time::timeout(WITHIN, rx.wait_for(|s| cond(s)))
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .expect("the registry is alive");
    Arc::clone(&found)
}

/// Waits for the first complete view (version 1 or later).
pub async fn synced(rx: &mut watch::Receiver<Arc<RegistrySnapshot>>) -> Arc<RegistrySnapshot> {
    until(rx, "the first sync", |s| s.version >= 1).await
}

/// Waits until the registry's health satisfies `cond`, and returns it.
pub async fn health_until(
    registry: &NomadRegistry,
    what: &str,
    cond: impl Fn(&HealthReport) -> bool,
) -> HealthReport {
    let deadline = tokio::time::Instant::now() + WITHIN;
    loop {
        let h = registry.health().expect("a remote registry has health");
        if cond(&h) {
            return h;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}; health is {h:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The ports of `service`'s endpoints, in instance order; empty when the service is absent.
pub fn ports(snap: &RegistrySnapshot, service: &str) -> Vec<u16> {
    snap.catalog
        .services
        .iter()
        .find(|(name, _)| name.as_str() == service)
        .map(|(_, s)| s.endpoints.iter().map(|e| e.address.port()).collect())
        .unwrap_or_default()
}

pub fn has(snap: &RegistrySnapshot, service: &str) -> bool {
    snap.catalog.services.keys().any(|n| n.as_str() == service)
}
