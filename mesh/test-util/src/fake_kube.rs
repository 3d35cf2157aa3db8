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
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc};
use tokio::task::{JoinHandle, JoinSet};

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
    /// Starts a server on `127.0.0.1` with an ephemeral port.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
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
        let mut tries = 0;
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if tries < 50 => {
                    tries += 1;
                    tracing::debug!("rebinding {}: {e}", self.addr);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("cannot rebind {}: {e}", self.addr),
            }
        };
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

/// A Kubernetes `Status` object, as the API server sends with every error.
pub fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({ "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code })
}

/// A ClusterIP Service selecting `app=<name>`, with `ports` (a JSON array of ServicePorts).
pub fn service(namespace: &str, name: &str, ports: Value) -> Value {
    json!({
        "metadata": { "name": name, "namespace": namespace, "labels": { "app": name },
                      "creationTimestamp": "2026-11-27T09:00:00Z" },
        "spec": { "type": "ClusterIP", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"],
                  "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                  "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
                  "selector": { "app": name }, "ports": ports },
        "status": { "loadBalancer": {} }
    })
}

/// One ServicePort: `target_port` is a number or a container port's name.
pub fn service_port(
    name: &str,
    port: u16,
    target_port: Value,
    app_protocol: Option<&str>,
) -> Value {
    let mut p = json!({ "name": name, "port": port, "protocol": "TCP", "targetPort": target_port });
    if let Some(a) = app_protocol {
        p["appProtocol"] = json!(a);
    }
    p
}

/// An IPv4 EndpointSlice of `service`, as the EndpointSlice controller writes it.
pub fn endpoint_slice(
    namespace: &str,
    name: &str,
    service: &str,
    endpoints: Vec<Value>,
    ports: Value,
) -> Value {
    json!({
        "metadata": { "name": name, "namespace": namespace, "generateName": format!("{service}-"),
            "labels": { "kubernetes.io/service-name": service,
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" },
            "ownerReferences": [{ "apiVersion": "v1", "kind": "Service", "name": service,
                                  "uid": "5d0f2b7a-0000-4000-8000-000000000001",
                                  "controller": true, "blockOwnerDeletion": true }] },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports
    })
}

/// One EndpointSlice port (its name is the Service port's name; `port` the resolved target).
pub fn slice_port(name: &str, port: u16, app_protocol: Option<&str>) -> Value {
    let mut p = json!({ "name": name, "port": port, "protocol": "TCP" });
    if let Some(a) = app_protocol {
        p["appProtocol"] = json!(a);
    }
    p
}

/// One endpoint of a pod: `ready`, `serving` and `terminating` as given.
pub fn endpoint(
    ip: &str,
    pod: &str,
    conditions: (bool, bool, bool),
    node: &str,
    zone: &str,
) -> Value {
    let (ready, serving, terminating) = conditions;
    json!({
        "addresses": [ip],
        "conditions": { "ready": ready, "serving": serving, "terminating": terminating },
        "nodeName": node,
        "zone": zone,
        "targetRef": { "kind": "Pod", "name": pod, "namespace": "default",
                       "uid": "7c1f9a52-0000-4000-8000-000000000002" }
    })
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // dropped with this task, which aborts every connection
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn handle(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<FakeBody> {
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let mut state = shared.state();
    state
        .requests
        .push(format!("{} {}", req.method(), req.uri()));
    if let Some((code, status)) = &state.failure {
        return respond(*code, status);
    }
    let Some((kind, namespace)) = route(&path) else {
        let msg = format!("the server could not find the requested resource ({path})");
        return respond(404, &status(404, "NotFound", &msg));
    };
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let matches = move |object: &Value| {
        object["metadata"]["namespace"]
            .as_str()
            .is_some_and(|ns| namespace.as_deref().is_none_or(|n| n == ns))
            && selects(&selector, &object["metadata"]["labels"])
    };
    let items: Vec<Value> = state
        .objects
        .iter()
        .filter(|((k, _, _), o)| *k == kind && matches(o))
        .map(|(_, o)| o.clone())
        .collect();
    if query.get("watch").map(String::as_str) != Some("true") {
        let list = json!({ "kind": format!("{}List", kind.name()), "apiVersion": kind.api_version(),
                           "metadata": { "resourceVersion": state.rv.to_string() }, "items": items });
        return respond(200, &list);
    }
    watch(shared, state, kind, items, &query, matches)
}

/// A watch from `?resourceVersion=` (0 or none: the current objects as `ADDED` first).
fn watch(
    shared: &Shared,
    state: MutexGuard<'_, State>,
    kind: Kind,
    items: Vec<Value>,
    query: &BTreeMap<String, String>,
    matches: impl Fn(&Value) -> bool + Send + 'static,
) -> Response<FakeBody> {
    let from = query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let mut ends = false;
    let backlog: Vec<Bytes> = if from == 0 {
        items.iter().map(|o| line("ADDED", o)).collect()
    } else if from < state.oldest {
        let msg = format!("too old resource version: {from} ({})", state.oldest);
        let gone = status(410, "Expired", &msg);
        if state.gone_as_http {
            return respond(410, &gone);
        }
        ends = true;
        vec![line("ERROR", &gone)]
    } else {
        let newer = state.history.iter().filter(|c| c.rv > from);
        newer
            .filter(|c| c.kind == kind && matches(&c.object))
            .map(|c| line(c.event, &c.object))
            .collect()
    };
    // subscribed under the lock, so no change falls between the backlog and the stream
    let signals = shared.signals.subscribe();
    drop(state);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(forward(
        backlog, ends, signals, tx, kind, bookmarks, matches,
    ));
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(FakeBody::Stream(rx))
        .expect("response")
}

async fn forward(
    backlog: Vec<Bytes>,
    ends: bool,
    mut signals: broadcast::Receiver<Signal>,
    tx: mpsc::Sender<Bytes>,
    kind: Kind,
    bookmarks: bool,
    matches: impl Fn(&Value) -> bool,
) {
    for l in backlog {
        if tx.send(l).await.is_err() {
            return;
        }
    }
    if ends {
        return;
    }
    loop {
        let signal = tokio::select! {
            s = signals.recv() => s,
            () = tx.closed() => return,
        };
        let out = match signal {
            Ok(Signal::Change(c)) if c.kind == kind && matches(&c.object) => {
                line(c.event, &c.object)
            }
            Ok(Signal::Bookmark(rv)) if bookmarks => line(
                "BOOKMARK",
                &json!({
                "kind": kind.name(), "apiVersion": kind.api_version(),
                "metadata": { "resourceVersion": rv.to_string() } }),
            ),
            Ok(Signal::Expire) => {
                let _ = tx
                    .send(line(
                        "ERROR",
                        &status(410, "Expired", "too old resource version"),
                    ))
                    .await;
                return;
            }
            Ok(Signal::End) | Err(_) => return,
            Ok(_) => continue,
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

fn route(path: &str) -> Option<(Kind, Option<String>)> {
    let (kind, rest) = if let Some(rest) = path.strip_prefix("/api/v1/") {
        (Kind::Service, rest)
    } else {
        (
            Kind::EndpointSlice,
            path.strip_prefix("/apis/discovery.k8s.io/v1/")?,
        )
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [p] if *p == kind.plural() => Some((kind, None)),
        ["namespaces", ns, p] if *p == kind.plural() => Some((kind, Some((*ns).to_owned()))),
        _ => None,
    }
}

/// `key` (exists) and `key=value` terms, comma-separated, all of which must hold.
fn selects(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .filter(|t| !t.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => labels[k.trim_end_matches('=')].as_str() == Some(v),
            None => labels.get(term).is_some(),
        })
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn line(event: &str, object: &Value) -> Bytes {
    let mut text = json!({ "type": event, "object": object }).to_string();
    text.push('\n');
    Bytes::from(text)
}

fn respond(code: u16, body: &Value) -> Response<FakeBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(FakeBody::Full(Some(Bytes::from(body.to_string()))))
        .expect("response")
}

/// A whole body, or the chunks of a watch as they come.
#[derive(Debug)]
enum FakeBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Stream(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
