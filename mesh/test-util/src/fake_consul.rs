//! A fake Consul HTTP API for tests: a real HTTP server on `127.0.0.1:0` answering the
//! catalog, health and config-entry reads the mesh makes, as Consul documents them.
//!
//! * Blocking queries: `?index=N&wait=D` holds the request until the state's index is above
//!   `N` or `D` passes (capped at 10 minutes, 5 minutes when not given), and every answer
//!   carries `X-Consul-Index`. As in Consul, an index that went backwards
//!   ([`FakeConsul::restore_index`]) makes requests holding a higher one wait out `wait`.
//! * ACLs ([`FakeConsul::require_token`]): 403 without the token or with another one.
//! * Faults: 500s ([`FakeConsul::set_failing`]), slow answers ([`FakeConsul::set_delay`]),
//!   an index forced to any value ([`FakeConsul::force_index`]), stop and restart on the same
//!   port ([`FakeConsul::stop`], [`FakeConsul::restart`]), and TLS ([`FakeConsul::start_tls`]).
//! * The state is a list of `/v1/health/service` entries (`{Node, Service, Checks}`), built
//!   from the real sample of Consul's API docs ([`HEALTH_SERVICE_SAMPLE`]), and config entries
//!   as `GET /v1/config/:kind` returns them. Every request is recorded ([`FakeConsul::requests`]).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

/// The `/v1/health/service/my-service` sample response of Consul's API docs (health.mdx).
pub const HEALTH_SERVICE_SAMPLE: &str = r#"[
  {
    "Node": {
      "ID": "40e4a748-2192-161a-0510-9bf59fe950b5",
      "Node": "foobar",
      "Address": "10.1.10.12",
      "Datacenter": "dc1",
      "TaggedAddresses": { "lan": "10.1.10.12", "wan": "10.1.10.12" },
      "Meta": { "instance_type": "t2.medium" }
    },
    "Service": {
      "ID": "redis",
      "Service": "redis",
      "Tags": ["primary"],
      "Address": "10.1.10.12",
      "TaggedAddresses": {
        "lan": { "address": "10.1.10.12", "port": 8000 },
        "wan": { "address": "198.18.1.2", "port": 80 }
      },
      "Meta": { "redis_version": "4.0" },
      "Port": 8000,
      "Weights": { "Passing": 10, "Warning": 1 },
      "Namespace": "default"
    },
    "Checks": [
      {
        "Node": "foobar",
        "CheckID": "service:redis",
        "Name": "Service 'redis' check",
        "Status": "passing",
        "Notes": "",
        "Output": "",
        "ServiceID": "redis",
        "ServiceName": "redis",
        "ServiceTags": ["primary"],
        "Namespace": "default"
      },
      {
        "Node": "foobar",
        "CheckID": "serfHealth",
        "Name": "Serf Health Status",
        "Status": "passing",
        "Notes": "",
        "Output": "",
        "ServiceID": "",
        "ServiceName": "",
        "ServiceTags": [],
        "Namespace": "default"
      }
    ]
  }
]"#;

/// Consul's datacenter name unless [`FakeConsul::set_datacenter`] says otherwise.
pub const FAKE_DATACENTER: &str = "dc1";
/// Consul's default `wait`, and its cap.
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: String,
    /// `?index=`, when sent.
    pub index: Option<u64>,
    pub wait: Option<String>,
    pub dc: Option<String>,
    pub token: Option<String>,
}

#[derive(Debug)]
struct State {
    index: u64,
    forced_index: Option<u64>,
    entries: Vec<Value>,
    config: Vec<Value>,
    token: Option<String>,
    failing: bool,
    delay: Duration,
    datacenter: String,
    requests: Vec<Recorded>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    changed: watch::Sender<()>,
    tls: Option<Arc<rustls::ServerConfig>>,
}

/// A running fake Consul; dropping it stops the server.
#[derive(Debug)]
pub struct FakeConsul {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: Mutex<Option<JoinHandle<()>>>,
}

impl FakeConsul {
    /// A plain HTTP fake with an empty catalog, at index 1.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// An HTTPS fake serving the certificate chain `chain_der` (leaf first) with `key_der`
    /// (PKCS#8), as rcgen makes them.
    pub async fn start_tls(chain_der: Vec<Vec<u8>>, key_der: Vec<u8>) -> Self {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let certs = chain_der.into_iter().map(CertificateDer::from).collect();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der));
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("tls versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("fake consul certificate");
        Self::start_with(Some(Arc::new(config))).await
    }

    async fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake consul");
        let addr = listener.local_addr().expect("fake consul address");
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                index: 1,
                forced_index: None,
                entries: Vec::new(),
                config: Vec::new(),
                token: None,
                failing: false,
                delay: Duration::ZERO,
                datacenter: FAKE_DATACENTER.to_owned(),
                requests: Vec::new(),
            }),
            changed: watch::channel(()).0,
            tls,
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&inner)));
        Self {
            inner,
            addr,
            server: Mutex::new(Some(server)),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (or `https://localhost:<port>` with TLS, the name rcgen
    /// certificates are usually made for).
    pub fn url(&self) -> String {
        match self.inner.tls {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// Stops listening and cuts every open connection (held blocking queries included).
    pub fn stop(&self) {
        if let Some(task) = lock(&self.server).take() {
            task.abort();
        }
    }

    /// Listens again on the same port, with the same state.
    pub async fn restart(&self) {
        self.stop();
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        *lock(&self.server) = Some(tokio::spawn(serve(listener, Arc::clone(&self.inner))));
    }

    /// Adds a health entry, replacing the one with the same node and service ID.
    pub fn register(&self, entry: Value) {
        self.change(|s| {
            let key = |e: &Value| (e["Node"]["Node"].clone(), e["Service"]["ID"].clone());
            s.entries.retain(|e| key(e) != key(&entry));
            s.entries.push(entry);
        });
    }

    /// Removes the instance (or sidecar) with this service ID.
    pub fn deregister(&self, service_id: &str) {
        self.change(|s| s.entries.retain(|e| e["Service"]["ID"] != service_id));
    }

    /// Removes every instance of service `name`, so it leaves the catalog.
    pub fn delete_service(&self, name: &str) {
        self.change(|s| s.entries.retain(|e| e["Service"]["Service"] != name));
    }

    /// Sets the status (`passing`, `warning`, `critical`) of every check of one instance.
    pub fn set_check(&self, service_id: &str, status: &str) {
        self.change(|s| {
            for e in &mut s.entries {
                for c in checks_mut(e) {
                    if c["ServiceID"] == service_id {
                        c["Status"] = json!(status);
                    }
                }
            }
        });
    }

    /// Sets the `serfHealth` check of `node` on every entry of that node.
    pub fn set_node_health(&self, node: &str, status: &str) {
        self.change(|s| {
            for e in &mut s.entries {
                for c in checks_mut(e) {
                    if c["Node"] == node && c["CheckID"] == "serfHealth" {
                        c["Status"] = json!(status);
                    }
                }
            }
        });
    }

    /// Writes a config entry (JSON, CamelCase, as `PUT /v1/config` takes it).
    pub fn put_config(&self, mut entry: Value) {
        self.change(|s| {
            let key = |e: &Value| (e["Kind"].clone(), e["Name"].clone());
            s.config.retain(|e| key(e) != key(&entry));
            entry["CreateIndex"] = json!(s.index + 1);
            entry["ModifyIndex"] = json!(s.index + 1);
            s.config.push(entry);
        });
    }

    pub fn delete_config(&self, kind: &str, name: &str) {
        self.change(|s| {
            s.config
                .retain(|e| !(e["Kind"] == kind && e["Name"] == name))
        });
    }

    /// Sets the index to `index` (lower than now: a snapshot restore), waking held queries.
    pub fn restore_index(&self, index: u64) {
        let mut s = self.state();
        s.index = index;
        drop(s);
        self.inner.changed.send_replace(());
    }

    /// Reports `index` in every answer instead of the real one (`None` to stop).
    pub fn force_index(&self, index: Option<u64>) {
        self.state().forced_index = index;
        self.inner.changed.send_replace(());
    }

    /// Requires `X-Consul-Token: token` on every request (`None`: no ACLs).
    pub fn require_token(&self, token: Option<&str>) {
        self.state().token = token.map(str::to_owned);
    }

    /// Answers every request with 500 while `failing`.
    pub fn set_failing(&self, failing: bool) {
        self.state().failing = failing;
        self.inner.changed.send_replace(());
    }

    /// Waits this long before each answer.
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    pub fn set_datacenter(&self, dc: &str) {
        self.state().datacenter = dc.to_owned();
    }

    /// The current index.
    pub fn index(&self) -> u64 {
        self.state().index
    }

    /// Every request seen so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state().requests.clone()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.inner.state)
    }

    fn change(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state();
        f(&mut s);
        s.index += 1;
        drop(s);
        self.inner.changed.send_replace(());
    }
}

impl Drop for FakeConsul {
    fn drop(&mut self) {
        self.stop();
    }
}

/// An instance of `service` with ID `id` at `addr:port` on `node` (address `node_addr`),
/// shaped as the docs' sample: a passing service check and a passing `serfHealth`.
pub fn instance(
    node: &str,
    node_addr: &str,
    service: &str,
    id: &str,
    addr: &str,
    port: u16,
) -> Value {
    let sample: Vec<Value> = serde_json::from_str(HEALTH_SERVICE_SAMPLE).expect("docs sample");
    let mut e = sample.into_iter().next().expect("one sample entry");
    e["Node"]["Node"] = json!(node);
    e["Node"]["Address"] = json!(node_addr);
    e["Node"]["TaggedAddresses"] = json!({ "lan": node_addr, "wan": node_addr });
    let svc = &mut e["Service"];
    svc["ID"] = json!(id);
    svc["Service"] = json!(service);
    svc["Address"] = json!(addr);
    svc["Port"] = json!(port);
    svc["Tags"] = json!([]);
    svc["Meta"] = json!({});
    svc["TaggedAddresses"] = json!({ "lan": { "address": addr, "port": port } });
    for c in checks_mut(&mut e) {
        c["Node"] = json!(node);
        if c["CheckID"] != "serfHealth" {
            c["CheckID"] = json!(format!("service:{id}"));
            c["Name"] = json!(format!("Service '{service}' check"));
            c["ServiceID"] = json!(id);
            c["ServiceName"] = json!(service);
            c["ServiceTags"] = json!([]);
        }
    }
    e
}

/// The sidecar Consul registers for instance `parent_id` of `service` (`sidecar_service {}`):
/// ID `<parent_id>-sidecar-proxy`, `Kind = "connect-proxy"`, listening on `node_addr:port`,
/// the app on `127.0.0.1:local_port`, with `upstreams` as (service, local bind port).
pub fn sidecar(
    node: &str,
    node_addr: &str,
    service: &str,
    parent_id: &str,
    port: u16,
    local_port: u16,
    upstreams: &[(&str, u16)],
) -> Value {
    let id = format!("{parent_id}-sidecar-proxy");
    let mut e = instance(
        node,
        node_addr,
        &format!("{service}-sidecar-proxy"),
        &id,
        "",
        port,
    );
    e["Service"]["Kind"] = json!("connect-proxy");
    e["Service"]["Proxy"] = json!({
        "DestinationServiceName": service,
        "DestinationServiceID": parent_id,
        "LocalServiceAddress": "127.0.0.1",
        "LocalServicePort": local_port,
        "Mode": "",
        "Config": {},
        "MeshGateway": {},
        "Expose": {},
        "Upstreams": upstreams.iter().map(|(name, bind)| json!({
            "DestinationType": "service",
            "DestinationName": name,
            "Datacenter": "",
            "LocalBindPort": bind,
            "MeshGateway": {},
        })).collect::<Vec<_>>(),
    });
    if let Some(c) = checks_mut(&mut e).find(|c| c["CheckID"] != "serfHealth") {
        c["Name"] = json!("Connect Sidecar Listening");
    }
    e
}

fn checks_mut(e: &mut Value) -> impl Iterator<Item = &mut Value> {
    e["Checks"].as_array_mut().into_iter().flatten()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Accepts until aborted; aborting drops the connection set, which cuts every connection.
async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let inner = Arc::clone(&inner);
        let tls = inner.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let inner = Arc::clone(&inner);
                async move { Ok::<_, Infallible>(handle(&inner, req).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                }
            }
        });
    }
}

async fn handle(inner: &Inner, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let token = req
        .headers()
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let index: Option<u64> = query.get("index").and_then(|v| v.parse().ok());
    let wait = query.get("wait").cloned();
    let delay = {
        let mut s = lock(&inner.state);
        s.requests.push(Recorded {
            path: path.clone(),
            index,
            wait: wait.clone(),
            dc: query.get("dc").cloned(),
            token: token.clone(),
        });
        if let Some(required) = &s.token {
            match &token {
                None => {
                    return text(
                        403,
                        "Permission denied: anonymous token lacks permission 'service:read'",
                    );
                }
                Some(t) if t != required => return text(403, "ACL not found"),
                Some(_) => {}
            }
        }
        if s.failing {
            return text(500, "rpc error making call: No cluster leader");
        }
        if query.get("dc").is_some_and(|dc| *dc != s.datacenter) {
            return text(500, "No path to datacenter");
        }
        s.delay
    };
    if let Some(index) = index.filter(|i| *i > 0) {
        let wait = wait
            .as_deref()
            .and_then(go_duration)
            .unwrap_or(DEFAULT_WAIT)
            .min(MAX_WAIT);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut rx = inner.changed.subscribe();
            {
                let s = lock(&inner.state);
                if s.failing || s.forced_index.unwrap_or(s.index) > index {
                    break;
                }
            }
            tokio::select! {
                _ = rx.changed() => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let s = lock(&inner.state);
    if s.failing {
        return text(500, "rpc error making call: No cluster leader");
    }
    let body = match answer(&s, &path) {
        Some(body) => body,
        None => return text(404, "Not found"),
    };
    let reported = s.forced_index.unwrap_or(s.index);
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header("X-Consul-Index", reported.to_string())
        .header("X-Consul-KnownLeader", "true")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

/// The JSON body for a read of `path`, or `None` for a path the fake does not serve.
fn answer(s: &State, path: &str) -> Option<Value> {
    if path == "/v1/catalog/services" {
        let mut services: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in &s.entries {
            let name = e["Service"]["Service"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let tags = services.entry(name).or_default();
            for t in e["Service"]["Tags"].as_array().into_iter().flatten() {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        return Some(json!(services));
    }
    if let Some(name) = path.strip_prefix("/v1/health/service/") {
        let found: Vec<&Value> = s
            .entries
            .iter()
            .filter(|e| e["Service"]["Service"] == name)
            .collect();
        return Some(json!(found));
    }
    if let Some(name) = path.strip_prefix("/v1/health/connect/") {
        let found: Vec<&Value> = s
            .entries
            .iter()
            .filter(|e| {
                let svc = &e["Service"];
                (svc["Kind"] == "connect-proxy" && svc["Proxy"]["DestinationServiceName"] == name)
                    || (svc["Service"] == name && svc["Connect"]["Native"] == true)
            })
            .collect();
        return Some(json!(found));
    }
    if let Some(kind) = path.strip_prefix("/v1/config/") {
        let found: Vec<&Value> = s.config.iter().filter(|e| e["Kind"] == kind).collect();
        return Some(json!(found));
    }
    None
}

fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("response")
}

/// A Go duration as `?wait=` carries it: `<n>ms`, `<n>s`, `<n>m` or `<n>h`.
fn go_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}
