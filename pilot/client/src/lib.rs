//! The proxy's xDS client: one aggregated stream to Pilot, ACK and NACK, reconnect with backoff.
//!
//! [`XdsClient`] owns the stream and its reconnects; what the configuration means is the
//! [`ConfigSink`]'s business, so the client is generic over the data plane it feeds. The
//! stream runs over mTLS with the proxy's SVID when [`ClientConfig::tls`] is set.

mod backoff;
mod client;
mod config;
mod status;

pub use backoff::Backoff;
pub use client::{ConfigSink, XdsClient};
pub use config::{
    ClientConfig, DEFAULT_BACKOFF_MAX, DEFAULT_BACKOFF_MIN, HTTP2_KEEPALIVE_INTERVAL,
    HTTP2_KEEPALIVE_TIMEOUT, PILOT_CONNECT_TIMEOUT, PilotTls,
};
pub use rigging_mesh_xds::ResourceType;
pub use status::{ClientStatus, TypeStatus};

#[cfg(test)]
mod tests;
