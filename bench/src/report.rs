//! Results: one Markdown file and one SVG chart per scenario under `bench/results/`.

mod chart;
mod machine;

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

/// A table of results with the chart drawn from it.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub chart: Option<Chart>,
    /// Lines printed under the table: targets met or missed, caveats.
    pub notes: Vec<String>,
}

/// A grouped bar chart: for each group (x), one bar per series.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    /// `(series name, one value per group)`.
    pub series: Vec<(String, Vec<f64>)>,
}

impl Section {
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            ..Self::default()
        }
    }
}

/// Writes `<dir>/<scenario>.md` (command, machine and date, every section) and one SVG per chart:
/// `<scenario>.svg`, then `<scenario>-2.svg`, …; `rig` is the binary measured.
pub fn write(
    dir: &Path,
    scenario: &str,
    command: &str,
    rig: &Path,
    sections: &[Section],
) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    let mut md = String::new();
    writeln!(md, "# rig-bench: {scenario}\n")?;
    writeln!(md, "Produced by:\n\n```sh\n{command}\n```\n")?;
    writeln!(md, "## Machine\n")?;
    let facts: Vec<Vec<String>> = machine::facts(rig)
        .into_iter()
        .map(|(k, v)| vec![k, v])
        .collect();
    table(&mut md, &["fact".into(), "value".into()], &facts)?;
    let caveats = machine::caveats();
    if !caveats.is_empty() {
        writeln!(md)?;
        for c in &caveats {
            writeln!(md, "- {c}")?;
        }
    }
    let mut charts = 0;
    for s in sections {
        writeln!(md, "\n## {}\n", s.title)?;
        if !s.rows.is_empty() {
            table(&mut md, &s.headers, &s.rows)?;
        }
        if !s.notes.is_empty() {
            writeln!(md)?;
            for n in &s.notes {
                writeln!(md, "- {n}")?;
            }
        }
        if let Some(c) = &s.chart {
            charts += 1;
            let name = if charts == 1 {
                format!("{scenario}.svg")
            } else {
                format!("{scenario}-{charts}.svg")
            };
            chart::draw(c, &dir.join(&name)).with_context(|| format!("draw {name}"))?;
            writeln!(md, "\n![]({name})")?;
        }
    }
    let path = dir.join(format!("{scenario}.md"));
    std::fs::write(&path, md).with_context(|| format!("write {}", path.display()))?;
    tracing::info!(path = %path.display(), "report written");
    Ok(())
}

fn table(md: &mut String, headers: &[String], rows: &[Vec<String>]) -> anyhow::Result<()> {
    writeln!(md, "| {} |", headers.join(" | "))?;
    writeln!(md, "|{}", " --- |".repeat(headers.len()))?;
    for r in rows {
        writeln!(md, "| {} |", r.join(" | "))?;
    }
    Ok(())
}

/// What ran the harness at another priority than the default, as a command prefix
/// (`chrt -f 10 `, `nice -n -20 `), so the report's command line is the one that was run.
pub fn launch_prefix() -> String {
    machine::launch_prefix()
}

/// A microsecond figure for a table.
pub fn us(v: f64) -> String {
    format!("{v:.0} µs")
}

/// "met" or "missed by …" for `value <= limit` (lower is better).
pub fn at_most(value: f64, limit: f64, unit: &str) -> String {
    if value <= limit {
        format!("met ({:.1} {unit} under)", limit - value)
    } else {
        format!("**missed** by {:.1} {unit}", value - limit)
    }
}

/// "met" or "missed by …" for `value >= limit` (higher is better).
pub fn at_least(value: f64, limit: f64, unit: &str) -> String {
    if value >= limit {
        format!("met ({:.1} {unit} over)", value - limit)
    } else {
        format!("**missed** by {:.1} {unit}", limit - value)
    }
}

/// The median of sorted `values` (of an even count, the mean of the middle two); `None` when
/// there are none.
pub fn median_sorted(values: &[f64]) -> Option<f64> {
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some(f64::midpoint(values[n / 2 - 1], values[n / 2])),
    }
}

/// How the verdicts' "within the noise" is decided, for the reports' notes.
pub const MEDIAN_INTERVAL_NOTE: &str = "The median's interval in a verdict is distribution-free: \
    from the k-th smallest to the k-th largest round, k as large as keeps at least a 90 % chance \
    that it holds the true median of what the rounds sample. When it holds the target's value, \
    these rounds cannot tell the two contenders apart (five rounds at least give an interval).";

/// The least coverage asked of [`median_interval`].
pub const MEDIAN_COVERAGE: f64 = 0.90;

/// An interval that holds the true median of what the rounds sample with probability
/// `coverage`, whatever their distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MedianInterval {
    pub lo: f64,
    pub hi: f64,
    pub coverage: f64,
}

/// The distribution-free interval of the median from sorted `values`: the `k`-th smallest and
/// the `k`-th largest value, `k` as large as keeps the coverage, `1 − 2·P(B ≤ k − 1)` with `B`
/// binomial over `n` rounds with one half, at least `coverage`. `None` when too few values
/// reach it (fewer than five for 90 %).
pub fn median_interval(sorted: &[f64], coverage: f64) -> Option<MedianInterval> {
    let n = sorted.len();
    // P(B <= j) for j = 0, 1, ...: each round falls either side of the median with one half.
    let mut tail = 0.0;
    let mut choose = 1.0;
    let mut best = None;
    for k in 1..=n / 2 {
        let j = k - 1;
        if j > 0 {
            choose *= (n - j + 1) as f64 / j as f64;
        }
        tail += choose * 0.5f64.powi(i32::try_from(n).ok()?);
        let covered = 1.0 - 2.0 * tail;
        if covered < coverage {
            break;
        }
        best = Some(MedianInterval {
            lo: sorted[k - 1],
            hi: sorted[n - k],
            coverage: covered,
        });
    }
    best
}

/// What a verdict adds about the noise: whether the median's interval (see
/// [`median_interval`]) holds `threshold`, the value the target compares the median with.
/// Empty without an interval.
pub fn noise_clause(
    interval: Option<MedianInterval>,
    threshold: f64,
    show: impl Fn(f64) -> String,
) -> String {
    let Some(i) = interval else {
        return String::new();
    };
    let (lo, hi) = (show(i.lo), show(i.hi));
    let pct = (100.0 * i.coverage).floor();
    if i.lo <= threshold && threshold <= i.hi {
        format!(
            "; within the noise: the median's {pct:.0} % interval, {lo} … {hi}, holds {}",
            show(threshold)
        )
    } else {
        format!("; clear of the noise: the median's {pct:.0} % interval is {lo} … {hi}")
    }
}

/// The item whose `key` is the median of `items` (of an even count, the upper middle one), so
/// that a round's other figures stay with it; `None` when there are none.
pub fn median_by<T>(items: &[T], key: impl Fn(&T) -> f64) -> Option<&T> {
    let mut sorted: Vec<&T> = items.iter().collect();
    sorted.sort_by(|a, b| key(a).total_cmp(&key(b)));
    sorted.get(sorted.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_interval_takes_the_widest_order_statistics_that_keep_the_coverage() {
        let nine: Vec<f64> = (1..=9).map(f64::from).collect();
        // k = 2: 1 − 2·(1 + 9)/512 = 0.961; k = 3 would be 0.820.
        let i = median_interval(&nine, MEDIAN_COVERAGE).unwrap();
        assert_eq!((i.lo, i.hi), (2.0, 8.0));
        assert!((i.coverage - (1.0 - 20.0 / 512.0)).abs() < 1e-12);
        // Seven rounds: only the whole range reaches 90 % (k = 2 gives 0.875).
        let i = median_interval(&nine[..7], MEDIAN_COVERAGE).unwrap();
        assert_eq!((i.lo, i.hi), (1.0, 7.0));
        // Thirty rounds: the 11th smallest to the 11th largest (0.901; k = 12 gives 0.800).
        let thirty: Vec<f64> = (1..=30).map(f64::from).collect();
        let i = median_interval(&thirty, MEDIAN_COVERAGE).unwrap();
        assert_eq!((i.lo, i.hi), (11.0, 20.0));
        assert!(i.coverage > 0.90 && i.coverage < 0.91, "{}", i.coverage);
        // Four rounds reach 87.5 % at most.
        assert_eq!(median_interval(&nine[..4], MEDIAN_COVERAGE), None);
        assert_eq!(median_interval(&[], MEDIAN_COVERAGE), None);
    }

    #[test]
    fn the_median_item_is_the_middle_one_by_key_and_keeps_its_other_fields() {
        let rounds = [
            (30.0, 'a'),
            (10.0, 'b'),
            (20.0, 'c'),
            (50.0, 'd'),
            (40.0, 'e'),
        ];
        assert_eq!(median_by(&rounds, |r| r.0), Some(&(30.0, 'a')));
        assert_eq!(median_by(&rounds[..4], |r| r.0), Some(&(30.0, 'a')));
        assert_eq!(median_by(&rounds[..1], |r| r.0), Some(&(30.0, 'a')));
        assert_eq!(median_by(&[] as &[(f64, char)], |r| r.0), None);
        assert_eq!(median_by(&[f64::NAN, 1.0, 2.0], |v| *v), Some(&2.0));
    }
}
