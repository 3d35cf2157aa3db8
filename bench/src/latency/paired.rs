//! The latency targets' verdict: ours minus theirs at one percentile, round by round.
//!
//! Two contenders measured in the same round ran seconds apart; between rounds a minute or more
//! passes, over which this shared virtual machine drifts by as much as the proxies differ (a
//! contender's p50 at 1,000 requests/s moved by ±30 µs). The difference within each round
//! cancels that drift, and its median over the rounds is what the verdict compares with zero;
//! how many rounds went the other way says whether the median is clear of the noise.

use crate::loadgen::LoadResult;
use crate::report;

/// Ours minus theirs at one percentile in each round, sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct Paired {
    diffs: Vec<f64>,
}

impl Paired {
    /// Pairs the rounds in order (round `i` of each); `None` without a pair.
    pub fn new(
        ours: &[LoadResult],
        theirs: &[LoadResult],
        quantile: impl Fn(&LoadResult) -> f64,
    ) -> Option<Self> {
        let mut diffs: Vec<f64> = ours
            .iter()
            .zip(theirs)
            .map(|(o, t)| quantile(o) - quantile(t))
            .collect();
        if diffs.is_empty() {
            return None;
        }
        diffs.sort_by(f64::total_cmp);
        Some(Self { diffs })
    }

    /// The median difference (of an even count, the mean of the middle two).
    pub fn median(&self) -> f64 {
        report::median_sorted(&self.diffs).unwrap_or_default()
    }

    /// "−7 µs (−25 … +12)": the median and the range over the rounds.
    pub fn describe(&self) -> String {
        let (lo, hi) = (self.diffs[0], self.diffs[self.diffs.len() - 1]);
        format!(
            "{} µs ({} … {})",
            signed(self.median()),
            signed(lo),
            signed(hi)
        )
    }

    /// "met" when the median difference is at most zero, else "missed by" it; with how many
    /// rounds went the other way, and whether the median's interval holds zero.
    pub fn verdict(&self) -> String {
        let noise = report::noise_clause(
            report::median_interval(&self.diffs, report::MEDIAN_COVERAGE),
            0.0,
            |d| format!("{} µs", signed(d)),
        );
        format!("{}{noise}", self.bare_verdict())
    }

    fn bare_verdict(&self) -> String {
        let m = self.median();
        let n = self.diffs.len();
        let over = self.diffs.iter().filter(|d| **d > 0.0).count();
        if m <= 0.0 {
            let rounds = match over {
                0 => format!("in all {n} rounds"),
                k => format!("over in {k} of {n} rounds"),
            };
            format!("met ({:.1} µs under; {rounds})", m.abs())
        } else {
            format!(
                "**missed** by {m:.1} µs (under in {} of {n} rounds)",
                n - over
            )
        }
    }
}

/// Whole microseconds with a sign; what rounds to zero is "0".
fn signed(v: f64) -> String {
    let v = v.round();
    if v > 0.0 {
        format!("+{v:.0}")
    } else if v < 0.0 {
        format!("−{:.0}", -v)
    } else {
        "0".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p50s(values: &[f64]) -> Vec<LoadResult> {
        values
            .iter()
            .map(|v| LoadResult {
                requests: 1,
                errors: 0,
                rps: 1.0,
                p50_us: *v,
                p90_us: 0.0,
                p99_us: 0.0,
                p999_us: 0.0,
                max_us: 0.0,
                first_error: None,
            })
            .collect()
    }

    #[test]
    fn differences_are_taken_within_each_round() {
        // Theirs is lower in median (300 < 310), but every round ours beat the one beside it:
        // the drift between rounds is larger than the difference, and pairing removes it.
        let ours = p50s(&[200.0, 290.0, 390.0]);
        let theirs = p50s(&[210.0, 300.0, 400.0]);
        let p = Paired::new(&ours, &theirs, |r| r.p50_us).unwrap();
        assert_eq!(p.median(), -10.0);
        assert_eq!(p.verdict(), "met (10.0 µs under; in all 3 rounds)");
        assert_eq!(p.describe(), "−10 µs (−10 … −10)");
    }

    #[test]
    fn a_positive_median_is_a_miss_and_rounds_the_other_way_are_counted() {
        let ours = p50s(&[220.0, 230.0, 200.0, 260.0]);
        let theirs = p50s(&[200.0, 200.0, 210.0, 250.0]);
        let p = Paired::new(&ours, &theirs, |r| r.p50_us).unwrap();
        // Differences −10, +10, +20, +30: the median of an even count is the middle two's mean.
        assert_eq!(p.median(), 15.0);
        assert_eq!(
            p.verdict(),
            "**missed** by 15.0 µs (under in 1 of 4 rounds)"
        );
        assert_eq!(p.describe(), "+15 µs (−10 … +30)");
    }

    #[test]
    fn the_verdict_says_whether_the_medians_interval_holds_zero() {
        // Seven rounds: the 90 % interval is the whole range.
        let theirs = p50s(&[200.0; 7]);
        let mixed = p50s(&[180.0, 190.0, 195.0, 205.0, 210.0, 230.0, 240.0]);
        let p = Paired::new(&mixed, &theirs, |r| r.p50_us).unwrap();
        assert_eq!(
            p.verdict(),
            "**missed** by 5.0 µs (under in 3 of 7 rounds); within the noise: the median's 98 % \
             interval, −20 µs … +40 µs, holds 0 µs"
        );
        let clear = p50s(&[150.0, 160.0, 170.0, 175.0, 180.0, 185.0, 190.0]);
        let p = Paired::new(&clear, &theirs, |r| r.p50_us).unwrap();
        assert_eq!(
            p.verdict(),
            "met (25.0 µs under; in all 7 rounds); clear of the noise: the median's 98 % \
             interval is −50 µs … −10 µs"
        );
    }

    #[test]
    fn a_tie_is_met_and_no_rounds_is_no_verdict() {
        let p = Paired::new(&p50s(&[5.0, 9.0]), &p50s(&[6.0, 8.0]), |r| r.p50_us).unwrap();
        assert_eq!(p.verdict(), "met (0.0 µs under; over in 1 of 2 rounds)");
        assert_eq!(p.describe(), "0 µs (−1 … +1)");
        let q = Paired::new(&p50s(&[10.0]), &p50s(&[10.3]), |r| r.p50_us).unwrap();
        assert_eq!(q.describe(), "0 µs (0 … 0)");
        assert!(Paired::new(&p50s(&[]), &p50s(&[1.0]), |r| r.p50_us).is_none());
    }
}
