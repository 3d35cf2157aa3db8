//! Index resets, a stuck index, restarts, 5xx outages and refused tokens.

use std::time::Duration;

use rigging_adapters_consul::ConsulRegistry;
use rigging_adapters_core::Registry;
use rigging_mesh_test_util::fake_consul::instance;

use super::*;

#[tokio::test]
async fn an_index_going_backwards_resets_to_zero_and_resyncs() {
    let fake = fake_with_two_services().await;
    let (_reg, mut rx) = synced(&fake).await;
    let high = fake.index();
    let mark = fake.requests().len();

    // a snapshot restore: the index drops, then the state moves on from there
    fake.restore_index(1);
    fake.register(instance("n3", "10.0.0.3", "web", "web-3", "", 8080));
    until(&mut rx, "web-3 after the restore", |s| {
        instances(s, "web").len() == 3
    })
    .await;

    let path = "/v1/health/service/web";
    let start = tokio::time::Instant::now();
    let (after, reset) = loop {
        let after = requests_since(&fake, mark, path);
        if let Some(reset) = after.iter().position(|r| r.index.is_none()) {
            break (after, reset);
        }
        assert!(start.elapsed() < PATIENCE, "no reset to index 0: {after:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // once reset, the loop never sends the stale high index again
    assert!(
        after[reset..]
            .iter()
            .all(|r| r.index.is_none_or(|i| i < high)),
        "stale index {high} sent after the reset: {after:?}"
    );

    // and changes flow at once again, without waiting out a stale block
    fake.register(instance("n4", "10.0.0.4", "web", "web-4", "", 8080));
    until(&mut rx, "web-4", |s| instances(s, "web").len() == 4).await;
}

#[tokio::test]
async fn an_index_of_zero_is_sent_as_one_never_busy_looping() {
    let fake = fake_with_two_services().await;
    let (_reg, _rx) = synced(&fake).await;
    let mark = fake.requests().len();
    fake.force_index(Some(0));
    tokio::time::sleep(WAIT * 2 + WAIT / 2).await;
    fake.force_index(None);

    let path = "/v1/catalog/services";
    let seen = requests_since(&fake, mark, path);
    let zero = seen.iter().filter(|r| r.index.is_none()).count();
    assert!(
        zero <= 1,
        "index 0 sent more than once (the one reset): {seen:?}"
    );
    assert!(seen.iter().all(|r| r.index != Some(0)));
    // each query blocks for `wait`: about one request per second, not a busy loop
    assert!(
        seen.len() <= 5,
        "{} requests in 2.5 s: {seen:?}",
        seen.len()
    );
    assert!(
        seen.iter().skip(2).all(|r| r.index == Some(1)),
        "after index 0 the loop blocks on index 1: {seen:?}"
    );
}

#[tokio::test]
async fn a_restarting_consul_keeps_the_snapshot_and_catches_up() {
    let fake = fake_with_two_services().await;
    let (reg, mut rx) = synced(&fake).await;
    let before = rx.borrow().clone();

    fake.stop();
    let h = until_health(&reg, "the outage noticed", |h| h.is_stale()).await;
    let error = h.last_error.unwrap_or_default();
    assert!(
        error.starts_with("cannot reach Consul at http://127.0.0.1:"),
        "{error}"
    );
    assert_eq!(
        *rx.borrow().clone(),
        *before,
        "the last snapshot stays while Consul is down"
    );

    // what changed while it was down is read once it is back
    fake.deregister("web-2");
    fake.restart().await;
    until(&mut rx, "web-2 gone after the restart", |s| {
        instances(s, "web") == ["web-1"]
    })
    .await;
    until_health(&reg, "recovered", |h| {
        !h.is_stale() && h.consecutive_failures == 0
    })
    .await;
}

#[tokio::test]
async fn five_hundreds_for_a_while_keep_the_last_snapshot() {
    let fake = fake_with_two_services().await;
    let (reg, mut rx) = synced(&fake).await;
    let before = rx.borrow().clone();

    fake.set_failing(true);
    let h = until_health(&reg, "the 500s noticed", |h| h.is_stale()).await;
    let error = h.last_error.clone().unwrap_or_default();
    assert!(
        error.contains("500") && error.contains("No cluster leader"),
        "{error}"
    );
    let stale_since = h.stale_since;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let h = reg.health().expect("health");
    assert!(h.consecutive_failures >= 2, "retried: {h:?}");
    assert_eq!(h.stale_since, stale_since, "stale since the first failure");
    assert_eq!(
        *rx.borrow().clone(),
        *before,
        "never an empty catalog because of errors"
    );

    fake.set_failing(false);
    fake.register(instance("n3", "10.0.0.3", "web", "web-3", "", 8080));
    until(&mut rx, "web-3 after the outage", |s| {
        instances(s, "web").len() == 3
    })
    .await;
    until_health(&reg, "recovered", |h| !h.is_stale()).await;
}

#[tokio::test]
async fn slow_answers_are_not_failures() {
    let fake = fake_with_two_services().await;
    fake.set_delay(Duration::from_millis(300));
    let (reg, mut rx) = synced(&fake).await;
    fake.register(instance("n3", "10.0.0.3", "web", "web-3", "", 8080));
    until(&mut rx, "web-3 through slow answers", |s| {
        instances(s, "web").len() == 3
    })
    .await;
    assert!(!reg.health().expect("health").is_stale());
}

#[tokio::test]
async fn a_refused_token_is_reported_clearly() {
    let fake = fake_with_two_services().await;
    fake.require_token(Some("s3cret"));

    let anonymous = ConsulRegistry::start(config(&fake)).expect("start");
    let h = until_health(&anonymous, "the 403", |h| h.is_stale()).await;
    let error = h.last_error.unwrap_or_default();
    assert!(
        error.starts_with("Consul refused the token: 403"),
        "{error}"
    );
    assert!(error.contains("Permission denied"), "{error}");
    assert_eq!(anonymous.version(), 0, "nothing published");

    let wrong = ConsulRegistry::start(config(&fake).with_token("nope")).expect("start");
    let h = until_health(&wrong, "the 403", |h| h.is_stale()).await;
    assert!(h.last_error.unwrap_or_default().contains("ACL not found"));

    let right = ConsulRegistry::start(config(&fake).with_token("s3cret")).expect("start");
    let mut rx = right.subscribe();
    until(&mut rx, "synced with the token", |s| {
        instances(s, "web").len() == 2
    })
    .await;
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.token.as_deref() == Some("s3cret") && r.path == "/v1/health/service/web")
    );
}

#[tokio::test]
async fn a_busy_index_is_paced_by_the_token_bucket() {
    let fake = Arc::new(fake_with_two_services().await);
    let reg = ConsulRegistry::start(config(&fake).with_rate_limit(4.0, 2)).expect("start");
    let mut rx = reg.subscribe();
    until(&mut rx, "the first sync", |s| s.version >= 1).await;
    let mark = fake.requests().len();
    // the index moves every 10 ms for a second: every blocking query answers at once
    let churn = {
        let fake = Arc::clone(&fake);
        tokio::spawn(async move {
            for i in 0..100 {
                fake.set_check("web-1", if i % 2 == 0 { "warning" } else { "passing" });
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    churn.await.expect("churn");
    let seen = requests_since(&fake, mark, "/v1/health/service/web");
    // 4 per second plus the burst of 2, with slack for timing: not one per change
    assert!(
        (2..=9).contains(&seen.len()),
        "{} requests in a second of churn",
        seen.len()
    );
}
