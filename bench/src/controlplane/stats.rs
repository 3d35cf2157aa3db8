//! Percentiles of measured durations, and their formatting.

use std::time::Duration;

/// Nearest-rank percentiles of a set of samples.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Summary {
    pub count: usize,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// `None` without samples.
    pub(crate) fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| {
            // nearest rank: the smallest sample with at least q of the samples at or below it
            let rank = (q * samples.len() as f64).ceil().max(1.0) as usize;
            samples[rank.min(samples.len()) - 1]
        };
        Some(Self {
            count: samples.len(),
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: samples[samples.len() - 1],
        })
    }
}

/// Milliseconds with one decimal.
pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

pub(crate) fn ms_f64(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `"-"` when absent.
pub(crate) fn ms_opt(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let s = Summary::of((1..=100).map(Duration::from_millis).collect()).expect("samples");
        assert_eq!(s.count, 100);
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p90, Duration::from_millis(90));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        let one = Summary::of(vec![Duration::from_millis(7)]).expect("one");
        assert_eq!(one.p50, Duration::from_millis(7));
        assert_eq!(one.p99, Duration::from_millis(7));
        assert!(Summary::of(Vec::new()).is_none());
    }
}
