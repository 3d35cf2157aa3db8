//! The workload side of Citadel: an in-process key, certificates fetched and renewed from Citadel, served to rustls without restarts.
//!
//! [`CertStore`] is what rustls configs read (it resolves client and server certificates and
//! holds the trust bundle); [`Renewer`] keeps it filled through a [`Signer`] —
//! [`GrpcSigner`] in production — and reports on a `watch` channel of [`CertStatus`].

mod grpc;
mod key;
mod renew;
mod signer;
mod store;

pub use grpc::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, GrpcSigner, GrpcSignerError};
pub use key::{KeyError, WorkloadKey};
pub use renew::{
    BACKOFF_FACTOR, CertStatus, Clock, INITIAL_BACKOFF, MAX_BACKOFF, RENEW_AT_FRACTION,
    RENEW_JITTER, RenewError, Renewer, SystemClock, backoff, renew_delay,
};
pub use signer::{Credential, SignError, SignFuture, SignRequest, Signed, Signer};
pub use store::{CertStore, IssueError, Issued};
