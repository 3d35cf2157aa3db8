//! Pilot's server: registries in, per-proxy xDS out over the aggregated discovery stream, with sync status.
//!
//! The catalog arrives as `watch` state; bursts of changes are debounced into numbered
//! snapshots; each connected proxy's stream compiles its own resources from the newest
//! snapshot and sends only the types whose version changed. With TLS, the xDS port takes only
//! mTLS clients, and each stream only gets the configuration of its certificate's service.

mod ads;
mod cache;
mod debounce;
mod debug;
mod gateway;
mod identity;
mod metrics;
mod status;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_model::Catalog;
use rigging_pilot_compiler::CompileOptions;
pub use rigging_pilot_compiler::{Entries, IngressNode, MeshSecurity, NodeId, TerminatingNode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use debounce::Snapshot;
pub use status::{ProxyStatus, StatusRegistry, SyncState, TypeStatus};

/// How long shutdown waits for streams to end before cutting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// Pilot's xDS port, as Istio's.
pub const DEFAULT_XDS_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 15010);
/// Control-plane metrics and debug (HTTP), as Istio's.
pub const DEFAULT_DEBUG_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 15014);
/// Quiet time after a registry change before a push: long enough to fold a burst of changes
/// (a deploy replacing instances one by one) into one push. Half Istio's 100 ms, because
/// registries debounce their own sources already (the file registry waits 50 ms), and the two
/// waits add up on the path from an edit to 1,000 proxies (bench: `control-plane`).
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(50);
/// Longest a push waits while changes keep coming.
pub const DEFAULT_DEBOUNCE_MAX: Duration = Duration::from_secs(1);

/// Where and how Pilot serves.
#[derive(Debug, Clone)]
pub struct PilotOptions {
    /// The xDS (gRPC) listener.
    pub xds_addr: SocketAddr,
    /// The debug and metrics (HTTP) listener.
    pub debug_addr: SocketAddr,
    /// Quiet time after a catalog change before a push.
    pub debounce: Duration,
    /// Longest a push waits while changes keep coming.
    pub debounce_max: Duration,
    /// The mesh's identity layout: `Some` compiles mTLS between proxies (see `pilot/XDS.md`),
    /// `None` a plaintext mesh.
    pub security: Option<MeshSecurity>,
    /// Serves xDS over TLS with this config instead of plaintext; build it with
    /// `rigging_mesh_spiffe::config::server_config` (client certificates mandatory). Each
    /// stream then only gets the configuration of its certificate's service, which needs
    /// `security` for the trust domain.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for PilotOptions {
    fn default() -> Self {
        Self {
            xds_addr: DEFAULT_XDS_ADDR,
            debug_addr: DEFAULT_DEBUG_ADDR,
            debounce: DEFAULT_DEBOUNCE,
            debounce_max: DEFAULT_DEBOUNCE_MAX,
            security: None,
            tls: None,
        }
    }
}

/// Pilot failed to start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PilotError {
    #[error("cannot listen for xDS on {addr}: {source}")]
    BindXds {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen for debug HTTP on {addr}: {source}")]
    BindDebug {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "xDS over tls needs the mesh security settings: the trust domain decides which proxy a certificate may configure"
    )]
    TlsWithoutSecurity,
}

/// Extra facts for the debug endpoints (registry health), supplied by whoever runs Pilot.
pub type RegistryReport = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// A running Pilot.
#[derive(Debug)]
pub struct PilotHandle {
    xds_addr: SocketAddr,
    debug_addr: SocketAddr,
    status: Arc<StatusRegistry>,
    snapshots: watch::Receiver<Arc<Snapshot>>,
    stop: watch::Sender<bool>,
    debounce: JoinHandle<()>,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts Pilot without config entries: see [`start_with_entries`].
pub async fn start(
    opts: PilotOptions,
    catalog: watch::Receiver<Arc<Catalog>>,
    registries: Option<RegistryReport>,
) -> Result<PilotHandle, PilotError> {
    start_with_entries(opts, catalog, None, registries).await
}

/// Starts Pilot: binds both ports, then serves until [`PilotHandle::shutdown`]. Proxies get
/// the catalog's services with the traffic rules of `entries` (config entries, see
/// `pilot/XDS.md`); a change of either is debounced into one push.
pub async fn start_with_entries(
    opts: PilotOptions,
    catalog: watch::Receiver<Arc<Catalog>>,
    entries: Option<watch::Receiver<Arc<Entries>>>,
    registries: Option<RegistryReport>,
) -> Result<PilotHandle, PilotError> {
    let trust_domain = match (&opts.tls, &opts.security) {
        (Some(_), None) => return Err(PilotError::TlsWithoutSecurity),
        (Some(_), Some(sec)) => Some(sec.trust_domain().clone()),
        (None, _) => None,
    };
    let xds = TcpListener::bind(opts.xds_addr)
        .await
        .map_err(|source| PilotError::BindXds {
            addr: opts.xds_addr,
            source,
        })?;
    let debug =
        TcpListener::bind(opts.debug_addr)
            .await
            .map_err(|source| PilotError::BindDebug {
                addr: opts.debug_addr,
                source,
            })?;
    let xds_addr = xds.local_addr().map_err(|source| PilotError::BindXds {
        addr: opts.xds_addr,
        source,
    })?;
    let debug_addr = debug.local_addr().map_err(|source| PilotError::BindDebug {
        addr: opts.debug_addr,
        source,
    })?;

    let compile_opts = Arc::new(CompileOptions {
        security: opts.security.clone(),
    });
    let inputs = debounce::combine(catalog, entries);
    let (snapshots, debounce_task) =
        debounce::spawn(inputs, opts.debounce, opts.debounce_max, compile_opts);
    let status = Arc::new(StatusRegistry::default());
    let metrics = Arc::new(metrics::Metrics::default());
    let mut registry = prometheus_client::registry::Registry::default();
    metrics.register(&mut registry);
    let (stop, stop_rx) = watch::channel(false);

    let ads = ads::Ads {
        snapshots: snapshots.clone(),
        status: status.clone(),
        metrics: metrics.clone(),
        stop: stop_rx.clone(),
        trust_domain,
    };
    let xds_task = tokio::spawn(ads::serve(xds, ads, opts.tls.clone()));
    let debug_task = tokio::spawn(debug::serve(
        debug,
        debug::DebugState {
            status: status.clone(),
            snapshots: snapshots.clone(),
            registries,
            metrics,
            registry,
        },
        stop_rx,
    ));
    tracing::info!(%xds_addr, %debug_addr, tls = opts.tls.is_some(), mtls_mesh = opts.security.is_some(), "pilot serving");
    Ok(PilotHandle {
        xds_addr,
        debug_addr,
        status,
        snapshots,
        stop,
        debounce: debounce_task,
        tasks: vec![xds_task, debug_task],
    })
}

impl PilotHandle {
    pub fn xds_addr(&self) -> SocketAddr {
        self.xds_addr
    }

    pub fn debug_addr(&self) -> SocketAddr {
        self.debug_addr
    }

    /// Per proxy: what was sent, ACKed and NACKed.
    pub fn status(&self) -> Vec<ProxyStatus> {
        self.status.list()
    }

    /// The newest debounced snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// Stops serving: open streams end, so proxies fall back on their last good config.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        self.debounce.abort();
        for mut t in self.tasks.drain(..) {
            // A stream stuck writing to a proxy that reads nothing must not hold Pilot up.
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut t).await.is_err() {
                t.abort();
            }
        }
    }
}
