//! Latency at fixed rates: every contender at each rate, alternated, open loop; percentiles of
//! each and of the latency it adds over direct in the same run.

use std::time::Duration;

use crate::contenders::{Framing, Kind, Setup};
use crate::loadgen::{self, LoadArgs, LoadResult};
use crate::procs::{self, CPU_CLIENT, CPU_PROXY};
use crate::report::{self, Chart, Section};

mod paired;

use paired::Paired;

/// What to measure.
#[derive(Debug, Clone)]
pub struct LatencyParams {
    pub rates: Vec<f64>,
    pub duration: Duration,
    pub warmup: Duration,
    pub connections: usize,
    /// Rounds at each rate, every contender once per round, in turn.
    pub rounds: usize,
    /// Then everything again with every proxy on the client's CPU (where there are two CPUs
    /// to pin to).
    pub client_cpu_too: bool,
}

/// The sections of a scenario and the contenders that failed (errors under load), with the
/// figures behind the tables for scenarios that derive more from them.
#[derive(Debug, Default)]
pub struct Outcome {
    pub sections: Vec<Section>,
    pub failures: Vec<String>,
    /// Latency: each rate's results, in table order.
    pub steps: Vec<Step>,
    /// Throughput: each contender's figure per protocol.
    pub throughput: Vec<crate::throughput::Measured>,
}

/// Adds a run's errors, if any, to `failures`: `who` is the contender and the load ("rig at
/// 1000 rps").
pub fn note_errors(failures: &mut Vec<String>, who: String, errors: u64, first: Option<&str>) {
    if errors > 0 {
        failures.push(format!(
            "{who}: {errors} errors, first: {}",
            first.unwrap_or_default()
        ));
    }
}

/// What every contender measured at one rate.
#[derive(Debug, Clone)]
pub struct Step {
    pub rate: f64,
    pub results: Vec<(Kind, LoadResult)>,
}

const QUANTILES: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

fn quantiles(r: &LoadResult) -> [f64; 4] {
    [r.p50_us, r.p90_us, r.p99_us, r.p999_us]
}

/// Where the proxies run during one pass over the rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// As the scenario pinned them: the proxy on its own CPU, the client and upstream on the
    /// other. Each request then wakes a CPU four times (client → proxy → upstream → proxy →
    /// client), and at low rates every CPU is idle in between.
    OwnCpu,
    /// Every proxy moved onto the client's and upstream's CPU for the pass: nothing crosses
    /// CPUs, so what is added is the proxy's own work and its context switches.
    ClientCpu,
}

impl Placement {
    fn label(self) -> &'static str {
        match self {
            Self::OwnCpu => "own CPU",
            Self::ClientCpu => "client's CPU",
        }
    }

    fn title_suffix(self) -> &'static str {
        match self {
            Self::OwnCpu => "",
            Self::ClientCpu => ", the proxy on the client's CPU",
        }
    }
}

pub async fn run(
    setup: &mut Setup,
    p: &LatencyParams,
    framing: &Framing,
) -> anyhow::Result<Outcome> {
    let mut out = Outcome::default();
    let (ours_added, theirs_added) = (
        format!("{} added", framing.ours.name()),
        format!("{} added", framing.latency_versus.name()),
    );
    let mut targets = Section::new(
        framing.latency_target,
        &[
            "placement",
            "rate",
            "quantile",
            &ours_added,
            &theirs_added,
            "same-round difference: median (range)",
            "verdict",
        ],
    );
    let mut placements = vec![Placement::OwnCpu];
    if p.client_cpu_too && procs::can_pin(CPU_PROXY) {
        placements.push(Placement::ClientCpu);
    }
    for placement in placements {
        if placement == Placement::ClientCpu {
            for c in &setup.contenders {
                c.repin(CPU_CLIENT)?;
            }
        }
        run_placement(setup, p, framing, placement, &mut out, &mut targets).await?;
        if placement == Placement::ClientCpu {
            for c in &setup.contenders {
                c.repin(CPU_PROXY)?;
            }
            targets.notes.push(
                "The client's-CPU rows measured every proxy moved onto the CPU of the load \
                 generator and the upstream: no wakeup crosses CPUs, so the added latency is \
                 the proxy's own work and context switches. With the proxy on its own CPU, \
                 each request wakes an idle CPU four times; on a virtual machine that halts \
                 idle vCPUs at once, those wakeups are most of what one hop adds at these \
                 rates, the same for every proxy."
                    .into(),
            );
        }
    }
    if !targets.rows.is_empty() {
        targets.notes.push(format!(
            "The verdict compares the two proxies round by round: in each round {ours} and {theirs} \
             ran seconds apart, while between rounds the machine drifts by as much as they \
             differ. The same-round difference is {ours}'s percentile minus {theirs}'s in one \
             round (direct cancels out); its median over the rounds must be at most zero. The \
             added columns are each contender's own median over the rounds, so their \
             difference can disagree with the paired one when rounds drift.",
            ours = framing.ours.name(),
            theirs = framing.latency_versus.name(),
        ));
        targets.notes.push(report::MEDIAN_INTERVAL_NOTE.into());
    } else {
        targets.notes.push(format!(
            "{} not available: no comparison.",
            framing.latency_versus.name()
        ));
    }
    out.sections.push(targets);
    Ok(out)
}

/// Every rate with the contenders where `placement` puts them: a table per rate, a chart on
/// the first, the targets' rows.
async fn run_placement(
    setup: &mut Setup,
    p: &LatencyParams,
    framing: &Framing,
    placement: Placement,
    out: &mut Outcome,
    targets: &mut Section,
) -> anyhow::Result<()> {
    let mut chart = Chart {
        title: format!(
            "Latency added over direct{} (lower is better)",
            placement.title_suffix()
        ),
        y_label: "added latency (µs)".into(),
        ..Chart::default()
    };
    let proxies: Vec<Kind> = setup
        .contenders
        .iter()
        .map(|c| c.kind)
        .filter(|k| *k != Kind::Direct)
        .collect();
    let mut series: Vec<(String, Vec<f64>)> = proxies
        .iter()
        .map(|k| (k.name().to_owned(), Vec::new()))
        .collect();
    let first_section = out.sections.len();
    for (step, &rate) in p.rates.iter().enumerate() {
        let n = setup.contenders.len();
        let mut rounds: Vec<(Kind, Vec<LoadResult>)> = setup
            .contenders
            .iter()
            .map(|c| (c.kind, Vec::new()))
            .collect();
        for round in 0..p.rounds {
            // Round robin, starting one further at each step and round, so no contender
            // always runs first.
            for i in 0..n {
                let at = (i + step + round) % n;
                let c = &mut setup.contenders[at];
                let args = LoadArgs {
                    target: c.addr,
                    rate: Some(rate),
                    duration_ms: p.duration.as_millis() as u64,
                    warmup_ms: p.warmup.as_millis() as u64,
                    connections: p.connections,
                };
                tracing::info!(contender = c.kind.name(), rate, round, "latency");
                let r = loadgen::measure(&args, CPU_CLIENT, setup.dir.path()).await?;
                c.check_alive()?;
                let who = format!("{} at {rate} rps", c.kind.name());
                note_errors(&mut out.failures, who, r.errors, r.first_error.as_deref());
                rounds[at].1.push(r);
            }
        }
        // The targets' p50 and p99, ours minus theirs within each round.
        let rounds_of = |kind| {
            rounds
                .iter()
                .find(|(k, _)| *k == kind)
                .map(|(_, rs)| rs.as_slice())
        };
        let paired = [0, 2].map(|i| {
            Paired::new(
                rounds_of(framing.ours)?,
                rounds_of(framing.latency_versus)?,
                |r| quantiles(r)[i],
            )
        });
        let mut results: Vec<(Kind, LoadResult)> = rounds
            .into_iter()
            .map(|(kind, rs)| (kind, median_of_rounds(&rs)))
            .collect();
        results.sort_by_key(|(k, _)| Kind::ALL.iter().position(|a| a == k));
        let direct = results
            .iter()
            .find(|(k, _)| *k == Kind::Direct)
            .map(|(_, r)| quantiles(r))
            .unwrap_or_default();
        let mut s = Section::new(
            format!("Latency at {rate} requests/s{}", placement.title_suffix()),
            &[
                "contender",
                "p50",
                "p90",
                "p99",
                "p99.9",
                "max",
                "added p50",
                "added p90",
                "added p99",
                "added p99.9",
                "requests",
                "errors",
            ],
        );
        let added_of = |kind: Kind| -> Option<[f64; 4]> {
            let (_, r) = results.iter().find(|(k, _)| *k == kind)?;
            let q = quantiles(r);
            Some(std::array::from_fn(|i| q[i] - direct[i]))
        };
        for (kind, r) in &results {
            let q = quantiles(r);
            let mut row = vec![kind.name().to_owned()];
            row.extend(q.iter().map(|v| report::us(*v)));
            row.push(report::us(r.max_us));
            match added_of(*kind).filter(|_| *kind != Kind::Direct) {
                Some(a) => row.extend(a.iter().map(|v| report::us(*v))),
                None => row.extend(["–"; 4].map(String::from)),
            }
            row.push(r.requests.to_string());
            row.push(r.errors.to_string());
            s.rows.push(row);
        }
        for (i, q) in QUANTILES.iter().enumerate() {
            chart.groups.push(format!("{} rps {q}", rate as u64));
            for (kind, (_, vals)) in proxies.iter().zip(series.iter_mut()) {
                vals.push(added_of(*kind).map_or(0.0, |a| a[i]));
            }
        }
        let noisy_direct: Vec<&str> = QUANTILES
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                results
                    .iter()
                    .any(|(k, _)| *k != Kind::Direct && added_of(*k).is_some_and(|a| a[*i] < 0.0))
            })
            .map(|(_, q)| *q)
            .collect();
        if !noisy_direct.is_empty() {
            let warning = format!(
                "At {rate} rps the direct run's own {} exceeded a proxied contender's: that run \
                 caught a stall of the machine, so the added values at those percentiles \
                 are negative and mean nothing alone. Comparing two contenders' added values \
                 still compares their raw percentiles (direct cancels out); rerun for clean \
                 figures.",
                noisy_direct.join(", ")
            );
            s.notes.push(warning.clone());
            targets.notes.push(warning);
        }
        if let (Some(rig), Some(ha)) = (added_of(framing.ours), added_of(framing.latency_versus)) {
            for (i, pair) in [0, 2].into_iter().zip(&paired) {
                let (difference, verdict) = match pair {
                    Some(p) => (p.describe(), p.verdict()),
                    None => ("–".into(), report::at_most(rig[i], ha[i], "µs")),
                };
                targets.rows.push(vec![
                    placement.label().into(),
                    format!("{rate}"),
                    QUANTILES[i].into(),
                    report::us(rig[i]),
                    report::us(ha[i]),
                    difference,
                    verdict,
                ]);
            }
        }
        s.notes.push(format!(
            "Open loop at a constant {rate} requests/s over {} keep-alive connections for {:?} \
             after {:?} of warm-up; latency from each request's intended send time (coordinated \
             omission corrected). Added = contender − direct at the same percentile.",
            p.connections, p.duration, p.warmup
        ));
        if p.rounds > 1 {
            s.notes.push(format!(
                "{} rounds, the contenders in turn in each: every percentile is the median of \
                 the rounds' values (max: the highest; requests and errors: the sums). A \
                 contender's p50 at 1,000 requests/s varied by ±30 µs between runs a minute \
                 apart on this shared virtual machine, as much as the proxies differ.",
                p.rounds
            ));
        }
        out.sections.push(s);
        // What other scenarios derive from (mtls's cost per hop) is the scenario's own
        // placement.
        if placement == Placement::OwnCpu {
            out.steps.push(Step { rate, results });
        }
    }
    chart.series = series;
    if let Some(first) = out.sections.get_mut(first_section) {
        first.chart = Some(chart);
    }
    Ok(())
}

/// One contender's rounds at one rate as one result: each percentile the median of the rounds'
/// values, the highest maximum, the requests and errors summed.
fn median_of_rounds(rounds: &[LoadResult]) -> LoadResult {
    let median =
        |f: fn(&LoadResult) -> f64| report::median_by(rounds, f).map(f).unwrap_or_default();
    LoadResult {
        requests: rounds.iter().map(|r| r.requests).sum(),
        errors: rounds.iter().map(|r| r.errors).sum(),
        rps: median(|r| r.rps),
        p50_us: median(|r| r.p50_us),
        p90_us: median(|r| r.p90_us),
        p99_us: median(|r| r.p99_us),
        p999_us: median(|r| r.p999_us),
        max_us: rounds.iter().map(|r| r.max_us).fold(0.0, f64::max),
        first_error: rounds.iter().find_map(|r| r.first_error.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(p50: f64, max: f64, errors: u64) -> LoadResult {
        LoadResult {
            requests: 1000,
            errors,
            rps: 1000.0,
            p50_us: p50,
            p90_us: p50 * 2.0,
            p99_us: p50 * 3.0,
            p999_us: p50 * 4.0,
            max_us: max,
            first_error: (errors > 0).then(|| "reset".to_owned()),
        }
    }

    #[test]
    fn rounds_give_median_percentiles_the_highest_max_and_summed_counts() {
        let r = median_of_rounds(&[
            result(400.0, 900.0, 0),
            result(380.0, 5000.0, 1),
            result(435.0, 700.0, 0),
        ]);
        assert_eq!((r.p50_us, r.p90_us, r.p999_us), (400.0, 800.0, 1600.0));
        assert_eq!((r.max_us, r.requests, r.errors), (5000.0, 3000, 1));
        assert_eq!(r.first_error.as_deref(), Some("reset"));
        assert_eq!(median_of_rounds(&[result(250.0, 1.0, 0)]).p50_us, 250.0);
    }
}
