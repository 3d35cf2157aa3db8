//! Running scenarios: tools ready, contenders started, results written, everything stopped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::RunOpts;
use crate::contenders::{Framing, Setup};
use crate::controlplane::{self, ControlPlaneOptions};
use crate::latency::{self, LatencyParams, Outcome};
use crate::memory::{self, MemoryParams};
use crate::mtls;
use crate::registry_edit::{self, RegistryEditOptions};
use crate::report::{self, Section};
use crate::throughput::{self, ThroughputParams};
use crate::tools::Tools;

/// Smoke mode: about half a second per contender at a low rate, a few hundred connections, twenty
/// simulated proxies, so every scenario runs end to end in well under a minute.
const SMOKE_RATE: f64 = 200.0;
const SMOKE_DURATION: Duration = Duration::from_millis(500);
const SMOKE_WARMUP: Duration = Duration::from_millis(200);
const SMOKE_CONNECTIONS: usize = 4;
const SMOKE_IDLE_CONNECTIONS: usize = 200;
const SMOKE_PROXIES: usize = 20;
const SMOKE_CHANGES: usize = 3;
const SMOKE_EDITS: usize = 2;

/// Which scenario, or all, or smoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Latency,
    Throughput,
    Memory,
    ControlPlane,
    RegistryEdit,
    Mtls,
    All,
    Smoke,
}

const EVERY: [Which; 6] = [
    Which::Latency,
    Which::Throughput,
    Which::Memory,
    Which::ControlPlane,
    Which::RegistryEdit,
    Which::Mtls,
];

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Latency => "latency",
            Which::Throughput => "throughput",
            Which::Memory => "memory",
            Which::ControlPlane => "control-plane",
            Which::RegistryEdit => "registry-edit",
            Which::Mtls => "mtls",
            Which::All => "all",
            Which::Smoke => "smoke",
        }
    }
}

pub fn main(which: Which, mut opts: RunOpts) -> anyhow::Result<()> {
    // Thousands of connections through the proxies: raise the soft limit to the hard one;
    // every process started inherits it.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    tracing::debug!(nofile, "open-file limit");
    let smoke = which == Which::Smoke;
    let out = match (&opts.out, smoke) {
        (Some(o), _) => o.clone(),
        (None, true) => tempfile::Builder::new()
            .prefix("rig-bench-smoke-")
            .tempdir()?
            .keep(),
        (None, false) => crate::tools::workspace_root().join("bench/results"),
    };
    if smoke {
        shrink(&mut opts);
    }
    let command = format!(
        "{}cargo run -p rigging-bench --release -- {}",
        report::launch_prefix(),
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let tools = Tools::prepare(opts.rig.clone(), !smoke && !opts.no_install)?;
    for n in &tools.notes {
        tracing::warn!("{n}");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        tokio::select! {
            r = scenarios(which, &opts, &tools, &out, &command) => r,
            _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted: every process stopped"),
        }
    })?;
    tracing::info!(out = %out.display(), "done");
    Ok(())
}

fn shrink(o: &mut RunOpts) {
    o.rates = vec![SMOKE_RATE];
    o.duration = SMOKE_DURATION.as_secs_f64();
    o.warmup = SMOKE_WARMUP.as_secs_f64();
    o.latency_connections = SMOKE_CONNECTIONS;
    o.throughput_connections = SMOKE_CONNECTIONS;
    o.h2_connections = 2;
    o.h2_streams = 2;
    o.rounds = 1;
    o.memory_rate = SMOKE_RATE;
    o.idle_connections = SMOKE_IDLE_CONNECTIONS;
    o.proxies = vec![SMOKE_PROXIES];
    o.changes = SMOKE_CHANGES;
    o.edits = SMOKE_EDITS;
}

async fn scenarios(
    which: Which,
    opts: &RunOpts,
    tools: &Tools,
    out: &Path,
    command: &str,
) -> anyhow::Result<()> {
    let list: Vec<Which> = match which {
        Which::All | Which::Smoke => EVERY.to_vec(),
        one => vec![one],
    };
    let mut failures = Vec::new();
    for w in list {
        tracing::info!(scenario = w.name(), "starting");
        match one(w, opts, tools).await {
            Ok(o) => {
                report::write(out, w.name(), command, &tools.rig, &o.sections)?;
                anyhow::ensure!(
                    out.join(format!("{}.md", w.name())).is_file(),
                    "{}.md was not written",
                    w.name()
                );
                failures.extend(o.failures.into_iter().map(|f| format!("{}: {f}", w.name())));
            }
            Err(e) if which == Which::All => {
                tracing::error!(scenario = w.name(), "{e:#}");
                failures.push(format!("{}: {e:#}", w.name()));
            }
            Err(e) => return Err(e.context(w.name())),
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    for f in &failures {
        tracing::error!("{f}");
    }
    anyhow::bail!("{} failure(s), first: {}", failures.len(), failures[0])
}

async fn one(w: Which, opts: &RunOpts, tools: &Tools) -> anyhow::Result<Outcome> {
    let secs = |s: f64| Duration::from_secs_f64(s.max(0.0));
    let rig: PathBuf = tools.rig.clone();
    match w {
        Which::ControlPlane => {
            let sections = controlplane::run(&ControlPlaneOptions {
                proxies: opts.proxies.clone(),
                changes: opts.changes,
                rig,
            })
            .await?;
            return Ok(Outcome {
                sections,
                ..Outcome::default()
            });
        }
        Which::RegistryEdit => {
            let s = registry_edit::run(&RegistryEditOptions {
                edits: opts.edits,
                rig,
            })
            .await?;
            return Ok(Outcome {
                sections: vec![s],
                ..Outcome::default()
            });
        }
        _ => {}
    }
    let mut setup = match w {
        Which::Mtls => mtls::start(tools).await,
        _ => Setup::start(tools).await,
    }
    .context("start the contenders")?;
    let latency_params = LatencyParams {
        rates: opts.rates.clone(),
        duration: secs(opts.duration),
        warmup: secs(opts.warmup),
        connections: opts.latency_connections,
        rounds: opts.rounds.max(1),
        // Two hops already share one CPU: the one-hop scenario only.
        client_cpu_too: matches!(w, Which::Latency),
    };
    let throughput_params = ThroughputParams {
        duration: secs(opts.duration),
        warmup: secs(opts.warmup),
        connections: opts.throughput_connections,
        h2_connections: opts.h2_connections,
        h2_streams: opts.h2_streams,
        rounds: opts.rounds.max(1),
    };
    let mut outcome = match w {
        Which::Latency => {
            setup.wait_serving().await?;
            latency::run(&mut setup, &latency_params, &Framing::one_hop()).await?
        }
        Which::Throughput => {
            setup.wait_serving().await?;
            let framing = Framing::one_hop();
            throughput::run(&mut setup, tools, &throughput_params, &framing).await?
        }
        Which::Mtls => mtls::run(&mut setup, tools, &latency_params, &throughput_params).await?,
        _ => {
            let p = MemoryParams {
                rate: opts.memory_rate,
                duration: secs(opts.duration),
                idle_connections: opts.idle_connections,
            };
            memory::run(&mut setup, &p).await?
        }
    };
    let mut notes = Section::new("Contenders not measured", &[]);
    for (kind, why) in &setup.unavailable {
        notes.notes.push(format!("{}: {why}", kind.name()));
        // Installed but failed to start: the report is written, the run still fails.
        if !why.starts_with("skipped") {
            outcome.failures.push(format!("{}: {why}", kind.name()));
        }
    }
    if !notes.notes.is_empty() {
        outcome.sections.push(notes);
    }
    Ok(outcome)
}
