//! `rig up` and `rig pilot`: registries, merged, feeding Pilot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use rigging_adapters_config_entries::{EntriesSnapshot, MergedEntries};
use rigging_adapters_core::MergedCatalog;
use rigging_citadel_server::DnsNames;
use rigging_mesh_model::Catalog;
use rigging_pilot_server::{
    DEFAULT_DEBUG_ADDR, DEFAULT_XDS_ADDR, Entries, PilotOptions, RegistryReport,
};
use tokio::sync::watch;

use crate::embedded::{self, EmbeddedCitadelArgs};
use crate::gateway_names::IngressHosts;
use crate::identity::IdentityArgs;
use crate::registries::{EntriesStarted, RegistryArgs, Started};

#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    #[command(flatten)]
    registries: RegistryArgs,
    /// Route definitions: a file or folder of Consul config entries (HCL or JSON:
    /// service-router, service-splitter, service-resolver, service-defaults, …), watched. An
    /// invalid edit is logged with its location and the last good set stays in force.
    #[arg(long = "config-entries", env = "RIG_CONFIG_ENTRIES")]
    config_entries: Option<PathBuf>,
    /// Pilot's xDS (gRPC) address.
    #[arg(long, default_value_t = DEFAULT_XDS_ADDR)]
    xds_addr: SocketAddr,
    /// Metrics and debug (HTTP) address, read by `rig status`.
    #[arg(long, default_value_t = DEFAULT_DEBUG_ADDR)]
    debug_addr: SocketAddr,
}

/// `rig up`: Pilot and Citadel in one process.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    control: ControlArgs,
    #[command(flatten)]
    citadel: EmbeddedCitadelArgs,
}

/// `rig pilot`: Pilot alone; with a workload credential it gets its certificate from a Citadel
/// elsewhere (issued to the service `rigging-pilot`) and serves xDS over mTLS.
#[derive(Debug, clap::Args)]
pub struct PilotArgs {
    #[command(flatten)]
    control: ControlArgs,
    #[command(flatten)]
    identity: IdentityArgs,
}

pub async fn up(args: UpArgs) -> anyhow::Result<ExitCode> {
    let entries = EntrySources::start(&args.control)?;
    let secured = if args.citadel.plaintext {
        tracing::warn!("--plaintext: no citadel, no mTLS between proxies or to pilot");
        None
    } else {
        // Citadel names an ingress gateway's TLS hosts in its certificate, from the entries
        // Pilot compiles.
        let names = entries.merged.clone().map(|rx| {
            Arc::new(IngressHosts::new(rx, args.citadel.datacenter.clone())) as Arc<dyn DnsNames>
        });
        Some(embedded::start(&args.citadel, names, shutdown_signal()).await?)
    };
    if let Some(s) = &secured {
        tracing::info!(
            pilot = %s.pilot_id,
            bundle = %s.bundle_file.display(),
            "mTLS on: proxies need a credential, e.g. `rig citadel token create --state {} --service <name>`",
            args.citadel.citadel_state.display()
        );
    }
    run(args.control, secured, entries).await
}

pub async fn pilot(args: PilotArgs) -> anyhow::Result<ExitCode> {
    let entries = EntrySources::start(&args.control)?;
    let secured = match crate::identity::start(&args.identity).await? {
        None => None,
        Some(identity) => Some(embedded::pilot_tls(&identity)?),
    };
    run(args.control, secured, entries).await
}

/// The config entry sources, started, and their merged set.
struct EntrySources {
    sources: Vec<EntriesStarted>,
    merged: Option<watch::Receiver<Arc<EntriesSnapshot>>>,
}

impl EntrySources {
    fn start(args: &ControlArgs) -> anyhow::Result<Self> {
        let sources =
            crate::registries::start_entries(args.config_entries.as_ref(), &args.registries)?;
        let merged = match sources.len() {
            0 => None,
            1 => Some(sources[0].source.subscribe()),
            _ => Some(MergedEntries::spawn(
                sources.iter().map(|s| Arc::clone(&s.source)).collect(),
            )),
        };
        Ok(Self { sources, merged })
    }
}

async fn run(
    args: ControlArgs,
    secured: Option<embedded::Secured>,
    entries: EntrySources,
) -> anyhow::Result<ExitCode> {
    let registries = crate::registries::start(&args.registries).await?;
    let catalog = bridge(MergedCatalog::spawn(
        registries.iter().map(|r| Arc::clone(&r.registry)).collect(),
    ));
    let EntrySources { sources, merged } = entries;
    let entries = merged.map(index_entries);
    let report: RegistryReport = Arc::new(move || {
        let sources: Vec<serde_json::Value> = registries
            .iter()
            .map(Started::report)
            .chain(sources.iter().map(EntriesStarted::report))
            .collect();
        serde_json::Value::Array(sources)
    });
    let (security, tls) = match secured {
        Some(s) => (Some(s.security), Some(s.tls)),
        None => (None, None),
    };
    let opts = PilotOptions {
        xds_addr: args.xds_addr,
        debug_addr: args.debug_addr,
        security,
        tls,
        ..PilotOptions::default()
    };
    let pilot =
        rigging_pilot_server::start_with_entries(opts, catalog, entries, Some(report)).await?;
    tracing::info!(xds = %pilot.xds_addr(), debug = %pilot.debug_addr(), "control plane up; Ctrl-C stops it");
    shutdown_signal().await;
    tracing::info!("stopping");
    pilot.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// Pilot reads bare catalogs; the merge publishes numbered snapshots.
fn bridge(
    mut merged: watch::Receiver<Arc<rigging_adapters_core::MergedSnapshot>>,
) -> watch::Receiver<Arc<Catalog>> {
    let first = Arc::new(merged.borrow_and_update().catalog.clone());
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        while merged.changed().await.is_ok() {
            let next = Arc::new(merged.borrow_and_update().catalog.clone());
            if tx.send(next).is_err() {
                return;
            }
        }
    });
    rx
}

/// Pilot reads indexed entry sets; the folder publishes lists.
fn index_entries(
    mut source: watch::Receiver<Arc<EntriesSnapshot>>,
) -> watch::Receiver<Arc<Entries>> {
    let first = Arc::new(Entries::new(source.borrow_and_update().entries.clone()));
    let (tx, rx) = watch::channel(first);
    tokio::spawn(async move {
        while source.changed().await.is_ok() {
            let next = Arc::new(Entries::new(source.borrow_and_update().entries.clone()));
            if tx.send(next).is_err() {
                return;
            }
        }
    });
    rx
}

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
