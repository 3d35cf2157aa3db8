//! The Nomad registry when Nomad fails: down, restarted, 5xx, slow, refusing the token; and TLS.

#[path = "support/helpers.rs"]
mod helpers;

use std::time::Duration;

use helpers::{config, has, health_until, ports, start, synced, until};
use rigging_adapters_core::Registry;
use rigging_adapters_nomad::{NomadConfig, NomadRegistry, Url, parse_address};
use rigging_mesh_test_util::fake_nomad::{FakeNomad, Registration};

fn reg(service: &str, alloc: &str, port: u16) -> Registration {
    Registration::new(service, alloc, "10.0.0.1", port)
}

#[tokio::test]
async fn nomad_down_keeps_the_last_snapshot_then_recovers() {
    let mut fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    let (registry, mut rx) = start(config(&fake));
    let before = synced(&mut rx).await;

    fake.stop();
    let h = health_until(&registry, "stale while Nomad is down", |h| h.is_stale()).await;
    let error = h.last_error.expect("an error");
    assert!(
        error.starts_with("cannot reach Nomad at http://127.0.0.1:"),
        "{error}"
    );
    // several failed rounds later, the snapshot is still the last good one
    health_until(&registry, "several failures", |h| {
        h.consecutive_failures >= 4
    })
    .await;
    assert_eq!(*rx.borrow_and_update(), before);

    fake.register(reg("api", "a2", 8002));
    fake.restart().await;
    let snap = until(&mut rx, "the change made while down", |s| {
        ports(s, "api").len() == 2
    })
    .await;
    assert_eq!(snap.version, before.version + 1);
    let h = health_until(&registry, "current again", |h| !h.is_stale()).await;
    assert_eq!(h.consecutive_failures, 0);
    assert!(h.last_error.is_none());
}

#[tokio::test]
async fn a_restarted_nomad_with_a_lower_index_is_followed() {
    let mut fake = FakeNomad::start().await;
    for port in 8001..8006 {
        fake.register(reg("api", &format!("a{port}"), port));
    }
    let (_registry, mut rx) = start(config(&fake));
    synced(&mut rx).await;

    // a rebuilt cluster: its index starts low again, and its data differ
    fake.stop();
    fake.set_index(1);
    fake.remove_service("default", "api");
    fake.register(reg("web", "w1", 9001));
    fake.restart().await;
    let snap = until(&mut rx, "the rebuilt cluster's services", |s| {
        has(s, "web") && !has(s, "api")
    })
    .await;
    assert_eq!(ports(&snap, "web"), [9001]);
}

#[tokio::test]
async fn server_errors_keep_the_snapshot_until_nomad_answers() {
    let fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    let (registry, mut rx) = start(config(&fake));
    let before = synced(&mut rx).await;

    fake.fail_with(Some(500));
    fake.register(reg("api", "a2", 8002)); // wakes the blocked queries into the failure
    let h = health_until(&registry, "stale on 500", |h| h.is_stale()).await;
    let error = h.last_error.expect("an error");
    assert!(
        error.starts_with("Nomad answered 500 Internal Server Error for /v1/serv")
            && error.ends_with(": rpc error: No cluster leader"),
        "{error}"
    );
    assert_eq!(rx.borrow_and_update().version, before.version);

    fake.fail_with(None);
    until(&mut rx, "the change after the errors", |s| {
        ports(s, "api").len() == 2
    })
    .await;
    health_until(&registry, "current again", |h| !h.is_stale()).await;
}

#[tokio::test]
async fn slow_answers_still_arrive() {
    let fake = FakeNomad::start().await;
    fake.set_delay(Duration::from_millis(300));
    fake.register(reg("api", "a1", 8001));
    let (registry, mut rx) = start(config(&fake));
    synced(&mut rx).await;
    fake.register(reg("api", "a2", 8002));
    until(&mut rx, "a change from a slow Nomad", |s| {
        ports(s, "api").len() == 2
    })
    .await;
    assert!(!registry.health().expect("health").is_stale());
}

#[tokio::test]
async fn a_refused_token_is_reported_clearly() {
    let fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    fake.require_token(Some("right"));

    let (registry, rx) = start(NomadConfig {
        token: Some("wrong".to_owned()),
        ..config(&fake)
    });
    let h = health_until(&registry, "a 403", |h| h.last_error.is_some()).await;
    assert_eq!(
        h.last_error.as_deref(),
        Some("Nomad refused the token: 403 ACL token not found")
    );
    assert!(h.is_stale());
    assert_eq!(rx.borrow().version, 0, "nothing published before a sync");

    let (anonymous, _rx) = start(config(&fake));
    let h = health_until(&anonymous, "a 403", |h| h.last_error.is_some()).await;
    assert_eq!(
        h.last_error.as_deref(),
        Some("Nomad refused the request without a token: 403 Permission denied (set a token)")
    );

    // the operator fixes the ACL: the registry recovers by itself
    fake.require_token(Some("wrong"));
    let mut rx = rx;
    assert_eq!(ports(&*synced(&mut rx).await, "api"), [8001]);
    health_until(&registry, "current", |h| !h.is_stale()).await;
}

#[tokio::test]
async fn a_revoked_token_keeps_the_last_snapshot() {
    let fake = FakeNomad::start().await;
    fake.require_token(Some("t1"));
    fake.register(reg("api", "a1", 8001));
    let (registry, mut rx) = start(NomadConfig {
        token: Some("t1".to_owned()),
        ..config(&fake)
    });
    let before = synced(&mut rx).await;
    fake.require_token(Some("t2"));
    fake.register(reg("api", "a2", 8002));
    let h = health_until(&registry, "a 403", |h| h.is_stale()).await;
    assert_eq!(
        h.last_error.as_deref(),
        Some("Nomad refused the token: 403 ACL token not found")
    );
    assert_eq!(*rx.borrow_and_update(), before);
}

#[tokio::test]
async fn https_with_a_ca_file() {
    let fake = FakeNomad::start_tls().await;
    fake.register(reg("api", "a1", 8001));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("nomad-ca.pem");
    std::fs::write(&ca, fake.ca_pem().expect("a CA")).expect("write CA");
    assert!(fake.url().starts_with("https://"));

    let (_registry, mut rx) = start(NomadConfig {
        ca_file: Some(ca),
        ..config(&fake)
    });
    assert_eq!(ports(&*synced(&mut rx).await, "api"), [8001]);

    // without the CA, Nomad's certificate is not trusted, and the health says why
    let (untrusted, _rx) = start(config(&fake));
    let h = health_until(&untrusted, "a TLS failure", |h| h.last_error.is_some()).await;
    let error = h.last_error.expect("an error");
    assert!(error.contains("certificate"), "{error}");
}

#[tokio::test]
async fn https_with_a_client_certificate() {
    let fake = FakeNomad::start_mtls().await;
    fake.register(reg("api", "a1", 8001));
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, pem: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, pem).expect("write pem");
        path
    };
    let ca = write("ca.pem", fake.ca_pem().expect("a CA"));
    let (cert, key) = fake.client_identity().expect("a client identity");
    let with_ca = NomadConfig {
        ca_file: Some(ca),
        ..config(&fake)
    };

    let (_registry, mut rx) = start(NomadConfig {
        client_cert: Some(write("cli.pem", cert)),
        client_key: Some(write("cli-key.pem", key)),
        ..with_ca.clone()
    });
    assert_eq!(ports(&*synced(&mut rx).await, "api"), [8001]);

    // without a client certificate, the handshake fails and the health says so
    let (refused, _rx) = start(with_ca);
    let h = health_until(&refused, "a TLS failure", |h| h.last_error.is_some()).await;
    let error = h.last_error.expect("an error");
    assert!(
        error.starts_with("cannot reach Nomad at https://"),
        "{error}"
    );
}

#[tokio::test]
async fn bad_configs_fail_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");
    let url = parse_address("https://127.0.0.1:4646").expect("url");
    let base = NomadConfig::new("nomad", url);
    let cases = [
        NomadConfig {
            ca_file: Some("/nonexistent/ca.pem".into()),
            ..base.clone()
        },
        NomadConfig {
            ca_file: Some(empty),
            ..base.clone()
        },
        NomadConfig {
            token: Some("line\nbreak".to_owned()),
            ..base.clone()
        },
        NomadConfig {
            client_cert: Some("/etc/nomad/cli.pem".into()),
            ..base.clone()
        },
        NomadConfig {
            wait: Duration::ZERO,
            ..base.clone()
        },
        NomadConfig {
            address: Url::parse("ftp://nomad:2121").expect("a url"),
            ..base.clone()
        },
    ];
    let errors: Vec<String> = cases
        .into_iter()
        .map(|c| {
            NomadRegistry::start(c)
                .expect_err("a bad config")
                .to_string()
        })
        .collect();
    let starts = [
        "cannot read the Nomad CA file /nonexistent/ca.pem: ",
        "the Nomad CA file ",
        "the Nomad token has characters",
        "a Nomad client certificate needs its key",
        "the blocking-query wait 0ns is not between",
        "invalid Nomad address \"ftp://nomad:2121/\": scheme \"ftp\" is not http or https",
    ];
    for (error, start) in errors.iter().zip(starts) {
        assert!(
            error.starts_with(start),
            "{error:?} should start with {start:?}"
        );
    }
}

#[tokio::test]
async fn dropping_the_registry_stops_its_queries() {
    let fake = FakeNomad::start().await;
    fake.register(reg("api", "a1", 8001));
    let (registry, mut rx) = start(config(&fake));
    synced(&mut rx).await;
    drop(registry);
    // let a query already on the wire land before counting
    tokio::time::sleep(Duration::from_millis(100)).await;
    let before = fake.requests().len();
    fake.register(reg("api", "a2", 8002));
    fake.register(reg("api", "a3", 8003));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.requests().len(), before);
}
