//! Retry budgets: retries limited to a share of the requests in flight.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Envoy's default `budget_percent`: retries may add a fifth to the load, never multiply it.
pub const DEFAULT_BUDGET_PERCENT: f64 = 20.0;
/// Envoy's default `min_retry_concurrency`: a quiet cluster can still retry a few requests.
pub const DEFAULT_MIN_RETRY_CONCURRENCY: u32 = 3;

/// Envoy's `retry_budget`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryBudgetConfig {
    /// Concurrent retries allowed, as a percentage (0–100) of the active requests.
    pub budget_percent: f64,
    /// Concurrent retries allowed whatever the active requests.
    pub min_retry_concurrency: u32,
}

/// Counts a cluster's active requests and active retries. Cheap to clone; clones share counts.
///
/// Every upstream attempt (first tries and retries alike, as Envoy counts them) holds an
/// [`ActiveRequest`]; a retry also holds a [`RetryPermit`], granted while the active retries stay
/// under `max(min_retry_concurrency, budget_percent × active requests)`.
#[derive(Clone)]
pub struct RetryBudget {
    inner: Arc<Inner>,
}

/// One active request, released when dropped.
#[must_use = "the request stops counting as soon as this is dropped"]
pub struct ActiveRequest {
    inner: Arc<Inner>,
}

/// One active retry, released when dropped.
#[must_use = "the retry stops counting as soon as this is dropped"]
pub struct RetryPermit {
    inner: Arc<Inner>,
}

/// The budget is spent: the request fails with its last attempt's error instead of retrying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("retry budget exhausted: {active_retries} retries active, {allowed} allowed")]
pub struct RetryRefused {
    pub active_retries: u32,
    pub allowed: u32,
}

struct Inner {
    config: RetryBudgetConfig,
    requests: AtomicU32,
    retries: AtomicU32,
}

impl Default for RetryBudgetConfig {
    fn default() -> Self {
        Self {
            budget_percent: DEFAULT_BUDGET_PERCENT,
            min_retry_concurrency: DEFAULT_MIN_RETRY_CONCURRENCY,
        }
    }
}

impl RetryBudget {
    /// A budget with `config`; a percentage outside 0–100 (or NaN) is clamped into it.
    pub fn new(config: RetryBudgetConfig) -> Self {
        let budget_percent = if config.budget_percent.is_nan() {
            0.0
        } else {
            config.budget_percent.clamp(0.0, 100.0)
        };
        Self {
            inner: Arc::new(Inner {
                config: RetryBudgetConfig {
                    budget_percent,
                    ..config
                },
                requests: AtomicU32::new(0),
                retries: AtomicU32::new(0),
            }),
        }
    }

    pub fn config(&self) -> RetryBudgetConfig {
        self.inner.config
    }

    /// Counts an upstream attempt as active until the returned guard drops.
    pub fn request(&self) -> ActiveRequest {
        self.inner.requests.fetch_add(1, Ordering::AcqRel);
        ActiveRequest {
            inner: Arc::clone(&self.inner),
        }
    }

    /// How many retries may be active now.
    pub fn allowed(&self) -> u32 {
        let active = self.inner.requests.load(Ordering::Acquire);
        let share = (f64::from(active) * self.inner.config.budget_percent / 100.0) as u32;
        share.max(self.inner.config.min_retry_concurrency)
    }

    /// A permit for one retry, or a refusal when the active retries reached the budget.
    pub fn try_retry(&self) -> Result<RetryPermit, RetryRefused> {
        let allowed = self.allowed();
        self.inner
            .retries
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < allowed).then_some(n + 1)
            })
            .map_err(|active_retries| RetryRefused {
                active_retries,
                allowed,
            })?;
        Ok(RetryPermit {
            inner: Arc::clone(&self.inner),
        })
    }

    pub fn active_requests(&self) -> u32 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    pub fn active_retries(&self) -> u32 {
        self.inner.retries.load(Ordering::Relaxed)
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new(RetryBudgetConfig::default())
    }
}

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        self.inner.requests.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for RetryPermit {
    fn drop(&mut self) {
        self.inner.retries.fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("config", &self.inner.config)
            .field("active_requests", &self.active_requests())
            .field("active_retries", &self.active_retries())
            .finish()
    }
}

impl fmt::Debug for ActiveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActiveRequest")
    }
}

impl fmt::Debug for RetryPermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RetryPermit")
    }
}
