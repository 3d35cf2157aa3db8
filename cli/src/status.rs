//! `rig status`: Pilot's per-proxy sync table, like `istioctl proxy-status`.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use rigging_pilot_server::{DEFAULT_DEBUG_ADDR, ProxyStatus};

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Pilot's debug (HTTP) address.
    #[arg(long, default_value_t = DEFAULT_DEBUG_ADDR, env = "RIG_PILOT_DEBUG")]
    pilot_debug: SocketAddr,
    /// Print Pilot's JSON instead of the table.
    #[arg(long)]
    json: bool,
}

#[allow(clippy::print_stdout)]
pub async fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let body = get(args.pilot_debug, "/debug/syncz").await?;
    if args.json {
        println!("{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let value: serde_json::Value =
        serde_json::from_str(&body).context("Pilot's /debug/syncz is not JSON")?;
    let proxies: Vec<ProxyStatus> = serde_json::from_value(value["proxies"].clone())
        .context("Pilot's /debug/syncz has no proxy list")?;
    print!("{}", table(&proxies));
    if let Some(regs) = value["registries"].as_array() {
        for r in regs {
            if let Some(line) = registry_problem(r) {
                println!("{line}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What is wrong with one registry or config-entry source, if anything: a rejected edit of a
/// file, or a remote registry that cannot be reached (its last snapshot still served).
fn registry_problem(r: &serde_json::Value) -> Option<String> {
    let kind = r["kind"].as_str().unwrap_or("registry");
    let where_ = r["path"].as_str().unwrap_or("?");
    if let Some(err) = r["last_error"].as_str() {
        let what = match kind {
            "config-entries" => "config entries",
            _ => "registry",
        };
        return Some(format!("{what} {where_}: last edit rejected: {err}"));
    }
    let stale = r["stale_seconds"].as_u64()?;
    let name = r["name"].as_str().unwrap_or(kind);
    let why = r["unreachable"].as_str().unwrap_or("no answer");
    Some(format!(
        "{kind} registry {name} ({where_}): stale for {stale} s, last snapshot kept: {why}"
    ))
}

/// GET `path` from `addr`, as text; non-2xx is an error.
pub async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<String> {
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("http://{addr}{path}").parse()?;
    let resp = client
        .get(uri)
        .await
        .with_context(|| format!("cannot reach Pilot at {addr}; is `rig up` running?"))?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    anyhow::ensure!(
        status.is_success(),
        "{addr}{path} answered {status}: {text}"
    );
    Ok(text)
}

fn table(proxies: &[ProxyStatus]) -> String {
    let mut rows = vec![[
        "PROXY".to_owned(),
        "CONNECTED".to_owned(),
        "CDS".to_owned(),
        "LDS".to_owned(),
        "EDS".to_owned(),
        "RDS".to_owned(),
        "SNAPSHOT".to_owned(),
        "IDENTITY".to_owned(),
        "PROBLEM".to_owned(),
    ]];
    for p in proxies {
        let state = |ty: &str| match p.types.get(ty) {
            Some(t) => {
                let s = serde_json::to_value(t.state()).ok();
                s.and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            }
            None => "NOT_SENT".to_owned(),
        };
        let nack = p
            .types
            .iter()
            .find_map(|(ty, t)| t.nack.as_ref().map(|n| format!("{ty} NACK: {n}")));
        rows.push([
            p.proxy.clone(),
            if p.connected {
                "yes".to_owned()
            } else {
                "no".to_owned()
            },
            state("CDS"),
            state("LDS"),
            state("EDS"),
            state("RDS"),
            p.snapshot_version.to_string(),
            // What the stream's client certificate proved; plaintext streams prove nothing.
            p.spiffe_id
                .clone()
                .unwrap_or_else(|| "plaintext".to_owned()),
            p.problem.clone().or(nack).unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
