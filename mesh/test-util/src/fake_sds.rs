//! A fake SDS server for tests: Envoy's `SecretDiscoveryService/StreamSecrets` (state of the
//! world) over plaintext gRPC, with secrets the test sets, stops and restarts.
//!
//! It follows the xDS protocol as a gateway sees it: a new subscription gets the current
//! version at once if a requested secret exists, a change is pushed to every stream subscribed
//! to that name, and a request carrying the nonce of the stream's latest response is recorded
//! as that response's ACK or NACK (a stale nonce is ignored, as servers do).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::DataSource;
use envoy_types::pb::envoy::config::core::v3::data_source::Specifier;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    Secret, TlsCertificate, secret,
};
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryRequest;
use tokio::sync::watch;

use crate::fake_http::{bind_restartable, rebind};

mod server;

/// The type URL of an SDS `Secret`, in requests, responses and resources.
pub const SECRET_TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// How long the `wait_*` helpers wait before failing the test.
const WAIT: Duration = Duration::from_secs(10);

/// A client's answer to a response: an ACK (`error` is `None`) or a NACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdsAnswer {
    /// The request's `version_info`: the version ACKed, or for a NACK the last one accepted.
    pub version: String,
    /// The nonce of the response answered.
    pub nonce: String,
    pub resource_names: Vec<String>,
    /// The NACK's `error_detail.message`.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    /// Moves forward on every change; a response's `version_info`.
    version: u64,
    /// By name: the secret and the version that last changed it.
    secrets: BTreeMap<String, (u64, Secret)>,
    answers: Vec<SdsAnswer>,
    requests: Vec<DiscoveryRequest>,
    /// Streams opened so far, and those still open.
    streams: usize,
    open_streams: usize,
}

/// A running fake SDS server on 127.0.0.1; dropping it stops the server and its streams.
pub struct FakeSds {
    state: Arc<watch::Sender<State>>,
    addr: SocketAddr,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl FakeSds {
    /// Starts a fake on a free port, with no secrets.
    pub async fn start() -> Self {
        let listener = bind_restartable().await;
        let addr = listener.local_addr().expect("local addr");
        let mut fake = Self {
            state: Arc::new(watch::channel(State::default()).0),
            addr,
            server: None,
        };
        fake.serve(listener);
        fake
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops answering: closes the listener and every open stream. Secrets and records stay.
    pub fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }

    /// Starts again on the same port, with the same secrets.
    pub async fn restart(&mut self) {
        self.stop();
        let listener = rebind(self.addr).await;
        self.serve(listener);
    }

    /// Sets `name` to a TLS certificate (chain and key inline, PEM) and pushes it; returns the
    /// new version.
    pub fn set(&self, name: &str, chain_pem: &str, key_pem: &str) -> String {
        let inline = |pem: &str| {
            Some(DataSource {
                specifier: Some(Specifier::InlineString(pem.to_owned())),
                ..Default::default()
            })
        };
        let secret = Secret {
            name: name.to_owned(),
            r#type: Some(secret::Type::TlsCertificate(TlsCertificate {
                certificate_chain: inline(chain_pem),
                private_key: inline(key_pem),
                ..Default::default()
            })),
        };
        self.set_raw(name, secret)
    }

    /// Serves `secret` as is under `name` (its own `name` may differ, to send a client
    /// something it did not ask for) and pushes it; returns the new version.
    pub fn set_raw(&self, name: &str, secret: Secret) -> String {
        let mut version = 0;
        self.state.send_modify(|s| {
            s.version += 1;
            version = s.version;
            s.secrets.insert(name.to_owned(), (s.version, secret));
        });
        version.to_string()
    }

    /// Removes `name`; streams subscribed to it get a response without it.
    pub fn remove(&self, name: &str) {
        self.state.send_if_modified(|s| {
            let removed = s.secrets.remove(name).is_some();
            if removed {
                s.version += 1;
            }
            removed
        });
    }

    /// The current version (`"0"` before any secret was set).
    pub fn version(&self) -> String {
        self.state.borrow().version.to_string()
    }

    /// Every ACK received so far, oldest first.
    pub fn acks(&self) -> Vec<SdsAnswer> {
        self.answers(|a| a.error.is_none())
    }

    /// Every NACK received so far, oldest first.
    pub fn nacks(&self) -> Vec<SdsAnswer> {
        self.answers(|a| a.error.is_some())
    }

    /// Waits until at least `n` ACKs arrived; panics after 10 s.
    pub async fn wait_acks(&self, n: usize) -> Vec<SdsAnswer> {
        self.wait_answers(n, |a| a.error.is_none(), "ACKs").await
    }

    /// Waits until at least `n` NACKs arrived; panics after 10 s.
    pub async fn wait_nacks(&self, n: usize) -> Vec<SdsAnswer> {
        self.wait_answers(n, |a| a.error.is_some(), "NACKs").await
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<DiscoveryRequest> {
        self.state.borrow().requests.clone()
    }

    /// How many streams clients have opened so far.
    pub fn streams(&self) -> usize {
        self.state.borrow().streams
    }

    /// How many streams are open now.
    pub fn open_streams(&self) -> usize {
        self.state.borrow().open_streams
    }

    /// Waits until exactly `n` streams are open; panics after 10 s.
    pub async fn wait_open_streams(&self, n: usize) {
        let mut rx = self.state.subscribe();
        let waited = tokio::time::timeout(WAIT, rx.wait_for(|s| s.open_streams == n)).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "{} streams open, not {n}",
            self.open_streams()
        );
    }

    fn answers(&self, keep: impl Fn(&SdsAnswer) -> bool) -> Vec<SdsAnswer> {
        let s = self.state.borrow();
        s.answers.iter().filter(|a| keep(a)).cloned().collect()
    }

    async fn wait_answers(
        &self,
        n: usize,
        keep: impl Fn(&SdsAnswer) -> bool,
        what: &str,
    ) -> Vec<SdsAnswer> {
        let mut rx = self.state.subscribe();
        let waited = tokio::time::timeout(
            WAIT,
            rx.wait_for(|s| s.answers.iter().filter(|a| keep(a)).count() >= n),
        )
        .await;
        match waited {
            Ok(Ok(_)) => self.answers(keep),
            _ => panic!(
                "fewer than {n} {what} in {WAIT:?}; answers: {:?}",
                self.state.borrow().answers
            ),
        }
    }
}

impl std::fmt::Debug for FakeSds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSds")
            .field("addr", &self.addr)
            .field("running", &self.server.is_some())
            .finish()
    }
}

impl Drop for FakeSds {
    fn drop(&mut self) {
        self.stop();
    }
}
