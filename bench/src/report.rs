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
