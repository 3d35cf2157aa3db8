//! A fake Nomad HTTP API for tests: native service discovery (`/v1/services`, `/v1/service/:name`)
//! with blocking queries, paging, ACL tokens, namespaces, injected failures, and stop/restart.
//!
//! It serves the shapes of Nomad's API docs (`website/content/api-docs/services.mdx`); the
//! registrations of the docs' sample response are in [`DOCS_SERVICE_SAMPLE`]. Tests change its
//! state (register, deregister, move the index, fail) while an adapter watches it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::StatusCode;
use tokio::sync::watch;

use crate::fake_http::{bind_restartable, rebind};

mod jobs;
mod registration;
mod server;

use crate::tls::{TestTls, test_tls};

pub use jobs::Submitted;
pub use registration::{DOCS_SERVICE_SAMPLE, Registration, docs_registrations};

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
    /// Jobs, evaluations and allocations (`jobs.rs`).
    jobs: jobs::Jobs,
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
        Self::start_with(Some(test_tls(&["127.0.0.1", "localhost"], false))).await
    }

    /// As [`FakeNomad::start_tls`], and requires a client certificate signed by the same CA
    /// (Nomad's `verify_https_client`); [`FakeNomad::client_identity`] gives one.
    pub async fn start_mtls() -> Self {
        Self::start_with(Some(test_tls(&["127.0.0.1", "localhost"], true))).await
    }

    async fn start_with(tls: Option<TestTls>) -> Self {
        let state = State {
            index: 1,
            region: "global".to_owned(),
            ..State::default()
        };
        let listener = bind_restartable().await;
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
        let listener = rebind(self.addr).await;
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
