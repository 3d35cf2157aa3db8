//! Several sources of config entries (a watched folder, Consul's config entry API) as one set.
//!
//! # The merge rule
//!
//! Sources are taken in their configured order. An entry is identified by its kind and name;
//! when two sources hold the same one, the first source's entry is used and the other is
//! dropped with a warning (so a local folder listed first can override what Consul holds).
//! The merged set must pass [`validate_set`] as a whole; when an update of one source makes
//! it fail (a splitter from one source on a service another source makes `tcp`), the last
//! good merged set stays and the errors are logged, as for a single folder.

use std::collections::BTreeSet;
use std::sync::Arc;

use rigging_mesh_config_entries::{ConfigEntry, validate_set};
use tokio::sync::watch;

use crate::{EntriesSnapshot, EntrySource};

/// Keeps the merge of several entry sources current; see [`MergedEntries::spawn`].
#[derive(Debug)]
#[non_exhaustive]
pub struct MergedEntries;

impl MergedEntries {
    /// Merges `sources` (in this order) now, then spawns a task that re-merges whenever one of
    /// them publishes, publishing a new version only when the merged set changed and is
    /// valid. The task holds the sources and ends when every receiver is dropped.
    /// Must be called inside a tokio runtime.
    pub fn spawn(sources: Vec<Arc<dyn EntrySource>>) -> watch::Receiver<Arc<EntriesSnapshot>> {
        let mut live: Vec<(usize, watch::Receiver<Arc<EntriesSnapshot>>)> =
            sources.iter().map(|s| s.subscribe()).enumerate().collect();
        let latest: Vec<Arc<EntriesSnapshot>> = live
            .iter_mut()
            .map(|(_, rx)| rx.borrow_and_update().clone())
            .collect();
        let first = match merge(&latest) {
            Ok(entries) => entries,
            Err(errors) => {
                log_invalid(&errors);
                Vec::new()
            }
        };
        let (tx, rx) = watch::channel(Arc::new(EntriesSnapshot {
            version: 1,
            entries: first,
        }));
        tokio::spawn(run(sources, live, latest, tx));
        rx
    }
}

async fn run(
    // held so that sources which stop when dropped (watchers, API pollers) live as long as the merge
    _sources: Vec<Arc<dyn EntrySource>>,
    mut live: Vec<(usize, watch::Receiver<Arc<EntriesSnapshot>>)>,
    mut latest: Vec<Arc<EntriesSnapshot>>,
    tx: watch::Sender<Arc<EntriesSnapshot>>,
) {
    loop {
        let (result, at) = {
            let changed =
                futures::future::select_all(live.iter_mut().map(|(_, rx)| Box::pin(rx.changed())));
            tokio::select! {
                () = tx.closed() => return,
                (result, at, _) = changed => (result, at),
            }
        };
        if result.is_err() {
            // That source stopped; its last set stays in the merge.
            live.remove(at);
            if live.is_empty() {
                return;
            }
            continue;
        }
        let (source, rx) = &mut live[at];
        latest[*source] = rx.borrow_and_update().clone();
        match merge(&latest) {
            Ok(entries) => {
                tx.send_if_modified(|snap| {
                    if snap.entries == entries {
                        return false;
                    }
                    *snap = Arc::new(EntriesSnapshot {
                        version: snap.version + 1,
                        entries,
                    });
                    true
                });
            }
            Err(errors) => log_invalid(&errors),
        }
    }
}

/// The union of the sources' entries, first source first for the same kind and name; an error
/// list when the union is not a valid set.
fn merge(sets: &[Arc<EntriesSnapshot>]) -> Result<Vec<ConfigEntry>, Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut entries = Vec::new();
    for (source, set) in sets.iter().enumerate() {
        for e in &set.entries {
            if seen.insert((e.kind(), e.name().to_owned())) {
                entries.push(e.clone());
            } else {
                tracing::warn!(kind = %e.kind(), name = e.name(), source, "config entry defined by an earlier source too: the earlier one is used");
            }
        }
    }
    let errors = validate_set(&entries);
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(errors.iter().map(ToString::to_string).collect())
    }
}

fn log_invalid(errors: &[String]) {
    tracing::error!(
        errors = %errors.join("\n"),
        "the config entries of all sources together are not a valid set; the last good set stays"
    );
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::*;

    /// A source the test publishes by hand.
    struct Manual(watch::Sender<Arc<EntriesSnapshot>>);

    impl Manual {
        fn new(texts: &[&str]) -> Arc<Self> {
            let (tx, _) = watch::channel(snapshot(1, texts));
            Arc::new(Self(tx))
        }

        fn publish(&self, version: u64, texts: &[&str]) {
            self.0.send_replace(snapshot(version, texts));
        }
    }

    impl EntrySource for Manual {
        fn subscribe(&self) -> watch::Receiver<Arc<EntriesSnapshot>> {
            self.0.subscribe()
        }
    }

    /// A set of one entry per text.
    fn snapshot(version: u64, texts: &[&str]) -> Arc<EntriesSnapshot> {
        let mut entries = Vec::new();
        for text in texts {
            let loaded = rigging_mesh_config_entries::parse_str(Path::new("test.hcl"), text);
            assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
            entries.extend(loaded.entries);
        }
        Arc::new(EntriesSnapshot { version, entries })
    }

    fn protocol_of(snap: &EntriesSnapshot, service: &str) -> Option<String> {
        snap.entries.iter().find_map(|e| match e {
            ConfigEntry::ServiceDefaults(d) if e.name() == service => {
                d.protocol.as_ref().map(|p| format!("{p:?}"))
            }
            _ => None,
        })
    }

    async fn next(rx: &mut watch::Receiver<Arc<EntriesSnapshot>>) -> Arc<EntriesSnapshot> {
        tokio::time::timeout(Duration::from_secs(5), rx.changed())
            .await
            .expect("a new merged set within 5 s")
            .expect("the merge is running");
        rx.borrow_and_update().clone()
    }

    const API_HTTP: &str = "Kind = \"service-defaults\"\nName = \"api\"\nProtocol = \"http\"\n";
    const API_GRPC: &str = "Kind = \"service-defaults\"\nName = \"api\"\nProtocol = \"grpc\"\n";
    const WEB_HTTP: &str = "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"http\"\n";
    const WEB_TCP: &str = "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"tcp\"\n";
    const WEB_SPLIT: &str =
        "Kind = \"service-splitter\"\nName = \"web\"\nSplits = [\n  { Weight = 100 },\n]\n";

    #[tokio::test]
    async fn the_first_source_wins_and_updates_flow_through() {
        let folder = Manual::new(&[API_HTTP]);
        let consul = Manual::new(&[API_GRPC]);
        let mut rx = MergedEntries::spawn(vec![folder.clone(), consul.clone()]);
        let first = rx.borrow_and_update().clone();
        assert_eq!(protocol_of(&first, "api").as_deref(), Some("Http"));
        assert_eq!(first.entries.len(), 1);

        consul.publish(2, &[WEB_HTTP]);
        let second = next(&mut rx).await;
        assert_eq!(second.version, 2);
        assert_eq!(protocol_of(&second, "api").as_deref(), Some("Http"));
        assert_eq!(protocol_of(&second, "web").as_deref(), Some("Http"));

        folder.publish(2, &[]);
        let third = next(&mut rx).await;
        assert_eq!(protocol_of(&third, "api"), None);
        assert_eq!(third.entries.len(), 1);
    }

    #[tokio::test]
    async fn an_invalid_union_keeps_the_last_good_set() {
        let folder = Manual::new(&[WEB_SPLIT]);
        let consul = Manual::new(&[WEB_HTTP]);
        let mut rx = MergedEntries::spawn(vec![folder.clone(), consul.clone()]);
        assert_eq!(rx.borrow_and_update().entries.len(), 2);
        // A splitter needs an L7 protocol: web made tcp by the other source breaks the set.
        consul.publish(2, &[WEB_TCP]);
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!rx.has_changed().expect("running"));
        assert_eq!(protocol_of(&rx.borrow(), "web").as_deref(), Some("Http"));
        // Fixed by either source: the merge follows again.
        consul.publish(3, &[WEB_HTTP, API_HTTP]);
        let fixed = next(&mut rx).await;
        assert_eq!(fixed.entries.len(), 3);
        assert_eq!(protocol_of(&fixed, "api").as_deref(), Some("Http"));
    }
}
