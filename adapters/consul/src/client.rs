//! Consul's HTTP API and its blocking-query loop, as Consul documents them.
//!
//! * The `X-Consul-Index` of each answer is sent back as `?index=`, with `?wait=`, so the
//!   next request waits until something changes.
//! * An index lower than the one held means Consul's state was restored or rebuilt: the
//!   loop resets to 0, which answers at once with the current state.
//! * After an answer the index held is at least 1: an index of 0 never blocks, so a
//!   Consul that reports 0 would turn the loop into a busy loop.
//! * The loop is paced by a token bucket ([`RateLimit`]), not a fixed sleep.
//! * Failures are recorded on the registry's [`Health`] and retried with [`Backoff`].

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rigging_adapters_core::{Backoff, Health, RateLimit};
use serde::de::DeserializeOwned;

use crate::{ConsulConfig, ConsulError};

/// Time added to each blocking request's timeout above `wait` and Consul's own jitter
/// (up to `wait/16`), so a slow but healthy answer is not cut off.
const REQUEST_TIMEOUT_MARGIN: Duration = Duration::from_secs(5);
/// How long a TCP (and TLS) connection to Consul may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of an error body goes into a failure sentence.
const ERROR_BODY_LIMIT: usize = 200;

/// Why one request failed; its display is the sentence recorded on [`Health`].
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum FetchError {
    #[error("cannot reach Consul at {url}: {cause}")]
    Unreachable { url: String, cause: String },
    #[error("Consul refused the token: {status} on {path}: {body}")]
    Forbidden {
        status: u16,
        path: String,
        body: String,
    },
    #[error("Consul answered {status} on {path}: {body}")]
    Status {
        status: u16,
        path: String,
        body: String,
    },
    #[error("Consul's answer on {path} is not the documented JSON: {cause}")]
    Decode { path: String, cause: String },
}

/// One successful answer: the body and its `X-Consul-Index`.
#[derive(Debug)]
pub(crate) struct Answer {
    pub index: u64,
    pub body: Vec<u8>,
}

/// An HTTP client for one Consul address, token and datacenter.
#[derive(Debug)]
pub(crate) struct Client {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<String>,
    datacenter: Option<String>,
    wait: Duration,
}

impl Client {
    pub(crate) fn new(config: &ConsulConfig) -> Result<Self, ConsulError> {
        let base = reqwest::Url::parse(&config.address).map_err(|e| ConsulError::Address {
            address: config.address.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ConsulError::Address {
                address: config.address.clone(),
                reason: "expected an http:// or https:// address".to_owned(),
            });
        }
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|e| ConsulError::CaFile {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ConsulError::CaFile {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(ConsulError::CaFile {
                    path: path.clone(),
                    reason: "no PEM certificate in the file".to_owned(),
                });
            }
            // as Consul's own clients: a CA file replaces the public roots
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ConsulError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base,
            token: config.token.clone(),
            datacenter: config.datacenter.clone(),
            wait: config.wait,
        })
    }

    /// `GET path`, blocking on `index` when it is above 0.
    pub(crate) async fn get(&self, path: &str, index: u64) -> Result<Answer, FetchError> {
        let mut url = self.base.clone();
        url.set_path(path);
        {
            let mut q = url.query_pairs_mut();
            if let Some(dc) = &self.datacenter {
                q.append_pair("dc", dc);
            }
            if index > 0 {
                q.append_pair("index", &index.to_string());
                q.append_pair("wait", &format!("{}ms", self.wait.as_millis()));
            }
        }
        let timeout = self.wait + self.wait / 16 + REQUEST_TIMEOUT_MARGIN;
        let mut req = self.http.get(url).timeout(timeout);
        if let Some(token) = &self.token {
            req = req.header("X-Consul-Token", token);
        }
        let unreachable = |e: reqwest::Error| FetchError::Unreachable {
            url: self.base.to_string(),
            cause: chain(&e),
        };
        let resp = req.send().await.map_err(unreachable)?;
        let status = resp.status();
        let index = resp
            .headers()
            .get("X-Consul-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        let body = resp.bytes().await.map_err(unreachable)?.to_vec();
        if status.is_success() {
            return Ok(Answer { index, body });
        }
        let text: String = String::from_utf8_lossy(&body)
            .trim()
            .chars()
            .take(ERROR_BODY_LIMIT)
            .collect();
        let (code, path) = (status.as_u16(), path.to_owned());
        Err(if code == 403 {
            FetchError::Forbidden {
                status: code,
                path,
                body: text,
            }
        } else {
            FetchError::Status {
                status: code,
                path,
                body: text,
            }
        })
    }
}

/// An error and its causes, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The registry's [`Health`], fed by many loops: current only when none of them is failing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Tracker {
    health: Health,
    failing: Arc<Mutex<BTreeSet<String>>>,
}

impl Tracker {
    pub(crate) fn health(&self) -> &Health {
        &self.health
    }

    fn ok(&self, path: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing.remove(path);
        if failing.is_empty() {
            self.health.success();
        }
    }

    fn fail(&self, path: &str, error: &FetchError) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        failing.insert(path.to_owned());
        self.health.failure(error.to_string());
    }

    /// A loop that stopped (its service left the catalog) no longer counts.
    pub(crate) fn forget(&self, path: &str) {
        let mut failing = self.failing.lock().unwrap_or_else(PoisonError::into_inner);
        if failing.remove(path) && failing.is_empty() {
            self.health.success();
        }
    }
}

/// One blocking query kept going: its path, index, pacing and backoff.
#[derive(Debug)]
pub(crate) struct Poll {
    client: Arc<Client>,
    path: String,
    /// The index to send: 0 for an immediate answer.
    index: u64,
    /// The index Consul last returned, to see it going backwards.
    returned: u64,
    limit: RateLimit,
    backoff: Backoff,
    retry_in: Option<Duration>,
    tracker: Tracker,
}

impl Poll {
    pub(crate) fn new(
        client: Arc<Client>,
        path: String,
        config: &ConsulConfig,
        tracker: Tracker,
    ) -> Self {
        Self {
            client,
            path,
            index: 0,
            returned: 0,
            limit: RateLimit::new(config.rate_per_second, config.rate_burst),
            backoff: Backoff::new(config.backoff_base, config.backoff_max),
            retry_in: None,
            tracker,
        }
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The next answer, blocking until Consul's index moves (or `wait` passes). `Err` after a
    /// failure, which is logged and recorded; the next call first waits out the backoff.
    pub(crate) async fn next_raw(&mut self) -> Result<Vec<u8>, FetchError> {
        if let Some(delay) = self.retry_in.take() {
            tokio::time::sleep(delay).await;
        }
        self.limit.acquire().await;
        match self.client.get(&self.path, self.index).await {
            Ok(answer) => {
                self.index = next_index(self.returned, answer.index);
                self.returned = answer.index;
                self.backoff.reset();
                self.tracker.ok(&self.path);
                Ok(answer.body)
            }
            Err(e) => {
                let delay = self.backoff.next_delay();
                match &e {
                    FetchError::Forbidden { .. } => {
                        tracing::error!(path = %self.path, retry_in = ?delay, "{e}")
                    }
                    _ => tracing::warn!(path = %self.path, retry_in = ?delay, "{e}"),
                }
                self.tracker.fail(&self.path, &e);
                self.retry_in = Some(delay);
                Err(e)
            }
        }
    }

    /// [`Poll::next_raw`], decoded as `T`; a body that does not decode counts as a failure.
    pub(crate) async fn next<T: DeserializeOwned>(&mut self) -> Result<T, FetchError> {
        let body = self.next_raw().await?;
        serde_json::from_slice(&body).map_err(|e| {
            let e = FetchError::Decode {
                path: self.path.clone(),
                cause: e.to_string(),
            };
            tracing::warn!("{e}");
            self.tracker.fail(&self.path, &e);
            self.retry_in = Some(self.backoff.next_delay());
            e
        })
    }
}

/// The index to send next, from the one Consul returned before and the one it just returned.
pub(crate) fn next_index(previous: u64, returned: u64) -> u64 {
    if returned < previous {
        tracing::info!(
            previous,
            returned,
            "consul index went backwards, reading everything again"
        );
        0
    } else {
        returned.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::next_index;

    #[test]
    fn index_rules() {
        assert_eq!(next_index(0, 0), 1, "never below 1");
        assert_eq!(next_index(0, 42), 42);
        assert_eq!(next_index(42, 42), 42);
        assert_eq!(next_index(42, 50), 50);
        assert_eq!(next_index(42, 7), 0, "backwards resets");
        assert_eq!(next_index(5, 0), 0, "backwards resets");
        assert_eq!(next_index(0, 0), 1, "a Consul stuck at 0 still blocks");
    }
}
