//! The workload side of Citadel: an in-process key, certificates fetched and renewed from Citadel, served to rustls without restarts.
//!
//! [`CertStore`] is what rustls configs read (it resolves client and server certificates and
//! holds the trust bundle); [`Renewer`] keeps it filled through a [`Signer`] —
//! [`GrpcSigner`] in production — and reports on a `watch` channel of [`CertStatus`];
//! [`BundleWatcher`] keeps its trust bundle current between renewals through a
//! [`BundleSource`], so a root rotation's new root reaches the workload early.

mod bundle;
mod grpc;
mod key;
mod renew;
mod schedule;
mod signer;
mod store;

pub use bundle::{
    BundleFuture, BundleSource, BundleWatcher, DEFAULT_BUNDLE_REFRESH, RefreshError, Refreshed,
};
pub use grpc::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, GrpcSigner, GrpcSignerError};
pub use key::{KeyError, WorkloadKey};
pub use renew::{CertStatus, Clock, RenewError, Renewer, SystemClock};
pub use schedule::{
    BACKOFF_FACTOR, INITIAL_BACKOFF, MAX_BACKOFF, MIN_RENEW_DELAY, RENEW_AT_FRACTION, RENEW_JITTER,
    backoff, renew_delay, retry_delay,
};
pub use signer::{
    Credential, CredentialFile, CredentialSource, SignError, SignFuture, SignRequest, Signed,
    Signer,
};
pub use store::{CertStore, IssueError, Issued};
