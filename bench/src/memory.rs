//! Memory: resident size (VmRSS) of each proxy idle, under a constant rate, and its growth per
//! 1,000 idle keep-alive connections held open through it.

use std::time::Duration;

use futures::future::try_join_all;

use crate::contenders::{Contender, Kind, Setup};
use crate::latency::{Outcome, note_errors};
use crate::loadgen::{self, Conn, LoadArgs};
use crate::procs::CPU_CLIENT;
use crate::report::{self, Chart, Section};

/// The targets of issue 3.
const TARGET_IDLE_MIB: f64 = 8.0;
const TARGET_PER_1000_MIB: f64 = 2.0;
/// Connections opened at once: enough to be quick, few enough not to overflow accept queues.
const OPEN_BATCH: usize = 100;
/// Time for a proxy to settle (free buffers, return pooled connections) before a reading.
const SETTLE: Duration = Duration::from_millis(500);
/// Connections of the constant-rate load.
const LOAD_CONNECTIONS: usize = 16;

/// What to measure.
#[derive(Debug, Clone)]
pub struct MemoryParams {
    pub rate: f64,
    pub duration: Duration,
    pub idle_connections: usize,
}

#[derive(Debug, Default)]
struct Reading {
    idle_kib: u64,
    idle_anon_kib: u64,
    loaded_kib: u64,
    before_conns_kib: u64,
    after_conns_kib: u64,
}

pub async fn run(setup: &mut Setup, p: &MemoryParams) -> anyhow::Result<Outcome> {
    // Idle first: configured and listening, no request through it yet.
    tokio::time::sleep(SETTLE).await;
    let mut readings: Vec<(Kind, Reading)> = Vec::new();
    for c in &setup.contenders {
        if let Some(kib) = c.rss_kib()? {
            readings.push((
                c.kind,
                Reading {
                    idle_kib: kib,
                    idle_anon_kib: c.rss_anon_kib()?.unwrap_or(0),
                    ..Reading::default()
                },
            ));
        }
    }
    setup.wait_serving().await?;
    let logdir = setup.dir.path().to_owned();
    let mut out = Outcome::default();
    for c in &mut setup.contenders {
        let Some((_, r)) = readings.iter_mut().find(|(k, _)| *k == c.kind) else {
            continue;
        };
        tracing::info!(contender = c.kind.name(), "memory");
        r.loaded_kib = under_load(c, p, &logdir, &mut out.failures).await?;
        tokio::time::sleep(SETTLE).await;
        r.before_conns_kib = c.rss_kib()?.unwrap_or(0);
        let held = open_idle(c, p.idle_connections).await;
        match held {
            Ok(conns) => {
                tokio::time::sleep(SETTLE).await;
                r.after_conns_kib = c.rss_kib()?.unwrap_or(0);
                drop(conns);
            }
            Err(e) => out.failures.push(format!(
                "{}: holding {} connections: {e:#}",
                c.kind.name(),
                p.idle_connections
            )),
        }
        c.check_alive()?;
    }
    out.sections = sections(&readings, p);
    Ok(out)
}

/// The highest RSS seen while the constant-rate load runs.
async fn under_load(
    c: &Contender,
    p: &MemoryParams,
    logdir: &std::path::Path,
    failures: &mut Vec<String>,
) -> anyhow::Result<u64> {
    let args = LoadArgs {
        target: c.addr,
        rate: Some(p.rate),
        duration_ms: p.duration.as_millis() as u64,
        warmup_ms: 0,
        connections: LOAD_CONNECTIONS,
    };
    let load = loadgen::measure(&args, CPU_CLIENT, logdir);
    tokio::pin!(load);
    let mut peak = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let result = loop {
        tokio::select! {
            r = &mut load => break r?,
            _ = tick.tick() => peak = peak.max(c.rss_kib()?.unwrap_or(0)),
        }
    };
    let who = format!("{} at {} rps", c.kind.name(), p.rate);
    note_errors(failures, who, result.errors, result.first_error.as_deref());
    Ok(peak)
}

/// Opens `n` connections through the contender, one request on each, and keeps them open.
async fn open_idle(c: &Contender, n: usize) -> anyhow::Result<Vec<Conn>> {
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = OPEN_BATCH.min(n - conns.len());
        let opened = try_join_all((0..batch).map(|_| async {
            let mut conn = Conn::connect(c.addr).await?;
            conn.get().await?;
            anyhow::Ok(conn)
        }))
        .await?;
        conns.extend(opened);
    }
    Ok(conns)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn sections(readings: &[(Kind, Reading)], p: &MemoryParams) -> Vec<Section> {
    let per_1000 = |r: &Reading| {
        (r.after_conns_kib as f64 - r.before_conns_kib as f64) / 1024.0 * 1000.0
            / p.idle_connections as f64
    };
    let mut s = Section::new(
        "Resident memory (VmRSS)",
        &[
            "contender",
            "idle",
            "idle, anonymous only",
            &format!("at {} rps", p.rate),
            &format!("with {} idle connections", p.idle_connections),
            "per 1,000 idle connections",
        ],
    );
    for (k, r) in readings {
        s.rows.push(vec![
            k.name().into(),
            format!("{:.1} MiB", mib(r.idle_kib)),
            format!("{:.1} MiB", mib(r.idle_anon_kib)),
            format!("{:.1} MiB", mib(r.loaded_kib)),
            format!("{:.1} MiB", mib(r.after_conns_kib)),
            format!("{:.2} MiB", per_1000(r)),
        ]);
    }
    s.notes.push(format!(
        "Idle: started and configured, no request yet. Under load: the highest reading during \
         {:?} at {} requests/s. Per 1,000 connections: the growth after opening {} keep-alive \
         connections (one request each, then idle), scaled. nginx: master + worker. \
         Anonymous only (RssAnon): without the pages of the program and its libraries, which \
         the page cache shares between processes running the same binary.",
        p.duration, p.rate, p.idle_connections
    ));
    s.chart = Some(Chart {
        title: "Resident memory (lower is better)".into(),
        y_label: "MiB".into(),
        groups: vec![
            "idle".into(),
            format!("at {} rps", p.rate),
            "per 1,000 idle connections".into(),
        ],
        series: readings
            .iter()
            .map(|(k, r)| {
                (
                    k.name().into(),
                    vec![mib(r.idle_kib), mib(r.loaded_kib), per_1000(r)],
                )
            })
            .collect(),
    });
    let mut t = Section::new("Targets", &["what", "target", "rig", "verdict"]);
    if let Some((_, r)) = readings.iter().find(|(k, _)| *k == Kind::Rig) {
        t.rows.push(vec![
            "idle proxy resident memory".into(),
            format!("≤ {TARGET_IDLE_MIB} MB"),
            format!("{:.1} MiB", mib(r.idle_kib)),
            report::at_most(mib(r.idle_kib), TARGET_IDLE_MIB, "MiB"),
        ]);
        t.rows.push(vec![
            "memory per 1,000 idle connections".into(),
            format!("≤ {TARGET_PER_1000_MIB} MB"),
            format!("{:.2} MiB", per_1000(r)),
            report::at_most(per_1000(r), TARGET_PER_1000_MIB, "MiB"),
        ]);
    }
    vec![s, t]
}
