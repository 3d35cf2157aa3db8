//! What every adapter of a remote registry (Consul, Nomad, Kubernetes) shares: retry backoff, a
//! token bucket that paces requests, and the health record that says whether the last snapshot
//! is current or stale.
//!
//! The rule for outages is the same everywhere: a registry that cannot be reached keeps its last
//! snapshot (never an empty one), marks itself stale, and retries with [`Backoff`] until it
//! answers again.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Exponential backoff with full jitter: the n-th delay is uniform in `[base, min(max, base·2ⁿ)]`.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The delay before the next attempt; each call widens the next window.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let span = ceiling.saturating_sub(self.base);
        let nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        self.base + Duration::from_nanos(fastrand::u64(0..=nanos))
    }

    /// Back to the first, shortest delay (after a success).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

impl Default for Backoff {
    /// 250 ms doubling up to 30 s.
    fn default() -> Self {
        Self::new(Duration::from_millis(250), Duration::from_secs(30))
    }
}

/// A token bucket: at most `burst` requests at once, refilled at `per_second`.
///
/// Used instead of a fixed sleep between blocking queries, so a registry that answers at once
/// (an index that moves all the time) is not hammered, while a quiet one costs nothing.
#[derive(Debug)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl RateLimit {
    /// `per_second` must be positive; `burst` is at least one.
    pub fn new(per_second: f64, burst: u32) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            per_second: if per_second > 0.0 { per_second } else { 1.0 },
            burst,
            tokens: burst,
            last: Instant::now(),
        }
    }

    /// Waits until a token is free and takes it.
    pub async fn acquire(&mut self) {
        let wait = self.take();
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token, returning how long the caller must wait before using it.
    fn take(&mut self) -> Duration {
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_second)
        }
    }
}

/// Whether a remote registry's snapshot is current, as shown by `rig status` and the metrics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HealthReport {
    /// When the registry last answered.
    pub last_success: Option<SystemTime>,
    /// Set while the registry cannot be reached: since when the snapshot may be out of date.
    pub stale_since: Option<SystemTime>,
    /// The last failure, as a sentence (e.g. "403 Forbidden: ACL not found").
    pub last_error: Option<String>,
    /// Failures in a row; 0 once it answers again.
    pub consecutive_failures: u32,
}

impl HealthReport {
    pub fn is_stale(&self) -> bool {
        self.stale_since.is_some()
    }
}

/// The shared, updatable [`HealthReport`] of one remote registry.
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<Mutex<HealthReport>>);

impl Health {
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry answered: the snapshot is current.
    pub fn success(&self) {
        let mut h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        h.last_success = Some(SystemTime::now());
        h.stale_since = None;
        h.last_error = None;
        h.consecutive_failures = 0;
    }

    /// The registry failed: the snapshot is kept but is stale from now (or from the first failure).
    pub fn failure(&self, error: impl Into<String>) {
        let mut h = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        h.stale_since.get_or_insert_with(SystemTime::now);
        h.last_error = Some(error.into());
        h.consecutive_failures = h.consecutive_failures.saturating_add(1);
    }

    pub fn report(&self) -> HealthReport {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_within_its_window_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for attempt in 0..10u32 {
            let d = b.next_delay();
            let ceiling = (Duration::from_millis(100) * 2u32.pow(attempt.min(20)))
                .min(Duration::from_secs(1));
            assert!(
                d >= Duration::from_millis(100) && d <= ceiling,
                "{attempt}: {d:?}"
            );
        }
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limit_lets_a_burst_through_then_paces() {
        let mut limit = RateLimit::new(10.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limit.acquire().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        limit.acquire().await;
        limit.acquire().await;
        let paced = start.elapsed();
        assert!(
            paced >= Duration::from_millis(199) && paced <= Duration::from_millis(210),
            "{paced:?}"
        );
    }

    #[test]
    fn health_is_stale_from_the_first_failure_until_a_success() {
        let h = Health::new();
        assert!(!h.report().is_stale());
        h.failure("connection refused");
        let first = h.report().stale_since;
        h.failure("500 Internal Server Error");
        let r = h.report();
        assert_eq!(r.stale_since, first);
        assert_eq!(r.consecutive_failures, 2);
        assert_eq!(r.last_error.as_deref(), Some("500 Internal Server Error"));
        h.success();
        let r = h.report();
        assert!(!r.is_stale());
        assert_eq!(r.consecutive_failures, 0);
        assert!(r.last_success.is_some());
    }
}
