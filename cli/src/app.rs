//! `rig example-app`: the demo's applications, each its own process like a real workload.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use rigging_examples_apps::AppIdentity;

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Kind {
    Http,
    Tcp,
    Web,
}

#[derive(Debug, clap::Args)]
pub struct AppArgs {
    #[arg(long, value_enum)]
    kind: Kind,
    #[arg(long)]
    service: String,
    #[arg(long)]
    app_version: String,
    #[arg(long)]
    instance: String,
    #[arg(long)]
    listen: SocketAddr,
    /// For `web`: where its sidecar exposes `api`.
    #[arg(long)]
    api: Option<SocketAddr>,
    /// For `web`: where its sidecar exposes `db`.
    #[arg(long)]
    db: Option<SocketAddr>,
}

pub async fn run(args: AppArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let id = AppIdentity::new(args.service, args.app_version, args.instance);
    tracing::info!(addr = %args.listen, ?id, "example app serving");
    let serve = async {
        match args.kind {
            Kind::Http => rigging_examples_apps::serve_http(listener, id).await,
            Kind::Tcp => rigging_examples_apps::serve_tcp_echo(listener, id).await,
            Kind::Web => {
                let api = args.api.context("--api is required for web")?;
                let db = args.db.context("--db is required for web")?;
                rigging_examples_apps::serve_web(listener, id, api, db).await
            }
        }
        .context("example app failed")
    };
    tokio::select! {
        r = serve => r.map(|()| ExitCode::SUCCESS),
        () = crate::control::shutdown_signal() => Ok(ExitCode::SUCCESS),
    }
}
