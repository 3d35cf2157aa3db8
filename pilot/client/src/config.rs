//! The client's settings and their defaults.

use std::sync::Arc;
use std::time::Duration;

use http::Uri;
use rustls::pki_types::ServerName;

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
    /// Pilot's xDS address, e.g. `http://127.0.0.1:15010`. With [`tls`](Self::tls) only its
    /// host and port count: the connection is TLS whatever the scheme.
    pub pilot: Uri,
    /// `node.id`: the proxy id, the instance id in the registry.
    pub node_id: String,
    /// `node.cluster`: the service the proxy fronts.
    pub node_cluster: String,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// mTLS to Pilot; `None` is plaintext.
    pub tls: Option<PilotTls>,
}

/// How the client talks to Pilot over mTLS.
#[derive(Debug, Clone)]
pub struct PilotTls {
    /// Built with `rigging_mesh_spiffe::config::client_config`: the proxy's SVID as client
    /// certificate, and a verifier that expects Pilot's SPIFFE ID. Each (re)connection
    /// presents the certificate its resolver holds at that moment.
    pub config: Arc<rustls::ClientConfig>,
    /// The name sent as SNI. SVID verifiers ignore it (identities are SPIFFE IDs, not DNS
    /// names), so it only labels the connection on Pilot's side.
    pub server_name: ServerName<'static>,
}

impl PilotTls {
    /// mTLS with `config`, sending `server_name` as SNI.
    pub fn new(config: Arc<rustls::ClientConfig>, server_name: ServerName<'static>) -> Self {
        Self {
            config,
            server_name,
        }
    }
}

impl ClientConfig {
    /// A plaintext config with the default backoff.
    pub fn new(pilot: Uri, node_id: impl Into<String>, node_cluster: impl Into<String>) -> Self {
        Self {
            pilot,
            node_id: node_id.into(),
            node_cluster: node_cluster.into(),
            backoff_min: DEFAULT_BACKOFF_MIN,
            backoff_max: DEFAULT_BACKOFF_MAX,
            tls: None,
        }
    }

    /// The same config over mTLS.
    #[must_use]
    pub fn with_tls(mut self, tls: PilotTls) -> Self {
        self.tls = Some(tls);
        self
    }
}
