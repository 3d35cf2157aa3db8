//! The client's settings and their defaults.

use std::time::Duration;

use http::Uri;

/// First reconnect delay: a Pilot restarted on loopback (`rig up`) is back within a fraction of
/// a second, and one refused connection attempt costs next to nothing.
pub const DEFAULT_BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay. The proxy keeps serving its last configuration while disconnected,
/// so waiting only delays new config; 5 s bounds that delay after Pilot returns, and full jitter
/// spreads a fleet's reconnects over the window (1,000 proxies arrive at about 200 per second).
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Time allowed to open the TCP connection to Pilot before counting the attempt as failed.
pub const PILOT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 PING interval on the stream, so a Pilot that vanished without a FIN (host down, network
/// partition) is noticed within a minute instead of at the next TCP timeout.
pub const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// Time to wait for a PING's answer before the connection is considered dead.
pub const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where Pilot is and who this proxy is.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Pilot's xDS address, e.g. `http://127.0.0.1:15010` (plaintext for now).
    pub pilot: Uri,
    /// `node.id`: the proxy id, the instance id in the registry.
    pub node_id: String,
    /// `node.cluster`: the service the proxy fronts.
    pub node_cluster: String,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
}

impl ClientConfig {
    /// A config with the default backoff.
    pub fn new(pilot: Uri, node_id: impl Into<String>, node_cluster: impl Into<String>) -> Self {
        Self {
            pilot,
            node_id: node_id.into(),
            node_cluster: node_cluster.into(),
            backoff_min: DEFAULT_BACKOFF_MIN,
            backoff_max: DEFAULT_BACKOFF_MAX,
        }
    }
}
