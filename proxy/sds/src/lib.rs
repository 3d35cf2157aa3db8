//! The proxy's SDS client: TLS server certificates fetched from external SDS servers (Envoy's
//! `SecretDiscoveryService`), as a gateway's `TLS { SDS { ClusterName, CertResource } }` names
//! them, and served to rustls as they change.
//!
//! [`Sds`] knows the SDS servers by cluster name ([`SdsClusters`], from `--sds-cluster
//! NAME=ADDR` flags) and runs one gRPC subscription per (cluster, resource) the first time a
//! [`certificate`](Sds::certificate) is asked for. The [`SdsCertificate`] it hands out is a
//! [`rustls::server::ResolvesServerCert`] over the latest valid secret: a bad update is NACKed
//! and the previous certificate stays, and a lost server leaves it in place while the stream
//! reconnects with backoff.

mod certificate;
mod cluster;
mod error;
mod sds;
mod secret;
mod subscription;

pub use certificate::{Installed, SdsCertificate};
pub use cluster::{SdsClusters, SdsEndpoint, parse_sds_cluster};
pub use error::SdsError;
pub use sds::Sds;
pub use secret::SECRET_TYPE_URL;
pub use subscription::{
    DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, HTTP2_KEEPALIVE_INTERVAL, HTTP2_KEEPALIVE_TIMEOUT,
    SDS_CONNECT_TIMEOUT,
};
