//! Time as the detectors see it: the system's monotonic clock, or a fake one tests advance.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A source of monotonic time, injected so that ejection timelines can be tested without
/// sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Instant;
}

/// `Instant::now()`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

/// A clock that stands still until advanced; clones share one time.
#[derive(Debug, Clone)]
pub struct FakeClock {
    start: Instant,
    elapsed_nanos: Arc<AtomicU64>,
}

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

impl FakeClock {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            elapsed_nanos: Arc::default(),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.elapsed_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl Default for FakeClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + Duration::from_nanos(self.elapsed_nanos.load(Ordering::Relaxed))
    }
}
