//! Outages: the API server down, restarting, failing or refusing us.

use rigging_adapters_core::Registry;
use rigging_mesh_model::Health;
use rigging_mesh_test_util::fake_kube::{FakeKube, Kind};

use crate::support::*;

#[tokio::test]
async fn a_restarted_server_is_picked_up_again() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    h.synced().await;
    h.fake.stop().await;
    // changed while the server is away; the restarted server has it
    h.fake.apply(
        Kind::EndpointSlice,
        web_slice("default", "web-abc", "web", &[("10.1.0.3", READY)]),
    );
    h.fake.restart().await;
    h.wait("the change made during the restart", |s| {
        endpoints(s, "web") == Some(vec![("10.1.0.3:8080".to_owned(), Health::Passing)])
    })
    .await;
    h.health("current health", |r| !r.is_stale()).await;
}

#[tokio::test]
async fn while_the_server_is_down_the_last_snapshot_stays_and_turns_stale() {
    let mut h = Harness::start(fake_with_web().await, &[]);
    let synced = h.synced().await;
    h.fake.stop().await;
    let report = h
        .health("stale health", |r| {
            r.is_stale() && r.consecutive_failures >= 3
        })
        .await;
    let error = report.last_error.expect("an error");
    assert!(
        error.contains("cannot reach the Kubernetes API server"),
        "{error}"
    );
    assert!(
        error.contains("services in all namespaces")
            || error.contains("endpointslices in all namespaces"),
        "{error}"
    );
    // never an empty catalog because of an error
    assert_eq!(h.snapshot(), synced);
    h.fake.restart().await;
    let report = h.health("recovered health", |r| !r.is_stale()).await;
    assert_eq!(report.consecutive_failures, 0);
    assert!(report.last_error.is_none());
    assert_eq!(h.snapshot().catalog, synced.catalog);
    h.fake.apply(
        Kind::EndpointSlice,
        web_slice("default", "web-abc", "web", &[("10.1.0.4", READY)]),
    );
    h.wait("changes after the recovery", |s| {
        endpoints(s, "web").is_some_and(|e| e.len() == 1)
    })
    .await;
}

#[tokio::test]
async fn refused_credentials_are_reported_and_nothing_is_published() {
    let fake = fake_with_web().await;
    fake.fail(401, "Unauthorized", "Unauthorized");
    let mut h = Harness::start(fake, &[]);
    let report = h.health("a 401", |r| r.last_error.is_some()).await;
    let error = report.last_error.expect("error");
    assert!(
        error.contains("rejected the credentials (401 Unauthorized"),
        "{error}"
    );
    assert_eq!(h.snapshot().version, 0);
    assert!(!h.registry.is_synced());
    h.fake.heal();
    h.synced().await;
    h.health("current health", |r| !r.is_stale()).await;
}

#[tokio::test]
async fn forbidden_and_server_errors_keep_the_snapshot() {
    let mut h = Harness::start(fake_with_web().await, &["default"]);
    let synced = h.synced().await;
    let message = "endpointslices.discovery.k8s.io is forbidden: User \"system:serviceaccount:rigging:pilot\" \
                   cannot list resource \"endpointslices\" in API group \"discovery.k8s.io\" in the namespace \"default\"";
    h.fake.fail(403, "Forbidden", message);
    h.fake.end_watches();
    let report = h
        .health("a 403", |r| {
            r.last_error.as_deref().is_some_and(|e| e.contains("403"))
        })
        .await;
    let error = report.last_error.expect("error");
    assert!(
        error
            .contains("denied access (403 Forbidden: endpointslices.discovery.k8s.io is forbidden"),
        "{error}"
    );
    assert!(error.contains("get, list and watch"), "{error}");
    h.fake
        .fail(500, "InternalError", "etcdserver: request timed out");
    let report = h
        .health("a 500", |r| {
            r.last_error.as_deref().is_some_and(|e| e.contains("500"))
        })
        .await;
    assert!(report.is_stale());
    assert_eq!(h.snapshot(), synced);
    h.fake.heal();
    h.health("recovered health", |r| !r.is_stale()).await;
    assert_eq!(h.registry.subscribe().borrow().catalog, synced.catalog);
    drop(FakeKube::start().await);
}
