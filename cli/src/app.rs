//! `rig example-app`: the demo's applications, each its own process like a real workload.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use rigging_examples_apps::{AppIdentity, FailRule, HttpOptions};

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
    /// For `http`: answer this status (200-599) instead of serving some requests, as many as
    /// `--fail-percent` says (100 when not given). gRPC health checks never fail.
    #[arg(long, value_parser = clap::value_parser!(u16).range(200..=599))]
    fail_status: Option<u16>,
    /// For `http`: the share of requests that fail (0-100), spread evenly and
    /// deterministically (50 fails every second request); the status is `--fail-status`, 503
    /// when not given.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=100))]
    fail_percent: Option<u8>,
}

impl AppArgs {
    /// The failure rule the `--fail-*` flags ask for, if any.
    fn fail_rule(&self) -> anyhow::Result<Option<FailRule>> {
        if self.fail_status.is_none() && self.fail_percent.is_none() {
            return Ok(None);
        }
        let status = self.fail_status.unwrap_or(503);
        let percent = self.fail_percent.unwrap_or(100);
        Ok(Some(FailRule::new(status, percent)?))
    }
}

pub async fn run(args: AppArgs) -> anyhow::Result<ExitCode> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let fail = args.fail_rule()?;
    anyhow::ensure!(
        fail.is_none() || matches!(args.kind, Kind::Http),
        "--fail-status and --fail-percent are for --kind http only"
    );
    let id = AppIdentity::new(args.service, args.app_version, args.instance);
    tracing::info!(addr = %args.listen, ?id, ?fail, "example app serving");
    let serve = async {
        match args.kind {
            Kind::Http => {
                let options = match fail {
                    Some(rule) => HttpOptions::default().with_fail(rule),
                    None => HttpOptions::default(),
                };
                let (server, _reporter) =
                    rigging_examples_apps::serve_http_with(listener, id, options).await;
                server.await
            }
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        app: AppArgs,
    }

    fn parse(extra: &[&str]) -> Result<AppArgs, clap::Error> {
        let mut args = vec![
            "example-app",
            "--kind",
            "http",
            "--service",
            "api",
            "--app-version",
            "v1",
            "--instance",
            "api-1",
            "--listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        Cli::try_parse_from(args).map(|c| c.app)
    }

    #[test]
    fn fail_flags_make_a_rule_with_defaults() {
        assert_eq!(parse(&[]).expect("args").fail_rule().expect("rule"), None);
        let rule = |extra: &[&str]| {
            parse(extra)
                .expect("args")
                .fail_rule()
                .expect("rule")
                .expect("some rule")
        };
        let both = rule(&["--fail-status", "500", "--fail-percent", "25"]);
        assert_eq!((both.status().as_u16(), both.percent()), (500, 25));
        let status_only = rule(&["--fail-status", "502"]);
        assert_eq!(
            (status_only.status().as_u16(), status_only.percent()),
            (502, 100)
        );
        let percent_only = rule(&["--fail-percent", "50"]);
        assert_eq!(
            (percent_only.status().as_u16(), percent_only.percent()),
            (503, 50)
        );
    }

    #[test]
    fn fail_flags_are_checked() {
        assert!(parse(&["--fail-status", "99"]).is_err());
        assert!(parse(&["--fail-status", "600"]).is_err());
        assert!(parse(&["--fail-percent", "101"]).is_err());
    }
}
