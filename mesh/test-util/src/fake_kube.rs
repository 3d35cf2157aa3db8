//! A fake Kubernetes API server for tests: core/v1 Services and discovery.k8s.io/v1
//! EndpointSlices, listed and watched over real HTTP on loopback, with the failures a real API
//! server shows (410 Gone, 401, 403, 500) and a stop and restart on the same port.
//!
//! It follows the Kubernetes 1.34 API conventions (`api-concepts`): a list carries
//! `metadata.resourceVersion`; `?watch=true&resourceVersion=N` streams newline-delimited JSON
//! events (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`) for every change after `N`, in
//! one chunked response; a `resourceVersion` older than the kept history gets an `ERROR` event
//! whose Status has code 410 (as the real watch cache does), or an HTTP 410 when
//! [`FakeKube::set_gone_as_http`] asks for it. `labelSelector` supports `key` and `key=value`
//! terms. Paging (`limit`) is ignored: every list is one page, as a watch-cache list often is.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::fake_http::{bind_restartable, rebind};

mod objects;
mod server;
mod watch;

use server::serve;

pub use objects::{endpoint, endpoint_slice, service, service_port, slice_port, status};

/// The two kinds of object the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Service,
    EndpointSlice,
}

impl Kind {
    fn plural(self) -> &'static str {
        match self {
            Self::Service => "services",
            Self::EndpointSlice => "endpointslices",
        }
    }

    fn api_version(self) -> &'static str {
        match self {
            Self::Service => "v1",
            Self::EndpointSlice => "discovery.k8s.io/v1",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Service => "Service",
            Self::EndpointSlice => "EndpointSlice",
        }
    }
}

/// A running fake API server; dropping it stops it.
#[derive(Debug)]
pub struct FakeKube {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    signals: broadcast::Sender<Signal>,
}

#[derive(Debug, Default)]
struct State {
    rv: u64,
    objects: BTreeMap<(Kind, String, String), Value>,
    history: Vec<Arc<Change>>,
    /// Watches from a resourceVersion below this one are answered 410 Gone.
    oldest: u64,
    failure: Option<(u16, Value)>,
    gone_as_http: bool,
    requests: Vec<String>,
}

#[derive(Debug)]
struct Change {
    rv: u64,
    kind: Kind,
    event: &'static str,
    object: Value,
}

#[derive(Debug, Clone)]
enum Signal {
    Change(Arc<Change>),
    Bookmark(u64),
    End,
    Expire,
}

impl FakeKube {
    /// Starts a server on `127.0.0.1`, on a port outside the ephemeral range.
    pub async fn start() -> Self {
        let listener = bind_restartable().await;
        let addr = listener.local_addr().expect("local addr");
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                rv: 100,
                oldest: 100,
                ..State::default()
            }),
            signals: broadcast::channel(1024).0,
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Self {
            addr,
            shared,
            server: Mutex::new(Some(server)),
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops listening and drops every connection (open watches end abruptly). The objects stay.
    pub async fn stop(&self) {
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            server.abort();
            let _ = server.await;
        }
    }

    /// Listens again on the same port, with the objects and history it had.
    pub async fn restart(&self) {
        self.stop().await;
        let listener = rebind(self.addr).await;
        let server = tokio::spawn(serve(listener, Arc::clone(&self.shared)));
        *self.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(server);
    }

    /// Creates or replaces an object (its `metadata.namespace` and `name` say which); watches see
    /// `ADDED` or `MODIFIED`. Returns the new resourceVersion.
    pub fn apply(&self, kind: Kind, object: Value) -> u64 {
        self.write(kind, object, false, true)
    }

    /// Deletes an object if it exists; watches see `DELETED`.
    pub fn delete(&self, kind: Kind, namespace: &str, name: &str) -> u64 {
        let object = json!({ "metadata": { "namespace": namespace, "name": name } });
        self.write(kind, object, true, true)
    }

    /// As [`FakeKube::apply`], but no watch is told, and the history before it is compacted: a
    /// client only learns of it by listing again (after a 410 Gone).
    pub fn apply_unseen(&self, kind: Kind, object: Value) -> u64 {
        self.write(kind, object, false, false)
    }

    /// As [`FakeKube::delete`], unseen by watches (see [`FakeKube::apply_unseen`]).
    pub fn delete_unseen(&self, kind: Kind, namespace: &str, name: &str) -> u64 {
        let object = json!({ "metadata": { "namespace": namespace, "name": name } });
        self.write(kind, object, true, false)
    }

    /// Forgets the history: any watch resumed from an older resourceVersion gets 410 Gone.
    pub fn compact(&self) {
        let mut state = self.shared.state();
        state.history.clear();
        state.oldest = state.rv;
    }

    /// Answers a too-old watch with HTTP 410 instead of an `ERROR` event in a 200 stream.
    pub fn set_gone_as_http(&self, yes: bool) {
        self.shared.state().gone_as_http = yes;
    }

    /// Sends every open watch an `ERROR` event with a 410 `Expired` Status, then ends it.
    pub fn expire_watches(&self) {
        let _ = self.shared.signals.send(Signal::Expire);
    }

    /// Ends every open watch cleanly, as the API server does when `timeoutSeconds` runs out.
    pub fn end_watches(&self) {
        let _ = self.shared.signals.send(Signal::End);
    }

    /// Sends a `BOOKMARK` with the current resourceVersion to watches that asked for bookmarks.
    pub fn bookmark(&self) {
        let rv = self.shared.state().rv;
        let _ = self.shared.signals.send(Signal::Bookmark(rv));
    }

    /// Answers every request with `code` and a Status (401 Unauthorized, 403 Forbidden, 500 …)
    /// until [`FakeKube::heal`]. Open watches go on until they end.
    pub fn fail(&self, code: u16, reason: &str, message: &str) {
        let status = status(code, reason, message);
        self.shared.state().failure = Some((code, status));
    }

    pub fn heal(&self) {
        self.shared.state().failure = None;
    }

    /// Every request so far, as `GET /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.state().requests.clone()
    }

    /// How many list (not watch) requests were made for `kind`.
    pub fn lists(&self, kind: Kind) -> usize {
        let needle = format!("/{}", kind.plural());
        self.requests()
            .iter()
            .filter(|r| r.contains(&needle) && !r.contains("watch=true"))
            .count()
    }

    /// How many watch requests were made for `kind`.
    pub fn watches(&self, kind: Kind) -> usize {
        let needle = format!("/{}", kind.plural());
        self.requests()
            .iter()
            .filter(|r| r.contains(&needle) && r.contains("watch=true"))
            .count()
    }

    fn write(&self, kind: Kind, mut object: Value, delete: bool, seen: bool) -> u64 {
        let namespace = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default");
        let name = object["metadata"]["name"].as_str().expect("metadata.name");
        let key = (kind, namespace.to_owned(), name.to_owned());
        let mut state = self.shared.state();
        state.rv += 1;
        let rv = state.rv;
        let event = if delete {
            match state.objects.remove(&key) {
                Some(old) => {
                    object = old;
                    "DELETED"
                }
                None => return rv,
            }
        } else if state.objects.contains_key(&key) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        object["apiVersion"] = json!(kind.api_version());
        object["kind"] = json!(kind.name());
        object["metadata"]["namespace"] = json!(key.1);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        if object["metadata"]["uid"].is_null() {
            object["metadata"]["uid"] = json!(format!("{:08x}-0000-4000-8000-{rv:012x}", rv));
        }
        if !delete {
            state.objects.insert(key, object.clone());
        }
        if !seen {
            state.history.clear();
            state.oldest = rv;
            return rv;
        }
        let change = Arc::new(Change {
            rv,
            kind,
            event,
            object,
        });
        state.history.push(Arc::clone(&change));
        let _ = self.shared.signals.send(Signal::Change(change));
        rv
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        if let Some(server) = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            server.abort();
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::server::{parse_query, route, selects};
    use super::*;
    use crate::fake_http::decode;

    #[test]
    fn routes_selectors_and_queries() {
        assert_eq!(route("/api/v1/services"), Some((Kind::Service, None)));
        assert_eq!(
            route("/apis/discovery.k8s.io/v1/namespaces/prod/endpointslices"),
            Some((Kind::EndpointSlice, Some("prod".to_owned())))
        );
        assert_eq!(route("/api/v1/namespaces/prod/endpointslices"), None);
        assert_eq!(route("/api/v1/pods"), None);
        let labels = json!({ "kubernetes.io/service-name": "web", "app": "web" });
        assert!(selects("kubernetes.io/service-name", &labels));
        assert!(selects("kubernetes.io/service-name=web,app=web", &labels));
        assert!(!selects("kubernetes.io/service-name=db", &labels));
        assert!(!selects("tier", &labels));
        let q = parse_query("watch=true&labelSelector=kubernetes.io%2Fservice-name%3Dweb");
        assert_eq!(q["labelSelector"], "kubernetes.io/service-name=web");
        assert_eq!(decode("a%2"), "a%2");
    }
}
