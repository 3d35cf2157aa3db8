//! The load generator: open loop (constant rate, for latency) and closed loop (for throughput),
//! run as its own process (`rig-bench loadgen`, hidden) pinned beside the upstream.

mod client;
mod closed_loop;
mod open_loop;

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

pub use client::{Conn, h2c_connect, h2c_get};

/// `rig-bench loadgen`: one measurement against one target, its result as JSON on stdout.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadArgs {
    #[arg(long)]
    pub target: SocketAddr,
    /// Requests per second; absent runs closed loop (as fast as answered).
    #[arg(long)]
    pub rate: Option<f64>,
    #[arg(long)]
    pub duration_ms: u64,
    /// Sent first and not measured: connections, pools and caches warm.
    #[arg(long)]
    pub warmup_ms: u64,
    #[arg(long)]
    pub connections: usize,
}

/// What one load run measured (latencies in microseconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub rps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub first_error: Option<String>,
}

/// A worker's counts, merged into one result.
#[derive(Debug)]
struct Tally {
    hist: Histogram<u64>,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn new() -> Self {
        Self {
            hist: open_loop::histogram(),
            errors: 0,
            first_error: None,
        }
    }

    fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.hist.saturating_record(ns.max(1));
    }

    fn error(&mut self, e: Option<anyhow::Error>) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = e.map(|e| format!("{e:#}"));
        }
    }

    fn with_error(mut self, e: anyhow::Error) -> Self {
        self.error(Some(e));
        self
    }

    fn merge(&mut self, other: Tally) {
        let _ = self.hist.add(&other.hist);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn finish(self, duration: Duration) -> LoadResult {
        let us = |q: f64| self.hist.value_at_quantile(q) as f64 / 1_000.0;
        LoadResult {
            requests: self.hist.len(),
            errors: self.errors,
            rps: self.hist.len() as f64 / duration.as_secs_f64(),
            p50_us: us(0.5),
            p90_us: us(0.9),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: self.hist.max() as f64 / 1_000.0,
            first_error: self.first_error,
        }
    }
}

/// Runs the subcommand in this process, on one thread: the pacer thread aside, the generator
/// stays on its CPU.
pub fn run(args: &LoadArgs) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let duration = Duration::from_millis(args.duration_ms);
    let warmup = Duration::from_millis(args.warmup_ms);
    let result = rt.block_on(async {
        match args.rate {
            Some(rate) => {
                open_loop::run(args.target, rate, duration, warmup, args.connections).await
            }
            None => closed_loop::run(args.target, duration, warmup, args.connections).await,
        }
    })?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &result)?;
    out.write_all(b"\n")?;
    Ok(())
}

/// Runs `rig-bench loadgen` as a child pinned to `cpu` and returns what it measured.
pub async fn measure(args: &LoadArgs, cpu: usize, logdir: &Path) -> anyhow::Result<LoadResult> {
    let me = std::env::current_exe()?;
    let mut argv: Vec<String> = vec![
        "loadgen".into(),
        "--target".into(),
        args.target.to_string(),
        "--duration-ms".into(),
        args.duration_ms.to_string(),
        "--warmup-ms".into(),
        args.warmup_ms.to_string(),
        "--connections".into(),
        args.connections.to_string(),
    ];
    if let Some(rate) = args.rate {
        argv.extend(["--rate".into(), rate.to_string()]);
    }
    let mut cmd = if crate::procs::can_pin(cpu) {
        let mut c = tokio::process::Command::new("taskset");
        c.arg("-c").arg(cpu.to_string()).arg(&me);
        c
    } else {
        tokio::process::Command::new(&me)
    };
    let stderr = std::fs::File::create(logdir.join("loadgen.log"))?;
    let out = cmd
        .args(&argv)
        .stdin(std::process::Stdio::null())
        .stderr(stderr)
        .kill_on_drop(true)
        .output()
        .await
        .context("run the load generator")?;
    anyhow::ensure!(
        out.status.success(),
        "load generator failed ({}): {}",
        out.status,
        crate::procs::tail(&logdir.join("loadgen.log"))
    );
    serde_json::from_slice(&out.stdout).context("parse the load generator's result")
}
