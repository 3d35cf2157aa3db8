//! `rig proxy`: the sidecar of one workload.

use std::net::SocketAddr;
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use rigging_mesh_spiffe::{ExpectedPeer, SvidServerVerifier};
use rigging_proxy_app::{MeshTls, PilotTls, Proxy, ProxyOptions};
use rustls_pki_types::ServerName;

use crate::identity::{IdentityArgs, pilot_id};

/// Pilot's xDS address on the embedded defaults.
const DEFAULT_PILOT: &str = "http://127.0.0.1:15010";

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// This proxy's id towards Pilot (xDS node.id): the instance id in the registry.
    #[arg(long, env = "RIG_PROXY_ID")]
    id: String,
    /// Pilot's xDS address.
    #[arg(long, env = "RIG_PILOT", default_value = DEFAULT_PILOT)]
    pilot: String,
    /// Admin listener: /ready, /metrics, /config_dump.
    #[arg(long, env = "RIG_ADMIN_ADDR", default_value_t = rigging_proxy_app::DEFAULT_ADMIN_ADDR)]
    admin: SocketAddr,
    /// Threads carrying traffic (default: one per CPU this process may run on, so
    /// `taskset -c 1 rig proxy …` runs one).
    #[arg(long, env = "RIG_PROXY_WORKERS")]
    pub workers: Option<std::num::NonZeroUsize>,
    #[command(flatten)]
    identity: IdentityArgs,
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let mut opts = ProxyOptions::new(args.id, args.pilot);
    opts.admin_addr = args.admin;
    // The certificate comes first: without it the proxy can neither reach a Pilot that
    // requires mTLS nor serve its mTLS listeners.
    if let Some(identity) = crate::identity::start(&args.identity).await? {
        tracing::info!(id = %identity.id, "workload identity ready");
        opts.pilot_tls = Some(pilot_tls(&identity)?);
        opts.tls = Some(Arc::new(MeshTls::new(
            identity.store.clone(),
            identity.id.trust_domain(),
        )));
    } else {
        tracing::warn!("no workload credential configured: running without mTLS");
    }
    let proxy = Proxy::start(opts).await?;
    tracing::info!(admin = %proxy.admin_addr(), "proxy started; Ctrl-C stops it");
    crate::control::shutdown_signal().await;
    tracing::info!("draining");
    proxy.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// mTLS to Pilot with the workload certificate, Pilot's certificate checked against its SPIFFE
/// ID in our trust domain and datacenter.
fn pilot_tls(identity: &crate::identity::Identity) -> anyhow::Result<PilotTls> {
    let verifier = Arc::new(SvidServerVerifier::new(
        identity.store.bundle().clone(),
        ExpectedPeer::Id(pilot_id(&identity.id)?),
    ));
    let mut config = rigging_mesh_spiffe::config::client_config(verifier, identity.store.clone())
        .context("tls to pilot")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from(crate::identity::PILOT_SERVICE).context("pilot's name")?;
    Ok(PilotTls::new(Arc::new(config), name))
}
