//! The throughput targets' verdict: ours over theirs, round by round.
//!
//! Within a round the contenders run seconds apart; between rounds this shared virtual machine
//! drifts by more than the proxies differ (one binary's runs a few minutes apart vary by
//! ±15 %). Each contender's median round can then fall in a fast stretch for one and a slow one
//! for the other. The ratio within each round cancels most of that drift, and its median over
//! the rounds is what the verdict compares with one, as the latency targets do with their
//! differences ([`crate::latency`]).

use crate::report;

/// Ours over theirs in each round (round `i` of each), sorted.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundRatios {
    ratios: Vec<f64>,
}

impl RoundRatios {
    /// Pairs the rounds in order; a round where theirs measured nothing is left out. `None`
    /// without a pair.
    pub fn new(ours: &[f64], theirs: &[f64]) -> Option<Self> {
        let mut ratios: Vec<f64> = ours
            .iter()
            .zip(theirs)
            .filter(|(_, t)| **t > 0.0)
            .map(|(o, t)| o / t)
            .collect();
        ratios.sort_by(f64::total_cmp);
        report::median_sorted(&ratios)?;
        Some(Self { ratios })
    }

    /// The median ratio (of an even count, the mean of the middle two).
    pub fn median(&self) -> f64 {
        report::median_sorted(&self.ratios).unwrap_or_default()
    }

    /// "1.04 (0.84 … 1.26)": the median and the range over the rounds.
    pub fn describe(&self) -> String {
        let (lo, hi) = (self.ratios[0], self.ratios[self.ratios.len() - 1]);
        format!("{:.2} ({lo:.2} … {hi:.2})", self.median())
    }

    /// "met" when the median ratio is at least one, else "missed by" the shortfall in percent;
    /// with how many rounds went the other way, and whether the median's interval holds one.
    pub fn verdict(&self) -> String {
        let noise = report::noise_clause(
            report::median_interval(&self.ratios, report::MEDIAN_COVERAGE),
            1.0,
            |r| format!("{r:.2}"),
        );
        format!("{}{noise}", self.bare_verdict())
    }

    fn bare_verdict(&self) -> String {
        let m = self.median();
        let n = self.ratios.len();
        let ahead = self.ratios.iter().filter(|r| **r >= 1.0).count();
        if m >= 1.0 {
            let rounds = match n - ahead {
                0 => format!("ahead in all {n} rounds"),
                k => format!("behind in {k} of {n} rounds"),
            };
            format!("met ({:.1} % over; {rounds})", 100.0 * (m - 1.0))
        } else {
            format!(
                "**missed** by {:.1} % (ahead in {ahead} of {n} rounds)",
                100.0 * (1.0 - m)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_are_taken_within_each_round() {
        // Theirs has the higher median round (84 > 80), but ours was ahead in every round but
        // one: the rounds drifted more than the proxies differ.
        let ours = [80.0, 86.0, 88.0, 71.0, 64.0];
        let theirs = [83.0, 82.0, 84.0, 85.0, 59.0];
        let r = RoundRatios::new(&ours, &theirs).unwrap();
        assert!((r.median() - 88.0 / 84.0).abs() < 1e-9);
        assert_eq!(r.describe(), "1.05 (0.84 … 1.08)");
        assert_eq!(
            r.verdict(),
            "met (4.8 % over; behind in 2 of 5 rounds); within the noise: the median's 93 % \
             interval, 0.84 … 1.08, holds 1.00"
        );
    }

    #[test]
    fn a_median_under_one_is_a_miss_and_rounds_ahead_are_counted() {
        let r =
            RoundRatios::new(&[90.0, 100.0, 95.0, 110.0], &[100.0, 100.0, 100.0, 100.0]).unwrap();
        // Ratios 0.90, 0.95, 1.00, 1.10: the median of an even count is the middle two's mean.
        assert!((r.median() - 0.975).abs() < 1e-9);
        assert_eq!(r.verdict(), "**missed** by 2.5 % (ahead in 2 of 4 rounds)");
        let all = RoundRatios::new(&[2.0, 3.0], &[1.0, 1.0]).unwrap();
        assert_eq!(all.verdict(), "met (150.0 % over; ahead in all 2 rounds)");
    }

    #[test]
    fn the_verdict_says_whether_the_medians_interval_holds_one() {
        // Nine rounds: the 96 % interval runs from the second smallest to the second largest.
        let theirs = [100.0; 9];
        let tie = [86.0, 93.0, 96.0, 98.0, 99.7, 103.0, 105.0, 110.0, 118.0];
        let r = RoundRatios::new(&tie, &theirs).unwrap();
        assert_eq!(
            r.verdict(),
            "**missed** by 0.3 % (ahead in 4 of 9 rounds); within the noise: the median's 96 % \
             interval, 0.93 … 1.10, holds 1.00"
        );
        let ahead = [99.0, 110.0, 112.0, 115.0, 118.0, 120.0, 121.0, 125.0, 130.0];
        let r = RoundRatios::new(&ahead, &theirs).unwrap();
        assert_eq!(
            r.verdict(),
            "met (18.0 % over; behind in 1 of 9 rounds); clear of the noise: the median's 96 % \
             interval is 1.10 … 1.25"
        );
    }

    #[test]
    fn rounds_without_a_figure_are_left_out() {
        let r = RoundRatios::new(&[50.0, 60.0, 70.0], &[0.0, 60.0]).unwrap();
        assert_eq!(r.describe(), "1.00 (1.00 … 1.00)");
        assert!(RoundRatios::new(&[50.0], &[0.0]).is_none());
        assert!(RoundRatios::new(&[], &[1.0]).is_none());
    }
}
