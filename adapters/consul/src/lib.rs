//! The Consul registry: the catalog, health and config entries of one Consul datacenter,
//! watched with blocking queries and published as Rigging's service model.
//!
//! [`ConsulRegistry`] implements [`rigging_adapters_core::Registry`]: it watches
//! `/v1/catalog/services` and, for each service listed, `/v1/health/service/:name` and
//! `/v1/health/connect/:name`, one task per service, started and stopped as services come and
//! go. [`ConsulEntries`] implements [`rigging_adapters_config_entries::EntrySource`] from
//! `/v1/config/:kind`, for every kind [`rigging_mesh_config_entries::Kind`] knows.
//!
//! # From Consul's answers to the model
//!
//! * An instance (`Kind = ""`) is an endpoint at `Service.Address` (the node's address when
//!   empty) and `Service.Port`, with `Service.Tags`, `Service.Meta`, and its datacenter under
//!   the metadata key [`META_DATACENTER`] (also the locality's region, unless the service
//!   sets Consul 1.17's `Locality`).
//! * Health is the worst of its checks, the node's `serfHealth` included; maintenance mode
//!   is `maintenance`.
//! * A `connect-proxy` registration is an endpoint of `Proxy.DestinationServiceName` at the
//!   sidecar's address and port with `sidecar = true`, plus a model `Proxy` (id: the sidecar's
//!   service ID; upstreams, inbound, local app). As in the file registry, an instance behind a
//!   sidecar is published once, as the sidecar endpoint (keeping the instance's ID, tags and
//!   meta), so it does not get traffic twice. A Connect-native instance is `sidecar = true`.
//! * Sidecars and gateways are not services of their own. Entries that cannot be used (a
//!   hostname address, port 0, a proxy ID the model refuses) are skipped with a warning.
//! * Protocols and other service settings keep the model's defaults, as in the file
//!   registry: config entries set them.
//!
//! # Several datacenters
//!
//! One [`ConsulRegistry`] (and one [`ConsulEntries`]) watches one datacenter
//! ([`ConsulConfig::datacenter`], sent as `?dc=`; the agent's own when unset). For several,
//! start one per datacenter, each with its own name; Pilot's merge unions their services.
//! Config entries are global across federated datacenters, so one [`ConsulEntries`] (on the
//! primary datacenter) is enough.
//!
//! # Blocking queries
//!
//! As Consul documents them: the `X-Consul-Index` of each answer goes back as `?index=` with
//! `?wait=` ([`ConsulConfig::wait`], default 5 minutes; each request may take `wait`, Consul's
//! `wait/16` jitter and a 5 s margin); an index that goes backwards resets the loop to 0; the
//! index sent is never below 1 once Consul answered; each loop is paced by a token bucket
//! ([`ConsulConfig::rate_per_second`], [`ConsulConfig::rate_burst`]) rather than a sleep. An
//! answer is compared with the last one before anything is published.
//!
//! # Outages
//!
//! When Consul cannot be reached, answers 5xx, or refuses the token (403), the last snapshot
//! is kept (an error never empties the catalog), [`Registry::health`] turns stale with the
//! failure as a sentence, and the query is retried with backoff until Consul answers again.
//!
//! [`Registry::health`]: rigging_adapters_core::Registry::health

mod api;
mod client;
mod entries;
mod mapping;
mod registry;

use std::path::PathBuf;
use std::time::Duration;

pub use entries::ConsulEntries;
pub use mapping::META_DATACENTER;
pub use registry::ConsulRegistry;

/// Consul's default HTTP address.
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:8500";
/// How long a blocking query waits for a change: Consul's own default (it caps `wait` at 10m).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
/// The blocking-query loop's token bucket: a burst of 2 answers at once, then about one
/// request every 15 s while the index keeps moving, as Consul's blocking-query docs advise.
pub const DEFAULT_RATE_PER_SECOND: f64 = 1.0 / 15.0;
/// The token bucket's burst (see [`DEFAULT_RATE_PER_SECOND`]).
pub const DEFAULT_RATE_BURST: u32 = 2;
/// First retry delay after a failure.
pub const DEFAULT_BACKOFF_BASE: Duration = Duration::from_millis(250);
/// Longest retry delay while Consul stays unreachable.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);

/// How to reach one Consul datacenter.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsulConfig {
    /// The registry's name, recorded on merged endpoints.
    pub name: String,
    /// Consul's HTTP API, `http://host:port` or `https://host:port`.
    pub address: String,
    /// The ACL token, sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// A PEM file of the CA(s) that signed Consul's HTTPS certificate; it replaces the
    /// public roots.
    pub ca_file: Option<PathBuf>,
    /// The datacenter to read (`?dc=`); the agent's own when `None`.
    pub datacenter: Option<String>,
    /// How long each blocking query may wait for a change ([`DEFAULT_WAIT`]).
    pub wait: Duration,
    /// Token bucket refill, requests per second per watched query ([`DEFAULT_RATE_PER_SECOND`]).
    pub rate_per_second: f64,
    /// Token bucket size ([`DEFAULT_RATE_BURST`]).
    pub rate_burst: u32,
    /// Retry backoff after a failure ([`DEFAULT_BACKOFF_BASE`] doubling up to [`DEFAULT_BACKOFF_MAX`]).
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

impl ConsulConfig {
    /// Registry `name` at `address`, with every other setting at its default.
    pub fn new(name: impl Into<String>, address: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            address: address.into(),
            token: None,
            ca_file: None,
            datacenter: None,
            wait: DEFAULT_WAIT,
            rate_per_second: DEFAULT_RATE_PER_SECOND,
            rate_burst: DEFAULT_RATE_BURST,
            backoff_base: DEFAULT_BACKOFF_BASE,
            backoff_max: DEFAULT_BACKOFF_MAX,
        }
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    pub fn with_datacenter(mut self, dc: impl Into<String>) -> Self {
        self.datacenter = Some(dc.into());
        self
    }

    pub fn with_wait(mut self, wait: Duration) -> Self {
        self.wait = wait;
        self
    }

    pub fn with_rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate_per_second = per_second;
        self.rate_burst = burst;
        self
    }

    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_max = max;
        self
    }
}

/// Why a Consul registry or entry source could not start. Failures to reach Consul are not
/// start errors: they are retried and reported through [`Registry::health`].
///
/// [`Registry::health`]: rigging_adapters_core::Registry::health
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsulError {
    #[error("invalid consul address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("consul ca file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("invalid consul wait {0:?}: expected more than 0 and at most 10 minutes")]
    Wait(Duration),
    #[error("cannot build the consul http client: {0}")]
    Client(String),
    #[error("consul registry must be started inside a tokio runtime")]
    NoRuntime,
}

/// Checks what [`client::Client::new`] does not: the wait bound and the runtime.
fn check(config: &ConsulConfig) -> Result<(), ConsulError> {
    if config.wait.is_zero() || config.wait > Duration::from_secs(600) {
        return Err(ConsulError::Wait(config.wait));
    }
    tokio::runtime::Handle::try_current().map_err(|_| ConsulError::NoRuntime)?;
    Ok(())
}
