//! A fake Nomad HTTP API for tests: native service discovery (`/v1/services`, `/v1/service/:name`)
//! with blocking queries, paging, ACL tokens, namespaces, injected failures, and stop/restart.
//!
//! It serves the shapes of Nomad's API docs (`website/content/api-docs/services.mdx`); the
//! registrations of the docs' sample response are in [`DOCS_SERVICE_SAMPLE`]. Tests change its
//! state (register, deregister, move the index, fail) while an adapter watches it.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

/// The sample response of `GET /v1/service/example-cache-redis`, verbatim from Nomad's API docs.
pub const DOCS_SERVICE_SAMPLE: &str = r#"[
  {
    "Address": "127.0.0.1",
    "AllocID": "177160af-26f6-619f-9c9f-5e46d1104395",
    "CreateIndex": 14,
    "Datacenter": "dc1",
    "ID": "_nomad-task-177160af-26f6-619f-9c9f-5e46d1104395-redis-example-cache-redis-db",
    "JobID": "example",
    "ModifyIndex": 24,
    "Namespace": "default",
    "NodeID": "7406e90b-de16-d118-80fe-60d0f2730cb3",
    "Port": 29702,
    "ServiceName": "example-cache-redis",
    "Tags": [
      "db",
      "cache"
    ]
  },
  {
    "Address": "127.0.0.1",
    "AllocID": "ba731da0-6df9-9858-ef23-806e9758a899",
    "CreateIndex": 35,
    "Datacenter": "dc1",
    "ID": "_nomad-task-ba731da0-6df9-9858-ef23-806e9758a899-redis-example-cache-redis-db",
    "JobID": "example",
    "ModifyIndex": 35,
    "Namespace": "default",
    "NodeID": "7406e90b-de16-d118-80fe-60d0f2730cb3",
    "Port": 27232,
    "ServiceName": "example-cache-redis",
    "Tags": [
      "db",
      "cache"
    ]
  }
]"#;

/// Nomad's default and maximum blocking wait (api-docs/index.mdx, "Blocking Queries").
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// One service registration, as Nomad's API spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Registration {
    pub address: String,
    #[serde(rename = "AllocID")]
    pub alloc_id: String,
    pub create_index: u64,
    pub datacenter: String,
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    pub modify_index: u64,
    pub namespace: String,
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub port: u16,
    pub service_name: String,
    pub tags: Vec<String>,
}

impl Registration {
    /// A registration of `service` in namespace `default`, with Nomad's ID layout.
    pub fn new(service: &str, alloc: &str, address: &str, port: u16) -> Self {
        Self {
            address: address.to_owned(),
            alloc_id: alloc.to_owned(),
            create_index: 0,
            datacenter: "dc1".to_owned(),
            id: format!("_nomad-task-{alloc}-task-{service}-http"),
            job_id: "example".to_owned(),
            modify_index: 0,
            namespace: "default".to_owned(),
            node_id: "7406e90b-de16-d118-80fe-60d0f2730cb3".to_owned(),
            port,
            service_name: service.to_owned(),
            tags: Vec::new(),
        }
    }

    pub fn in_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_owned();
        self
    }

    pub fn with_tags(mut self, tags: &[&str]) -> Self {
        self.tags = tags.iter().map(|t| (*t).to_owned()).collect();
        self
    }
}

/// The registrations of [`DOCS_SERVICE_SAMPLE`].
pub fn docs_registrations() -> Vec<Registration> {
    serde_json::from_str(DOCS_SERVICE_SAMPLE).expect("the docs sample parses")
}

/// A request the fake received, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub token: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    index: u64,
    /// Keyed by (namespace, ID).
    registrations: BTreeMap<(String, String), Registration>,
    token: Option<String>,
    fail: Option<StatusCode>,
    delay: Duration,
    region: String,
    log: Vec<Recorded>,
}

/// A running fake Nomad agent on 127.0.0.1; dropping it stops the server.
pub struct FakeNomad {
    state: Arc<watch::Sender<State>>,
    addr: SocketAddr,
    tls: Option<TestTls>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeNomad {
    /// Starts a plain-HTTP fake on a free port, in region `global`, at index 1.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// Starts an HTTPS fake whose certificate (for 127.0.0.1 and localhost) is signed by a fresh
    /// CA; [`FakeNomad::ca_pem`] gives that CA.
    pub async fn start_tls() -> Self {
        Self::start_with(Some(test_tls(false))).await
    }

    /// As [`FakeNomad::start_tls`], and requires a client certificate signed by the same CA
    /// (Nomad's `verify_https_client`); [`FakeNomad::client_identity`] gives one.
    pub async fn start_mtls() -> Self {
        Self::start_with(Some(test_tls(true))).await
    }

    async fn start_with(tls: Option<TestTls>) -> Self {
        let state = State {
            index: 1,
            region: "global".to_owned(),
            ..State::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let mut fake = Self {
            state: Arc::new(watch::channel(state).0),
            addr,
            tls,
            server: None,
        };
        fake.serve(listener);
        fake
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` (or `https://` for [`FakeNomad::start_tls`]).
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The PEM of the CA that signed the HTTPS certificate.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(|t| t.ca_pem.as_str())
    }

    /// A client certificate and its key (PEM) signed by the fake's CA.
    pub fn client_identity(&self) -> Option<(&str, &str)> {
        self.tls
            .as_ref()
            .map(|t| (t.client_cert_pem.as_str(), t.client_key_pem.as_str()))
    }

    /// Stops answering: closes the listener and every open connection (blocking queries included).
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Starts again on the same port, with the same state.
    pub async fn restart(&mut self) {
        self.stop();
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
        self.serve(listener);
    }

    /// Adds or replaces a registration (by namespace and ID) and moves the index forward.
    pub fn register(&self, mut r: Registration) {
        self.state.send_modify(|s| {
            s.index += 1;
            r.modify_index = s.index;
            if r.create_index == 0 {
                r.create_index = s.index;
            }
            s.registrations
                .insert((r.namespace.clone(), r.id.clone()), r);
        });
    }

    /// Removes the registration `id` from `namespace`; returns whether it was there.
    pub fn deregister(&self, namespace: &str, id: &str) -> bool {
        self.state.send_if_modified(|s| {
            let gone = s
                .registrations
                .remove(&(namespace.to_owned(), id.to_owned()))
                .is_some();
            if gone {
                s.index += 1;
            }
            gone
        })
    }

    /// Removes every registration of `service` in `namespace` (a stopped job).
    pub fn remove_service(&self, namespace: &str, service: &str) {
        self.state.send_modify(|s| {
            s.registrations
                .retain(|(ns, _), r| !(ns == namespace && r.service_name == service));
            s.index += 1;
        });
    }

    /// Sets the index as is — lower to act as a restored snapshot, 0 to act as the old bug.
    pub fn set_index(&self, index: u64) {
        self.state.send_modify(|s| s.index = index);
    }

    pub fn index(&self) -> u64 {
        self.state.borrow().index
    }

    /// Turns ACLs on: every request then needs this token.
    pub fn require_token(&self, token: Option<&str>) {
        self.state
            .send_modify(|s| s.token = token.map(str::to_owned));
    }

    /// Answers every request with this status until called with `None`.
    pub fn fail_with(&self, status: Option<u16>) {
        let status = status.map(|c| StatusCode::from_u16(c).expect("a status code"));
        self.state.send_modify(|s| s.fail = status);
    }

    /// Delays every answer by `delay`.
    pub fn set_delay(&self, delay: Duration) {
        self.state.send_modify(|s| s.delay = delay);
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.borrow().log.clone()
    }

    /// The requests to `path` received so far.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        let s = self.state.borrow();
        s.log.iter().filter(|r| r.path == path).cloned().collect()
    }

    fn serve(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        let tls = self.tls.as_ref().map(|t| t.acceptor.clone());
        self.server = Some(tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                let tls = tls.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let result = match tls {
                        Some(tls) => match tls.accept(stream).await {
                            Ok(s) => http.serve_connection(TokioIo::new(s), svc).await,
                            Err(e) => return tracing::debug!("fake nomad tls: {e}"),
                        },
                        None => http.serve_connection(TokioIo::new(stream), svc).await,
                    };
                    if let Err(e) = result {
                        tracing::debug!("fake nomad connection: {e}");
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        }));
    }
}

impl std::fmt::Debug for FakeNomad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeNomad")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .field("running", &self.server.is_some())
            .finish()
    }
}

impl Drop for FakeNomad {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(state: &watch::Sender<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let token = header("x-nomad-token")
        .or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")))
        .map(str::to_owned);
    let (delay, refusal) = {
        let mut refusal = None;
        state.send_if_modified(|s| {
            s.log.push(Recorded {
                path: path.clone(),
                query: query.clone(),
                token: token.clone(),
            });
            refusal = refuse(s, token.as_deref(), query.get("region"));
            false
        });
        (state.borrow().delay, refusal)
    };
    tokio::time::sleep(delay).await;
    if let Some((status, body)) = refusal {
        return text(status, body);
    }
    // index=0 (or none) answers at once, as in Nomad: only a positive index blocks
    if let Some(index) = query
        .get("index")
        .and_then(|i| i.parse::<u64>().ok())
        .filter(|i| *i > 0)
    {
        let wait = query
            .get("wait")
            .and_then(|w| parse_wait(w))
            .unwrap_or(DEFAULT_WAIT)
            .min(MAX_WAIT);
        let mut rx = state.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|s| s.index > index)).await;
    }
    let s = state.borrow();
    let namespace = query.get("namespace").map_or("default", String::as_str);
    let in_ns = |r: &&Registration| namespace == "*" || r.namespace == namespace;
    let (body, next) = if path == "/v1/services" {
        (services(s.registrations.values().filter(in_ns)), None)
    } else if let Some(name) = path.strip_prefix("/v1/service/") {
        let regs: Vec<&Registration> = s
            .registrations
            .values()
            .filter(in_ns)
            .filter(|r| r.service_name == name)
            .collect();
        page(regs, &query)
    } else {
        return text(StatusCode::NOT_FOUND, "Invalid URL path".to_owned());
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert("content-type", hv("application/json"));
    h.insert("x-nomad-index", hv(&s.index.to_string()));
    h.insert("x-nomad-lastcontact", hv("0"));
    h.insert("x-nomad-knownleader", hv("true"));
    if let Some(next) = next {
        h.insert("x-nomad-nexttoken", hv(&next));
    }
    resp
}

/// Why the agent refuses a request before looking at it, if it does.
fn refuse(s: &State, token: Option<&str>, region: Option<&String>) -> Option<(StatusCode, String)> {
    if let Some(status) = s.fail {
        return Some((status, "rpc error: No cluster leader".to_owned()));
    }
    match (&s.token, token) {
        (Some(_), None) => return Some((StatusCode::FORBIDDEN, "Permission denied".to_owned())),
        (Some(want), Some(got)) if want != got => {
            return Some((StatusCode::FORBIDDEN, "ACL token not found".to_owned()));
        }
        _ => {}
    }
    match region {
        Some(r) if *r != s.region => Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            "No path to region".to_owned(),
        )),
        _ => None,
    }
}

/// `/v1/services`: one entry per namespace, its services with the union of their tags.
fn services<'a>(regs: impl Iterator<Item = &'a Registration>) -> String {
    let mut by_ns: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for r in regs {
        let tags = by_ns
            .entry(&r.namespace)
            .or_default()
            .entry(&r.service_name)
            .or_default();
        tags.extend(r.tags.iter().map(String::as_str));
    }
    let list: Vec<serde_json::Value> = by_ns
        .into_iter()
        .map(|(ns, svcs)| {
            let svcs: Vec<_> = svcs
                .into_iter()
                .map(|(name, tags)| serde_json::json!({"ServiceName": name, "Tags": tags}))
                .collect();
            serde_json::json!({"Namespace": ns, "Services": svcs})
        })
        .collect();
    serde_json::to_string(&list).expect("json")
}

/// `/v1/service/:name`, sorted by ID, paged by `per_page` from `next_token` (`<namespace>.<ID>`,
/// as Nomad's paginator spells it).
fn page(
    mut regs: Vec<&Registration>,
    query: &BTreeMap<String, String>,
) -> (String, Option<String>) {
    let token = |r: &Registration| format!("{}.{}", r.namespace, r.id);
    regs.sort_by_key(|r| token(r));
    if let Some(from) = query.get("next_token") {
        regs.retain(|r| token(r) >= *from);
    }
    let per_page = query
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p > 0);
    let next = match per_page {
        Some(n) if regs.len() > n => {
            let next = token(regs[n]);
            regs.truncate(n);
            Some(next)
        }
        _ => None,
    };
    (serde_json::to_string(&regs).expect("json"), next)
}

fn parse_wait(w: &str) -> Option<Duration> {
    let (num, unit) = w.split_at(w.find(|c: char| !c.is_ascii_digit())?);
    let n: u64 = num.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// Percent-decoding of a query component (enough for `*`, namespaces and tokens).
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hv(s: &str) -> hyper::header::HeaderValue {
    hyper::header::HeaderValue::from_str(s).expect("a header value")
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}

/// The TLS side of an HTTPS fake.
struct TestTls {
    acceptor: TlsAcceptor,
    ca_pem: String,
    client_cert_pem: String,
    client_key_pem: String,
}

/// A TLS acceptor for 127.0.0.1 and localhost, signed by a fresh CA that also signs a client
/// certificate; with `verify_clients`, the acceptor requires one.
fn test_tls(verify_clients: bool) -> TestTls {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("key")).expect("ca");
    let issue = |names: &[&str]| {
        let key = KeyPair::generate().expect("key");
        let names = names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let cert = CertificateParams::new(names)
            .expect("params")
            .signed_by(&key, &ca)
            .expect("certificate");
        (cert, key)
    };
    let (leaf, leaf_key) = issue(&["127.0.0.1", "localhost"]);
    let (client, client_key) = issue(&["rigging-client"]);
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("tls versions");
    let builder = if verify_clients {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.der().clone()).expect("ca root");
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .expect("client verifier");
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = builder
        .with_single_cert(vec![leaf.der().clone()], key)
        .expect("server config");
    TestTls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: ca.pem(),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}
