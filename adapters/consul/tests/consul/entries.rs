//! Config entries from `/v1/config/:kind`, read and followed with blocking queries.

use std::sync::Arc;

use rigging_adapters_config_entries::{EntriesSnapshot, EntrySource};
use rigging_adapters_consul::ConsulEntries;
use rigging_mesh_config_entries::{ConfigEntry, Kind};
use rigging_mesh_test_util::fake_consul::FakeConsul;
use serde_json::json;
use tokio::sync::watch;

use std::time::Duration;

use super::*;

async fn until_entries(
    rx: &mut watch::Receiver<Arc<EntriesSnapshot>>,
    what: &str,
    ok: impl Fn(&EntriesSnapshot) -> bool,
) -> Arc<EntriesSnapshot> {
    let waited = tokio::time::timeout(PATIENCE, async {
        loop {
            let snap = Arc::clone(&rx.borrow_and_update());
            if ok(&snap) {
                return snap;
            }
            rx.changed().await.expect("source alive");
        }
    })
    .await;
    waited.unwrap_or_else(|_| panic!("timed out waiting for {what}; last: {:#?}", rx.borrow()))
}

fn names(snap: &EntriesSnapshot) -> Vec<(Kind, String)> {
    let mut out: Vec<(Kind, String)> = snap
        .entries
        .iter()
        .map(|e: &ConfigEntry| (e.kind(), e.name().to_owned()))
        .collect();
    out.sort();
    out
}

/// A `service-defaults` as Consul's API returns it (empty objects included).
fn defaults(name: &str, protocol: &str) -> serde_json::Value {
    json!({
        "Kind": "service-defaults",
        "Name": name,
        "Protocol": protocol,
        "TransparentProxy": {},
        "MeshGateway": {},
        "Expose": {},
        "Namespace": "default",
    })
}

#[tokio::test]
async fn entries_are_read_and_followed() {
    let fake = FakeConsul::start().await;
    fake.put_config(defaults("web", "http"));
    fake.put_config(json!({
        "Kind": "service-resolver",
        "Name": "web",
        "DefaultSubset": "v1",
        "Subsets": {
            "v1": { "Filter": "Service.Meta.version == v1" },
            "v2": { "Filter": "Service.Meta.version == v2" },
        },
        "ConnectTimeout": "3s",
    }));
    let source = ConsulEntries::start(config(&fake)).expect("start");
    let mut rx = source.subscribe();
    let snap = until_entries(&mut rx, "the first read", |s| s.version >= 1).await;
    assert_eq!(
        names(&snap),
        [
            (Kind::ServiceDefaults, "web".to_owned()),
            (Kind::ServiceResolver, "web".to_owned())
        ]
    );
    let kinds: Vec<String> = fake.requests().into_iter().map(|r| r.path).collect();
    for kind in Kind::ALL {
        assert!(
            kinds.contains(&format!("/v1/config/{kind}")),
            "{kind} not read"
        );
    }

    // a write wakes the blocking query
    let version = snap.version;
    fake.put_config(json!({
        "Kind": "service-splitter",
        "Name": "web",
        "Splits": [
            { "Weight": 90, "ServiceSubset": "v1" },
            { "Weight": 10, "ServiceSubset": "v2" },
        ],
    }));
    let snap = until_entries(&mut rx, "the splitter", |s| s.entries.len() == 3).await;
    assert!(snap.version > version);

    fake.delete_config("service-splitter", "web");
    until_entries(&mut rx, "the splitter deleted", |s| s.entries.len() == 2).await;
    assert!(!source.health().is_stale());
}

#[tokio::test]
async fn an_entry_that_does_not_decode_is_skipped_not_fatal() {
    let fake = FakeConsul::start().await;
    fake.put_config(defaults("web", "http"));
    fake.put_config(
        json!({ "Kind": "service-defaults", "Name": "api", "Protocol": "http", "Bogus": 1 }),
    );
    let source = ConsulEntries::start(config(&fake)).expect("start");
    let mut rx = source.subscribe();
    let snap = until_entries(&mut rx, "the first read", |s| s.version >= 1).await;
    assert_eq!(names(&snap), [(Kind::ServiceDefaults, "web".to_owned())]);

    // an invalid set (a splitter on a tcp service) keeps the last good set
    fake.put_config(json!({
        "Kind": "service-splitter",
        "Name": "db",
        "Splits": [{ "Weight": 100 }],
    }));
    tokio::time::sleep(WAIT / 2).await;
    fake.put_config(defaults("cache", "grpc"));
    tokio::time::sleep(WAIT / 2).await;
    assert_eq!(
        names(&rx.borrow()),
        [(Kind::ServiceDefaults, "web".to_owned())],
        "a valid entry waits while the set is invalid"
    );
    fake.delete_config("service-splitter", "db");
    until_entries(&mut rx, "cache once the set is valid again", |s| {
        s.entries.len() == 2
    })
    .await;
}

#[tokio::test]
async fn entries_survive_an_outage() {
    let fake = FakeConsul::start().await;
    fake.put_config(defaults("web", "http"));
    let source = ConsulEntries::start(config(&fake)).expect("start");
    let mut rx = source.subscribe();
    until_entries(&mut rx, "the first read", |s| s.version >= 1).await;
    fake.set_failing(true);
    let start = tokio::time::Instant::now();
    while !source.health().is_stale() {
        assert!(start.elapsed() < PATIENCE, "outage not reported");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rx.borrow().entries.len(), 1, "kept");
    fake.set_failing(false);
    fake.put_config(defaults("api", "grpc"));
    until_entries(&mut rx, "api after the outage", |s| s.entries.len() == 2).await;
}
