//! The Nomad registry: services registered with Nomad's native service discovery
//! (`provider = "nomad"`), watched with blocking queries and published as a [`Registry`].
//!
//! # What is watched
//!
//! `GET /v1/services?namespace=<ns>` for each configured namespace (or once with `*` for all),
//! and, for every service listed, `GET /v1/service/<name>?namespace=<ns>` (every page, following
//! `X-Nomad-NextToken` when [`NomadConfig::per_page`] is set). A watch starts when a service
//! appears in the list and stops when it leaves it. Each watch is a blocking-query loop with
//! Nomad's rules: the `X-Nomad-Index` of an answer is sent back as `?index=` with `?wait=`; an
//! index that goes backwards (a restored snapshot, a rebuilt cluster) resets the loop with one
//! query that answers at once; the index sent is never below 1; and a token bucket
//! ([`RateLimit`](rigging_adapters_core::RateLimit)) paces the queries.
//!
//! Services registered with `provider = "consul"` (every Connect service) are not in this API;
//! use the Consul registry for them.
//!
//! # How registrations map to the model
//!
//! - Each registration is one [`Endpoint`](rigging_mesh_model::Endpoint): `Address:Port`, the
//!   registration `ID` as instance, its tags, and metadata `namespace`, `datacenter`, `job`,
//!   `alloc_id` and `node_id`. Its locality is the configured region (empty when unset) and the
//!   datacenter as zone.
//! - The API has no health checks and native services have no Connect: every endpoint is
//!   `passing` and `sidecar = false`. A registration whose address is not an IP (a host name
//!   set in the job's `service.address`) is skipped with a warning.
//! - Services are `tcp` with default policies; routes and `service-defaults` can say more.
//!
//! # Namespaces and service names
//!
//! Nomad namespaces separate teams and environments, so `api` in `prod` and `api` in `staging`
//! are different services, and merging their endpoints would send production traffic to staging.
//! So the services of the *primary namespace* — the first configured namespace that is not `*`,
//! or `default` — keep their Nomad names (`api`), and those of any other namespace are named
//! `<service>.<namespace>` (`api.staging`). Nomad service names cannot contain dots, so the two
//! forms never collide, and adding a namespace to the list never renames a service already seen.
//!
//! # Reaching Nomad
//!
//! [`NomadConfig`] holds what the `nomad` CLI reads from its environment
//! ([`NomadConfig::from_env`]): the address (`https://` for TLS, with `ca_file` as the only trusted
//! CA when set, and a client certificate and key for `verify_https_client`), the ACL token sent as
//! `X-Nomad-Token`, the namespaces, and `?region=`.
//!
//! # Outages
//!
//! When Nomad cannot be reached, answers 5xx, or refuses the token (403), the last snapshot stays
//! (an error never publishes an empty catalog), [`Registry::health`] turns stale with the
//! error as a sentence ("Nomad refused the token: 403 Permission denied"), and each watch retries
//! with [`Backoff`](rigging_adapters_core::Backoff) up to [`NomadConfig::retry_max`]; health is
//! current again once every watch answers.

mod api;
mod client;
mod config;
mod registry;
mod watches;

use std::path::PathBuf;

pub use api::{META_ALLOC, META_DATACENTER, META_JOB, META_NAMESPACE, META_NODE};
pub use config::{
    ALL_NAMESPACES, CONNECT_TIMEOUT, DEFAULT_ADDRESS, DEFAULT_NAMESPACE, DEFAULT_QUERY_BURST,
    DEFAULT_QUERY_RATE, DEFAULT_RETRY_MAX, DEFAULT_WAIT, MAX_WAIT, NomadConfig, REQUEST_SLACK,
    parse_address,
};
pub use registry::NomadRegistry;
pub use reqwest::Url;
#[doc(no_inline)]
pub use rigging_adapters_core::Registry;

/// Why a Nomad registry could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NomadError {
    #[error("invalid Nomad address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("cannot read the Nomad CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Nomad CA file {} is not PEM certificates: {source}", path.display())]
    CaCertificate {
        path: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Nomad CA file {} holds no certificate", path.display())]
    EmptyCaFile { path: PathBuf },
    #[error("cannot read the Nomad client certificate or key {}: {source}", path.display())]
    ClientIdentityFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Nomad client certificate {} and its key are not a PEM certificate and key: {source}", cert.display())]
    ClientIdentity {
        cert: PathBuf,
        #[source]
        source: reqwest::Error,
    },
    #[error("a Nomad client certificate needs its key, and a key its certificate")]
    ClientIdentityHalf,
    #[error("the blocking-query wait {0:?} is not between 1 ms and Nomad's limit of 10 minutes")]
    Wait(std::time::Duration),
    #[error("the Nomad token has characters that cannot go in an HTTP header")]
    Token,
    #[error("cannot build the HTTP client for Nomad: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the Nomad registry must be started inside a tokio runtime")]
    NoRuntime,
}
