//! `rig-bench`: measures Rigging's proxy and control plane beside HAProxy and nginx, on this machine.

mod contenders;
mod controlplane;
mod grpc;
mod latency;
mod loadgen;
mod memory;
mod mtls;
mod procs;
mod registry_edit;
mod report;
mod run;
mod throughput;
mod tools;
mod upstream;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Latency steps of the targets: 1,000 and 5,000 requests per second.
const DEFAULT_RATES: &str = "1000,5000";
/// Seconds measured per contender and step: enough for a stable p99.9 (≥ 10,000 samples at 1k).
const DEFAULT_DURATION_S: f64 = 10.0;
/// Seconds sent first and not measured: pools filled, caches and branch predictors warm.
const DEFAULT_WARMUP_S: f64 = 2.0;
/// Keep-alive connections of the constant-rate load: a sidecar's typical fan-in, and enough
/// that 5k rps never queues behind one slow answer.
const DEFAULT_LATENCY_CONNECTIONS: usize = 32;
/// Closed-loop connections for throughput: enough to keep one proxy core busy.
const DEFAULT_THROUGHPUT_CONNECTIONS: usize = 64;
/// h2load: connections × concurrent streams, the same 64 requests in flight as HTTP/1.1.
const DEFAULT_H2_CONNECTIONS: usize = 8;
const DEFAULT_H2_STREAMS: usize = 8;
/// Rounds of the latency and throughput runs: one run per contender is at the mercy of this
/// shared virtual machine (the same contender varied by ±10 % in requests per second, and by
/// ±30 µs in p50 at 1,000 requests/s, between runs a minute apart), so the contenders are
/// measured in turn this many times and compared round by round: the targets take the median
/// of the same-round differences (latency) or ratios (throughput).
const DEFAULT_ROUNDS: usize = 5;
/// The memory target's rate.
const DEFAULT_MEMORY_RATE: f64 = 1000.0;
/// Idle connections held open for the per-1,000 figure: 2,000 makes the slope clear of noise.
const DEFAULT_IDLE_CONNECTIONS: usize = 2000;
/// Simulated proxies for the control plane: the two sizes.
const DEFAULT_CP_PROXIES: &str = "1000,10000";
/// Endpoint changes measured per size, and registry edits measured.
const DEFAULT_CP_CHANGES: usize = 20;
const DEFAULT_EDITS: usize = 10;

#[derive(Debug, Parser)]
#[command(
    name = "rig-bench",
    about = "Rigging's proxy and control plane beside HAProxy and nginx"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Added latency at fixed rates (open loop, coordinated omission corrected).
    Latency(RunOpts),
    /// Requests per second with each proxy on one core (HTTP/1.1, and h2c with h2load).
    Throughput(RunOpts),
    /// Resident memory: idle, under load, per 1,000 idle connections.
    Memory(RunOpts),
    /// One endpoint change to N simulated proxies; Pilot's memory.
    ControlPlane(RunOpts),
    /// A registry file edit until a real proxy routes to the new endpoint.
    RegistryEdit(RunOpts),
    /// Two hops (client → proxy → proxy → upstream): rig with and without mTLS between its
    /// proxies, HAProxy and nginx with mTLS; latency at fixed rates, throughput, h2c, gRPC.
    Mtls(RunOpts),
    /// Every scenario above, in turn.
    All(RunOpts),
    /// Every scenario, tiny, into a temporary folder: fails on any error (run by the tests).
    Smoke(RunOpts),
    /// The benchmark's upstream server (started by the scenarios).
    #[command(hide = true)]
    Upstream(upstream::UpstreamArgs),
    /// One load-generator run, result as JSON (started by the scenarios).
    #[command(hide = true)]
    Loadgen(loadgen::LoadArgs),
}

/// Options of every scenario; each has a default for a real run, smoke mode shrinks them.
#[derive(Debug, Clone, clap::Args)]
pub struct RunOpts {
    /// The `rig` binary [default: `rig` next to this binary, built if missing].
    #[arg(long)]
    pub rig: Option<PathBuf>,
    /// Where results go [default: bench/results; smoke: a temporary folder].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Do not apt-get missing contenders and tools (they are then reported not installed).
    #[arg(long)]
    pub no_install: bool,
    /// Latency: requests per second of each step.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_RATES)]
    pub rates: Vec<f64>,
    /// Seconds measured per contender (latency, throughput, memory's load).
    #[arg(long, default_value_t = DEFAULT_DURATION_S)]
    pub duration: f64,
    /// Seconds of warm-up before each measurement.
    #[arg(long, default_value_t = DEFAULT_WARMUP_S)]
    pub warmup: f64,
    #[arg(long, default_value_t = DEFAULT_LATENCY_CONNECTIONS)]
    pub latency_connections: usize,
    #[arg(long, default_value_t = DEFAULT_THROUGHPUT_CONNECTIONS)]
    pub throughput_connections: usize,
    #[arg(long, default_value_t = DEFAULT_H2_CONNECTIONS)]
    pub h2_connections: usize,
    #[arg(long, default_value_t = DEFAULT_H2_STREAMS)]
    pub h2_streams: usize,
    /// Latency and throughput: rounds of runs, every contender once per round, in turn; the
    /// targets compare the median of the same-round differences or ratios.
    #[arg(long, default_value_t = DEFAULT_ROUNDS)]
    pub rounds: usize,
    #[arg(long, default_value_t = DEFAULT_MEMORY_RATE)]
    pub memory_rate: f64,
    #[arg(long, default_value_t = DEFAULT_IDLE_CONNECTIONS)]
    pub idle_connections: usize,
    /// Control plane: numbers of simulated proxies.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_CP_PROXIES)]
    pub proxies: Vec<usize>,
    #[arg(long, default_value_t = DEFAULT_CP_CHANGES)]
    pub changes: usize,
    #[arg(long, default_value_t = DEFAULT_EDITS)]
    pub edits: usize,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Upstream(args) => upstream::run(&args),
        Command::Loadgen(args) => loadgen::run(&args),
        Command::Latency(o) => run::main(run::Which::Latency, o),
        Command::Throughput(o) => run::main(run::Which::Throughput, o),
        Command::Memory(o) => run::main(run::Which::Memory, o),
        Command::ControlPlane(o) => run::main(run::Which::ControlPlane, o),
        Command::RegistryEdit(o) => run::main(run::Which::RegistryEdit, o),
        Command::Mtls(o) => run::main(run::Which::Mtls, o),
        Command::All(o) => run::main(run::Which::All, o),
        Command::Smoke(o) => run::main(run::Which::Smoke, o),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
