//! `rig up` and `rig pilot`: registries, merged, feeding Pilot.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rigging_adapters_config_entries::{EntriesFolder, EntriesSnapshot, EntrySource};
use rigging_adapters_core::{MergedCatalog, Registry};
use rigging_adapters_file::FileRegistry;
use rigging_mesh_model::Catalog;
use rigging_pilot_server::{
    DEFAULT_DEBUG_ADDR, DEFAULT_XDS_ADDR, Entries, PilotOptions, RegistryReport,
};
use tokio::sync::watch;

use crate::embedded::{self, EmbeddedCitadelArgs};
use crate::identity::IdentityArgs;

#[derive(Debug, clap::Args)]
pub struct ControlArgs {
    /// Static-file registry: an HCL file or a folder of them (watched). Repeat for several.
    #[arg(
        long = "registry",
        env = "RIG_REGISTRY",
        default_value = "registry.d",
        value_delimiter = ','
    )]
    registries: Vec<PathBuf>,
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
    let secured = if args.citadel.plaintext {
        tracing::warn!("--plaintext: no citadel, no mTLS between proxies or to pilot");
        None
    } else {
        Some(embedded::start(&args.citadel, shutdown_signal()).await?)
    };
    if let Some(s) = &secured {
        tracing::info!(
            pilot = %s.pilot_id,
            bundle = %s.bundle_file.display(),
            "mTLS on: proxies need a credential, e.g. `rig citadel token create --state {} --service <name>`",
            args.citadel.citadel_state.display()
        );
    }
    run(args.control, secured).await
}

pub async fn pilot(args: PilotArgs) -> anyhow::Result<ExitCode> {
    let secured = match crate::identity::start(&args.identity).await? {
        None => None,
        Some(identity) => Some(embedded::pilot_tls(&identity)?),
    };
    run(args.control, secured).await
}

async fn run(args: ControlArgs, secured: Option<embedded::Secured>) -> anyhow::Result<ExitCode> {
    let mut files = Vec::new();
    for (i, path) in args.registries.iter().enumerate() {
        let name = if i == 0 {
            "file".to_owned()
        } else {
            format!("file-{i}")
        };
        let reg = FileRegistry::start(path.clone(), name)
            .with_context(|| format!("registry {}", path.display()))?;
        tracing::info!(path = %path.display(), "static-file registry loaded");
        files.push(Arc::new(reg));
    }
    let registries: Vec<Arc<dyn Registry>> = files
        .iter()
        .map(|f| f.clone() as Arc<dyn Registry>)
        .collect();
    let catalog = bridge(MergedCatalog::spawn(registries));
    let folder = match &args.config_entries {
        None => None,
        Some(path) => {
            let folder = EntriesFolder::start(path.clone())
                .with_context(|| format!("config entries {}", path.display()))?;
            tracing::info!(path = %path.display(), "config entries loaded");
            Some(Arc::new(folder))
        }
    };
    let entries = folder.as_ref().map(|f| index_entries(f.subscribe()));
    let report: RegistryReport = Arc::new(move || {
        let mut sources: Vec<serde_json::Value> = files
            .iter()
            .map(|f| {
                serde_json::json!({
                    "kind": "file",
                    "path": f.path().display().to_string(),
                    "version": f.version(),
                    "last_error": f.last_error().map(|e| e.to_string()),
                })
            })
            .collect();
        if let Some(f) = &folder {
            let errors = f.errors();
            sources.push(serde_json::json!({
                "kind": "config-entries",
                "path": f.path().display().to_string(),
                "version": f.version(),
                "last_error": (!errors.is_empty()).then(|| {
                    errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
                }),
            }));
        }
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
