//! Throughput: requests per second through each contender pinned to one core, closed loop
//! (wrk when installed, else our own generator), and over h2c and gRPC with h2load when
//! installed.

mod external;
mod h2;
mod ratios;
mod targets;

use std::time::{Duration, Instant};

use crate::contenders::{Contender, Framing, Kind, Setup};
use crate::latency::{Outcome, note_errors};
use crate::loadgen::{self, LoadArgs};
use crate::procs::{self, CPU_CLIENT, CPU_PROXY};
use crate::report::{self, Chart, Section};
use crate::tools::Tools;
use targets::targets;

/// The protocols of [`Measured`].
pub const HTTP1: &str = "HTTP/1.1";
pub const H2C: &str = "h2c";
pub const GRPC: &str = "gRPC";

/// What to measure.
#[derive(Debug, Clone)]
pub struct ThroughputParams {
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    /// h2load: connections and concurrent streams per connection.
    pub h2_connections: usize,
    pub h2_streams: usize,
    /// Rounds of runs, every contender once per round, in turn.
    pub rounds: usize,
}

/// One contender's figure.
#[derive(Debug, Clone)]
pub struct Measured {
    pub kind: Kind,
    /// [`HTTP1`], [`H2C`] or [`GRPC`].
    pub protocol: &'static str,
    /// The median over the rounds.
    pub rps: f64,
    /// Every round's figure, in order.
    pub runs: Vec<f64>,
    pub errors: u64,
    /// Share of one core the proxy used during the median round (100 % = saturated).
    pub cpu_pct: Option<f64>,
    /// Busy share of the client's CPU (load generator and upstream) in the median round.
    pub client_cpu_pct: Option<f64>,
}

/// The CPU shares of one run, in percent.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Shares {
    /// User + system time of the contender's processes over wall time (of one core).
    pub proxy: Option<f64>,
    /// How busy the client's CPU was (`/proc/stat`): the load generator and the upstream.
    pub client: Option<f64>,
}

#[cfg(test)]
impl Shares {
    /// A run's shares with the proxy's alone known.
    pub(crate) fn proxy_only(proxy: f64) -> Self {
        Self {
            proxy: Some(proxy),
            client: None,
        }
    }
}

/// Readings at the start of a run, for its [`Shares`] at the end.
struct Meter {
    proxy_secs: Option<f64>,
    client: Option<(u64, u64)>,
    since: Instant,
}

impl Meter {
    fn start(c: &Contender) -> Self {
        Self {
            proxy_secs: c.cpu_secs(),
            // Without pinning, the client shares every CPU with the proxy: no share of its own.
            client: procs::can_pin(CPU_PROXY)
                .then(|| procs::cpu_ticks(CPU_CLIENT))
                .flatten(),
            since: Instant::now(),
        }
    }

    fn shares(&self, c: &Contender) -> Shares {
        let wall = self.since.elapsed().as_secs_f64();
        let proxy = c
            .cpu_secs()
            .zip(self.proxy_secs)
            .map(|(now, then)| 100.0 * (now - then) / wall);
        let client = self
            .client
            .zip(procs::cpu_ticks(CPU_CLIENT))
            .and_then(|(then, now)| procs::busy_pct(then, now));
        Shares { proxy, client }
    }
}

impl Measured {
    /// One contender's rounds (each with its CPU shares) as one figure: the median round's.
    fn of_rounds(
        kind: Kind,
        protocol: &'static str,
        rounds: &[(f64, Shares)],
        errors: u64,
    ) -> Self {
        let (rps, shares) =
            report::median_by(rounds, |r| r.0).map_or((0.0, Shares::default()), |m| *m);
        Self {
            kind,
            protocol,
            rps,
            runs: rounds.iter().map(|r| r.0).collect(),
            errors,
            cpu_pct: shares.proxy,
            client_cpu_pct: shares.client,
        }
    }
}

pub async fn run(
    setup: &mut Setup,
    tools: &Tools,
    p: &ThroughputParams,
    framing: &Framing,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let mut rounds = vec![Vec::new(); setup.contenders.len()];
    let mut errors = vec![0; setup.contenders.len()];
    for round in 1..=p.rounds {
        for (i, c) in setup.contenders.iter_mut().enumerate() {
            tracing::info!(contender = c.kind.name(), round, "throughput HTTP/1.1");
            let (rps, errs, cpu) = h1_one(c, tools, p, setup.dir.path(), &mut out.failures).await?;
            rounds[i].push((rps, cpu));
            errors[i] += errs;
        }
    }
    let h1: Vec<Measured> = setup
        .contenders
        .iter()
        .zip(rounds.iter().zip(&errors))
        .map(|(c, (r, &e))| Measured::of_rounds(c.kind, HTTP1, r, e))
        .collect();
    let (tool, how) = match &tools.wrk {
        Some(_) => ("wrk", format!("wrk -t1 -c{}", p.connections)),
        None => (
            "rig-bench loadgen",
            format!("{} connections", p.connections),
        ),
    };
    let mut s = table(
        &format!("Throughput, HTTP/1.1, {}", framing.scope),
        &h1,
        &format!(
            "Closed loop with {tool} ({how}) for {:?} after {:?} of warm-up, {}",
            p.duration, p.warmup, framing.pinning
        ),
    );
    if p.rounds > 1 {
        s.notes.push(format!(
            "{} rounds, the contenders in turn in each; requests/s is the median round's (its \
             CPU too), and the runs column lists every round in thousands of requests/s. Runs \
             of one contender a minute apart vary by up to ±10 % on this shared virtual \
             machine, so a single run decides nothing.",
            p.rounds
        ));
    }
    let mut chart = Chart {
        title: format!("Requests per second, {} (higher is better)", framing.scope),
        y_label: "requests/s".into(),
        groups: vec!["HTTP/1.1".into()],
        series: h1
            .iter()
            .map(|m| (m.kind.name().into(), vec![m.rps]))
            .collect(),
    };
    let mut sections = vec![];
    let mut h2_figures = Vec::new();
    if let Some(h2load) = &tools.h2load {
        for protocol in [H2C, GRPC] {
            let Some((measured, t)) =
                h2::run(setup, h2load, p, framing, protocol, &mut out.failures).await?
            else {
                continue;
            };
            for (name, vals) in &mut chart.series {
                vals.push(
                    measured
                        .iter()
                        .find(|m| m.kind.name() == name)
                        .map_or(0.0, |m| m.rps),
                );
            }
            chart.groups.push(protocol.into());
            sections.push(t);
            h2_figures.extend(measured);
        }
    } else {
        s.notes
            .push("h2load not installed: h2c and gRPC not measured.".into());
    }
    s.chart = Some(chart);
    sections.insert(0, s);
    out.throughput = h1.into_iter().chain(h2_figures).collect();
    sections.push(targets(&out.throughput, framing));
    out.sections = sections;
    Ok(out)
}

/// One HTTP/1.1 run: requests per second, errors, and the CPU shares.
async fn h1_one(
    c: &mut Contender,
    tools: &Tools,
    p: &ThroughputParams,
    logdir: &std::path::Path,
    failures: &mut Vec<String>,
) -> anyhow::Result<(f64, u64, Shares)> {
    let (rps, errors, first, cpu) = match &tools.wrk {
        Some(wrk) => {
            // wrk has no warm-up of its own: a first short run, not counted. wrk counts whole
            // seconds, so a warm-up under one (smoke mode) is skipped rather than stretched.
            if p.warmup >= Duration::from_secs(1) {
                external::wrk(wrk, c.addr, p.connections, p.warmup).await?;
            }
            let meter = Meter::start(c);
            let r = external::wrk(wrk, c.addr, p.connections, p.duration).await?;
            (r.rps, r.errors, r.first_error, meter.shares(c))
        }
        None => {
            let args = LoadArgs {
                target: c.addr,
                rate: None,
                duration_ms: p.duration.as_millis() as u64,
                warmup_ms: p.warmup.as_millis() as u64,
                connections: p.connections,
            };
            let meter = Meter::start(c);
            let r = loadgen::measure(&args, CPU_CLIENT, logdir).await?;
            (r.rps, r.errors, r.first_error, meter.shares(c))
        }
    };
    c.check_alive()?;
    note_errors(failures, c.kind.name().to_owned(), errors, first.as_deref());
    Ok((rps, errors, cpu))
}

fn table(title: &str, ms: &[Measured], note: &str) -> Section {
    let mut s = Section::new(
        title,
        &[
            "contender",
            "requests/s",
            "vs direct",
            "proxy CPU",
            "client CPU",
            "requests per proxy CPU-second",
            "errors",
            "runs (k req/s)",
        ],
    );
    let direct = ms.iter().find(|m| m.kind == Kind::Direct).map(|m| m.rps);
    for m in ms {
        s.rows.push(vec![
            m.kind.name().into(),
            format!("{:.0}", m.rps),
            direct.map_or("–".into(), |d| format!("{:.2}", m.rps / d)),
            m.cpu_pct.map_or("–".into(), |c| format!("{c:.0} %")),
            m.client_cpu_pct.map_or("–".into(), |c| format!("{c:.0} %")),
            m.cpu_pct
                .filter(|c| *c > 0.0)
                .map_or("–".into(), |c| format!("{:.0}", m.rps * 100.0 / c)),
            m.errors.to_string(),
            m.runs
                .iter()
                .map(|r| format!("{:.1}", r / 1000.0))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    s.notes.push(note.into());
    s.notes.push(
        "Proxy CPU is user + system time over wall time, summed over every process carrying the \
         traffic (both hops of a two-hop contender); 100 % = CPU 1 saturated, lower means the \
         client side on CPU 0, or another process on CPU 1, was the limit. Client CPU is how \
         busy CPU 0 was (/proc/stat: the load generator, the upstream and the kernel's work for \
         them); near 95 % it was saturated, and the run measured the client side as much as \
         the proxy. Requests per proxy CPU-second is the cost of a request, comparable even \
         then."
            .into(),
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shares(proxy: f64) -> Shares {
        Shares::proxy_only(proxy)
    }

    #[test]
    fn rounds_are_compared_by_their_median_with_its_cpu() {
        let rounds = [
            (41_000.0, shares(95.0)),
            (47_000.0, shares(96.0)),
            (39_000.0, shares(90.0)),
            (
                44_000.0,
                Shares {
                    proxy: Some(94.0),
                    client: Some(93.5),
                },
            ),
            (45_000.0, shares(93.0)),
        ];
        let m = Measured::of_rounds(Kind::Rig, HTTP1, &rounds, 2);
        assert_eq!((m.rps, m.cpu_pct, m.errors), (44_000.0, Some(94.0), 2));
        assert_eq!(m.client_cpu_pct, Some(93.5), "the median round's");
        assert_eq!(m.runs, [41_000.0, 47_000.0, 39_000.0, 44_000.0, 45_000.0]);
        let one = Measured::of_rounds(Kind::Haproxy, H2C, &[(50_000.0, Shares::default())], 0);
        assert_eq!((one.rps, one.cpu_pct), (50_000.0, None));
    }
}
