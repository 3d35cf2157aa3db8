//! One task per kind and scope: kube-runtime's watcher, started over after a failure.
//!
//! kube's watcher lists, watches from the list's `resourceVersion`, resumes a watch that ended
//! from its last `resourceVersion`, and lists again after a 410 Gone event. After any error this
//! task drops the watcher and starts a new one (after a [`Backoff`] delay), so that recovery
//! always goes through a complete, fresh list — which is also what tells health it is current
//! again — and an HTTP 410 on the watch request itself (which kube's watcher would retry with
//! the same stale version) ends in a relist too.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use rigging_adapters_core::Backoff;

use crate::config::Scope;
use crate::errors::{describe, is_gone};
use crate::objects::{Key, Watched, key_of};
use crate::registry::Shared;

/// Watches kind `K` in `scope` until the task is aborted.
pub(crate) async fn run<K: Watched>(shared: Arc<Shared>, client: Client, scope: Scope) {
    let what = format!("{} in {}", K::PLURAL, scope.describe());
    let api: Api<K> = match &scope {
        Scope::All => Api::all(client),
        Scope::Namespace(ns) => Api::namespaced(client, ns),
    };
    let mut config = watcher::Config::default();
    if let Some(selector) = K::SELECTOR {
        config = config.labels(selector);
    }
    let mut backoff = Backoff::new(shared.config.retry_base, shared.config.retry_max);
    loop {
        let stream = watcher::watcher(api.clone(), config.clone());
        let error = follow::<K>(&shared, &scope, &what, stream, &mut backoff).await;
        match error {
            Some(e) if is_gone(&e) => {
                tracing::info!(registry = %shared.config.name, watch = %what,
                    "watch expired (410 Gone); listing again");
            }
            Some(e) => shared.failed(&what, &describe(&e, &what)),
            None => shared.failed(&what, &format!("watching {what}: the watch ended")),
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

/// Applies the watcher's events until its first error (`None` if it ends, which it should not).
async fn follow<K: Watched>(
    shared: &Shared,
    scope: &Scope,
    what: &str,
    stream: impl futures::Stream<Item = watcher::Result<Event<K>>> + Send,
    backoff: &mut Backoff,
) -> Option<watcher::Error> {
    let mut stream = std::pin::pin!(stream);
    // objects of a list in progress; the last complete view stays until it is done
    let mut listing: Option<BTreeMap<Key, K::Info>> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Init) => listing = Some(BTreeMap::new()),
            Ok(Event::InitApply(object)) => {
                if let (Some(list), Some(info)) = (listing.as_mut(), object.info()) {
                    list.insert(key_of(&object), info);
                }
            }
            Ok(Event::InitDone) => {
                let objects = listing.take().unwrap_or_default();
                tracing::debug!(watch = %what, objects = objects.len(), "listed");
                shared.replace::<K>(scope, what, objects);
                backoff.reset();
            }
            Ok(Event::Apply(object)) => {
                shared.apply::<K>(scope, what, key_of(&object), object.info())
            }
            Ok(Event::Delete(object)) => shared.apply::<K>(scope, what, key_of(&object), None),
            Err(e) => return Some(e),
        }
    }
    None
}
