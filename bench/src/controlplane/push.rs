//! One size of the push benchmark: `rig up` with N simulated proxies connected, then
//! endpoint changes written to the registry file and timed until each proxy has them.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;

use super::rig::{Http, RigUp, write_atomically};
use super::sim::{Board, connect_all};
use super::topology;

/// Longest `rig up` may take to load the registry and answer `/ready`.
const STARTUP: Duration = Duration::from_secs(60);
/// Time for memory to settle before it is read (allocator, lazily started tasks).
const MEMORY_SETTLE: Duration = Duration::from_secs(1);
/// Pause between rounds: lets the ACKs of the last push drain, so each round starts idle
/// and no two edits fall into one debounce window (file 50 ms + Pilot 100 ms).
const ROUND_GAP: Duration = Duration::from_millis(300);
/// How long a round (or the initial sync) may take: a base plus a share per proxy.
const WAIT_BASE: Duration = Duration::from_secs(10);
const WAIT_PER_PROXY: Duration = Duration::from_millis(5);
/// How often Pilot's `/metrics` is read during a round, to time its own steps. Fine enough
/// for a resolution well under the debounce, coarse enough to cost Pilot nothing visible.
const METRICS_POLL: Duration = Duration::from_millis(5);

/// Everything measured at one size.
#[derive(Debug, Default)]
pub(crate) struct SizeResult {
    pub proxies: usize,
    /// Proxies that finished the initial sync (CDS, LDS and EDS received and ACKed).
    pub synced: usize,
    pub sync_time: Option<Duration>,
    pub rounds: usize,
    /// Write → the proxy received the change, for every proxy and round.
    pub latencies: Vec<Duration>,
    /// (proxy, round) pairs that never received the change in time.
    pub missing: usize,
    /// Per round: write → the first proxy had the change, and first → last proxy.
    pub first: Vec<Duration>,
    pub spread: Vec<Duration>,
    /// Per round: write → Pilot published the debounced snapshot (seen on `/metrics`).
    pub to_snapshot: Vec<Duration>,
    /// Per round: snapshot published → Pilot had queued the EDS push to every stream.
    pub fan_out: Vec<Duration>,
    /// KiB: idle (registry loaded, nothing connected), synced, after the rounds, and peak.
    pub rss_idle: Option<u64>,
    pub rss_synced: Option<u64>,
    pub rss_after: Option<u64>,
    pub rss_peak: Option<u64>,
    pub failed_streams: usize,
    pub last_stream_error: Option<String>,
    /// Why the size stopped early, if it did.
    pub error: Option<String>,
}

/// Runs one size; failures after `rig up` started are recorded in the result.
pub(crate) async fn run_size(rig: &Path, n: usize, changes: usize) -> anyhow::Result<SizeResult> {
    let dir = tempfile::Builder::new()
        .prefix("rig-bench-push-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let registry = dir.path().join("registry.hcl");
    let sim = topology::sim_service(n);
    write_atomically(&registry, &topology::registry(0, &sim))?;
    let mut up = RigUp::start(rig, &registry, dir.path(), STARTUP).await?;
    let mut result = SizeResult {
        proxies: n,
        ..SizeResult::default()
    };
    if let Err(e) = measure(&mut up, &registry, &sim, n, changes, &mut result).await {
        result.error = Some(format!("{e:#}"));
    }
    if up.proc.check_alive().is_err() && result.error.is_none() {
        result.error = Some("rig up exited during the run".to_owned());
    }
    Ok(result)
}

async fn measure(
    up: &mut RigUp,
    registry: &Path,
    sim: &str,
    n: usize,
    changes: usize,
    out: &mut SizeResult,
) -> anyhow::Result<()> {
    let wait = WAIT_BASE + WAIT_PER_PROXY * u32::try_from(n).unwrap_or(u32::MAX);
    tokio::time::sleep(MEMORY_SETTLE).await;
    out.rss_idle = Some(up.proc.memory_kb()?.0);

    let board = Board::new(n, topology::moving_port(0));
    let start = Instant::now();
    let clients = connect_all(up.xds, topology::sim_names(n), &board).await?;
    out.synced = board.wait_all(wait).await;
    up.proc.check_alive()?;
    if out.synced < n {
        out.failed_streams = board.failed.load(Ordering::SeqCst);
        out.last_stream_error = board.last_error.lock().ok().and_then(|e| e.clone());
        anyhow::bail!(
            "only {} of {n} proxies synced within {wait:?} ({} streams failed)",
            out.synced,
            out.failed_streams
        );
    }
    out.sync_time = Some(start.elapsed());
    tokio::time::sleep(MEMORY_SETTLE).await;
    out.rss_synced = Some(up.proc.memory_kb()?.0);

    let mut metrics = Http::new(up.debug);
    for round in 1..=changes {
        tokio::time::sleep(ROUND_GAP).await;
        let before = PilotCounters::read(&mut metrics).await?;
        board.next_round(topology::moving_port(round));
        let text = topology::registry(round, sim);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = tokio::spawn(poll_pilot(Http::new(up.debug), before, n, stop.clone()));
        let written = Instant::now();
        write_atomically(registry, &text)?;
        let arrived = board.wait_all(wait).await;
        stop.store(true, Ordering::SeqCst);
        let (snapshot_at, pushed_at) = poller.await.unwrap_or((None, None));
        up.proc.check_alive()?;
        out.rounds += 1;
        out.missing += n - arrived;
        let arrivals = board.arrivals();
        if let (Some(first), Some(last)) = (arrivals.iter().min(), arrivals.iter().max()) {
            out.first.push(first.saturating_duration_since(written));
            out.spread.push(last.saturating_duration_since(*first));
        }
        out.latencies.extend(
            arrivals
                .iter()
                .map(|t| t.saturating_duration_since(written)),
        );
        if let Some(s) = snapshot_at {
            out.to_snapshot.push(s.saturating_duration_since(written));
            if let Some(p) = pushed_at {
                out.fan_out.push(p.saturating_duration_since(s));
            }
        }
    }
    out.failed_streams = board.failed.load(Ordering::SeqCst);
    out.last_stream_error = board.last_error.lock().ok().and_then(|e| e.clone());
    let (rss, peak) = up.proc.memory_kb()?;
    out.rss_after = Some(rss);
    out.rss_peak = Some(peak);
    // dropping the set aborts every stream before `rig up` is killed
    drop(clients);
    Ok(())
}

/// The two Pilot metrics that time its own steps.
#[derive(Debug, Clone, Copy)]
struct PilotCounters {
    snapshot_version: u64,
    eds_pushes: u64,
}

impl PilotCounters {
    async fn read(http: &mut Http) -> anyhow::Result<Self> {
        let r = http.get("/metrics").await?;
        let text = std::str::from_utf8(&r.body).context("metrics are not UTF-8")?;
        Ok(Self {
            snapshot_version: metric(text, "pilot_snapshot_version")
                .context("no pilot_snapshot_version in /metrics")?,
            eds_pushes: metric(text, "pilot_xds_pushes_total{type=\"EDS\"}").unwrap_or(0),
        })
    }
}

/// Reads Pilot's `/metrics` until it has published a newer snapshot and queued `n` more EDS
/// pushes (or `stop`): returns when each was first seen.
async fn poll_pilot(
    mut http: Http,
    before: PilotCounters,
    n: usize,
    stop: Arc<AtomicBool>,
) -> (Option<Instant>, Option<Instant>) {
    let target = before.eds_pushes + u64::try_from(n).unwrap_or(u64::MAX);
    let (mut snapshot_at, mut pushed_at) = (None, None);
    let mut tick = tokio::time::interval(METRICS_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    while !stop.load(Ordering::SeqCst) && pushed_at.is_none() {
        tick.tick().await;
        let Ok(now) = PilotCounters::read(&mut http).await else {
            continue;
        };
        let seen = Instant::now();
        if snapshot_at.is_none() && now.snapshot_version > before.snapshot_version {
            snapshot_at = Some(seen);
        }
        if snapshot_at.is_some() && now.eds_pushes >= target {
            pushed_at = Some(seen);
        }
    }
    (snapshot_at, pushed_at)
}

/// The value of the sample named exactly `key` (name and labels) in Prometheus text.
fn metric(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(k, _)| *k == key)
        .and_then(|(_, v)| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[cfg(test)]
mod tests {
    use super::metric;

    #[test]
    fn reads_prometheus_text() {
        let text = "# HELP x\npilot_snapshot_version 7\npilot_xds_pushes_total{type=\"EDS\"} 1200\npilot_xds_pushes_total{type=\"CDS\"} 3\n";
        assert_eq!(metric(text, "pilot_snapshot_version"), Some(7));
        assert_eq!(
            metric(text, "pilot_xds_pushes_total{type=\"EDS\"}"),
            Some(1200)
        );
        assert_eq!(metric(text, "pilot_xds_pushes_total{type=\"RDS\"}"), None);
    }
}
