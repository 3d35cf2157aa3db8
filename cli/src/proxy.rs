//! `rig proxy`: the sidecar of one workload.

use std::net::SocketAddr;
use std::process::ExitCode;

use rigging_proxy_app::{Proxy, ProxyOptions};

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
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let mut opts = ProxyOptions::new(args.id, args.pilot);
    opts.admin_addr = args.admin;
    let proxy = Proxy::start(opts).await?;
    tracing::info!(admin = %proxy.admin_addr(), "proxy started; Ctrl-C stops it");
    crate::control::shutdown_signal().await;
    tracing::info!("draining");
    proxy.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
