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
//! * The local agent's service endpoints (register, deregister, list), whose services join
//!   the catalog on node [`AGENT_NODE`]: see `agent.rs`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

mod agent;
mod samples;
mod server;

use crate::fake_http::{bind_restartable, rebind};
use samples::checks_mut;
use server::serve;

pub use agent::{AGENT_NODE, AGENT_NODE_ADDRESS};
pub use samples::{HEALTH_SERVICE_SAMPLE, instance, sidecar};

/// Consul's datacenter name unless [`FakeConsul::set_datacenter`] says otherwise.
pub const FAKE_DATACENTER: &str = "dc1";

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
        let listener = bind_restartable().await;
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
        let listener = rebind(self.addr).await;
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
