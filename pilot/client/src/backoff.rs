//! Exponential reconnect backoff with full jitter.

use std::time::Duration;

/// Delays grow as `min * 2^attempt`, capped at `max`; each delay is drawn uniformly between
/// `min` and that cap ("full jitter"), so proxies that lost Pilot together do not return together.
#[derive(Debug)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: fastrand::Rng,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration, rng: fastrand::Rng) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
            rng,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt).unwrap_or(u32::MAX);
        let cap = self.min.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1).min(31);
        self.min + (cap - self.min).mul_f64(self.rng.f64())
    }

    /// Starts over after a connection that worked.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_stay_between_min_and_a_doubling_cap() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(5));
        let mut b = Backoff::new(min, max, fastrand::Rng::with_seed(7));
        for attempt in 0..40u32 {
            let cap = min
                .saturating_mul(1u32.checked_shl(attempt).unwrap_or(u32::MAX))
                .min(max);
            let d = b.next_delay();
            assert!(
                d >= min && d <= cap,
                "attempt {attempt}: {d:?} not in {min:?}..={cap:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[test]
    fn max_below_min_means_min() {
        let mut b = Backoff::new(
            Duration::from_secs(1),
            Duration::ZERO,
            fastrand::Rng::with_seed(1),
        );
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }
}
