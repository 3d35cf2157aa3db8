//! Starting and stopping the proxy.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rigging_pilot_client::{ConfigSink, PilotTls};
use rigging_proxy_config::ProxyConfig;
use rigging_proxy_sds::Sds;
use rigging_proxy_tls::MeshTls;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin;
use crate::apply::Shared;
use crate::error::{ApplyError, ProxyError};
use crate::listeners::HttpServer;
use crate::xds::ProxySink;

/// The admin listener's default address: loopback only, as Envoy's admin, since it exposes the
/// whole configuration.
pub const DEFAULT_ADMIN_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 19000);
/// How long a shutdown waits for open connections to finish: a little longer than a typical
/// request, well under Nomad's and Kubernetes' default kill timeouts (5 s and 30 s).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// HTTP/2 flow-control windows towards clients, larger than the 64 KiB default so one stream
/// can fill a fast local link.
const H2_STREAM_WINDOW: u32 = 1024 * 1024;
const H2_CONNECTION_WINDOW: u32 = 4 * 1024 * 1024;

/// How to run a proxy.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    /// The proxy id Pilot knows this workload by (`node.id`).
    pub node_id: String,
    /// The service this proxy fronts (`node.cluster`).
    pub node_cluster: String,
    /// Pilot's xDS address, e.g. `http://127.0.0.1:15010`; empty runs without Pilot (the
    /// configuration then comes from [`ProxyHandle::apply_config`]).
    pub pilot: String,
    pub admin_addr: SocketAddr,
    pub drain_timeout: Duration,
    /// Mesh mTLS over the workload certificate; `None` runs plaintext only, and a
    /// configuration asking for mTLS is then rejected.
    pub tls: Option<Arc<MeshTls>>,
    /// mTLS to Pilot: the client config (workload certificate, Pilot's expected SPIFFE ID)
    /// and the server name; `None` connects in plaintext.
    pub pilot_tls: Option<PilotTls>,
    /// The SDS servers an ingress gateway's TLS listeners may take certificates from; `None`
    /// knows none, and a listener asking for one is rejected.
    pub sds: Option<Sds>,
}

/// The proxy runtime.
#[derive(Debug)]
pub struct Proxy;

/// A running proxy. Dropping it without [`shutdown`](Self::shutdown) also stops it: the admin
/// task ends, and with it the listeners.
#[derive(Debug)]
pub struct ProxyHandle {
    shared: Arc<Shared>,
    admin_addr: SocketAddr,
    drain_timeout: Duration,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl ProxyOptions {
    pub fn new(node_id: impl Into<String>, pilot: impl Into<String>) -> Self {
        Self {
            node_id: node_id.into(),
            pilot: pilot.into(),
            ..Self::default()
        }
    }
}

impl Default for ProxyOptions {
    /// No node id, no Pilot, the default admin address and drain timeout.
    fn default() -> Self {
        Self {
            node_id: String::new(),
            node_cluster: String::new(),
            pilot: String::new(),
            admin_addr: DEFAULT_ADMIN_ADDR,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            tls: None,
            pilot_tls: None,
            sds: None,
        }
    }
}

impl Proxy {
    /// Binds the admin listener, connects to Pilot (when configured) and returns at once; the
    /// traffic listeners start as configuration arrives.
    pub async fn start(opts: ProxyOptions) -> Result<ProxyHandle, ProxyError> {
        let admin =
            TcpListener::bind(opts.admin_addr)
                .await
                .map_err(|source| ProxyError::AdminBind {
                    addr: opts.admin_addr,
                    source,
                })?;
        let admin_addr = admin.local_addr().unwrap_or(opts.admin_addr);
        let shared = Arc::new(Shared::new(
            http_server(),
            tokio::runtime::Handle::current(),
            opts.tls.clone(),
            opts.sds.clone(),
        ));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(admin::serve(
            admin,
            Arc::clone(&shared),
            shutdown_rx.clone(),
        ))];
        if !opts.pilot.is_empty() {
            tasks.push(crate::xds::start(&opts, Arc::clone(&shared), shutdown_rx)?);
        }
        tracing::info!(node_id = %opts.node_id, admin = %admin_addr, pilot = %opts.pilot, "proxy started");
        Ok(ProxyHandle {
            shared,
            admin_addr,
            drain_timeout: opts.drain_timeout,
            shutdown,
            tasks,
        })
    }
}

impl ProxyHandle {
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// The address a listener is bound to (useful when its configured port is 0).
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.shared.listener_addr(name)
    }

    /// Applies a whole configuration, as if Pilot had sent it; on error nothing changes.
    pub fn apply_config(&self, config: ProxyConfig) -> Result<(), ApplyError> {
        self.shared.apply(config)
    }

    /// The sink the xDS client feeds, for driving the proxy with xDS resources in-process.
    pub fn config_sink(&self) -> Arc<dyn ConfigSink> {
        Arc::new(ProxySink(Arc::clone(&self.shared)))
    }

    /// Whether `/ready` answers 200.
    pub fn is_ready(&self) -> bool {
        self.shared.ready()
    }

    /// Stops accepting, lets open connections finish (up to the drain timeout), stops the
    /// admin listener and the xDS client.
    pub async fn shutdown(self) {
        self.shared.shut_down();
        if tokio::time::timeout(self.drain_timeout, self.shared.tracker.idle())
            .await
            .is_err()
        {
            tracing::warn!(
                open = self.shared.tracker.active(),
                "drain timeout: leaving open connections to the runtime"
            );
        }
        self.shutdown.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
        tracing::info!("proxy stopped");
    }
}

/// The HTTP/2 server's settings, for the connections that open with the HTTP/2 preface. As
/// HTTP/1.1's server, it has no request-head timer (as Envoy's `request_headers_timeout`, off by
/// default): idle connections are the application's to close.
fn http_server() -> HttpServer {
    HttpServer {
        initial_stream_window: H2_STREAM_WINDOW,
        initial_connection_window: H2_CONNECTION_WINDOW,
        ..HttpServer::default()
    }
}
