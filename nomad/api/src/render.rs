//! Pieces of the `nomad` CLI's output shared by the run and plan reports.

use std::fmt::{self, Write as _};

use crate::types::AllocationMetric;

/// How much of a UUID the `nomad` CLI shows without `-verbose`.
const SHORT_ID: usize = 8;

/// The first eight characters of an ID, as the CLI shows it.
pub(crate) fn short(id: &str) -> &str {
    id.get(..SHORT_ID).unwrap_or(id)
}

/// `Task Group "web" (failed to place 2 allocations):` and the reasons below it, each line
/// starting with `prefix`.
pub(crate) fn failed_group(
    f: &mut fmt::Formatter<'_>,
    group: &str,
    metric: &AllocationMetric,
    prefix: &str,
) -> fmt::Result {
    let failed = 1 + metric.coalesced_failures;
    let plural = if failed == 1 { "" } else { "s" };
    writeln!(
        f,
        "{prefix}Task Group {group:?} (failed to place {failed} allocation{plural}):"
    )?;
    f.write_str(&metric_lines(metric, &format!("{prefix}  ")))
}

/// The reasons of an [`AllocationMetric`], one `* …` line each, as `formatAllocMetrics` in
/// Nomad's `command/monitor.go` words them.
pub(crate) fn metric_lines(m: &AllocationMetric, prefix: &str) -> String {
    let mut out = String::new();
    let mut line = |args: fmt::Arguments<'_>| {
        let _ = writeln!(out, "{prefix}* {args}");
    };
    if m.nodes_evaluated == 0 {
        line(format_args!("No nodes were eligible for evaluation"));
    }
    for (dc, available) in &m.nodes_available {
        if *available == 0 {
            line(format_args!("No nodes are available in datacenter {dc:?}"));
        }
    }
    for (class, n) in &m.class_filtered {
        line(format_args!(
            "Class {class:?}: {n} nodes excluded by filter"
        ));
    }
    for (constraint, n) in &m.constraint_filtered {
        line(format_args!(
            "Constraint {constraint:?}: {n} nodes excluded by filter"
        ));
    }
    if m.nodes_exhausted > 0 {
        line(format_args!(
            "Resources exhausted on {} nodes",
            m.nodes_exhausted
        ));
    }
    for (class, n) in &m.class_exhausted {
        line(format_args!("Class {class:?} exhausted on {n} nodes"));
    }
    for (dimension, n) in &m.dimension_exhausted {
        line(format_args!(
            "Dimension {dimension:?} exhausted on {n} nodes"
        ));
    }
    for dimension in &m.quota_exhausted {
        line(format_args!("Quota limit hit {dimension:?}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhausted_memory() {
        let m = AllocationMetric {
            nodes_evaluated: 1,
            nodes_exhausted: 1,
            dimension_exhausted: [("memory".to_owned(), 1)].into(),
            ..AllocationMetric::default()
        };
        assert_eq!(
            metric_lines(&m, "  "),
            "  * Resources exhausted on 1 nodes\n  * Dimension \"memory\" exhausted on 1 nodes\n"
        );
        assert_eq!(short("5456bd7a-9fc0"), "5456bd7a");
        assert_eq!(short("abc"), "abc");
    }
}
