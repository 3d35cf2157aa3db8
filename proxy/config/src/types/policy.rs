//! How a cluster spreads, limits and ejects: load-balancing policy, circuit breakers, outlier
//! detection. Defaults are Envoy's, so a resource means the same to both.

use std::num::NonZeroU32;
use std::time::Duration;

use serde::Serialize;

use super::BasisPoints;

/// Envoy's `least_request_lb_config.choice_count` when absent: power of two choices.
pub const DEFAULT_CHOICE_COUNT: NonZeroU32 = NonZeroU32::MIN.saturating_add(1);
/// Envoy's `ring_hash_lb_config.minimum_ring_size` when absent, in ring entries.
pub const DEFAULT_MINIMUM_RING_SIZE: u64 = 1024;
/// Envoy's `ring_hash_lb_config.maximum_ring_size` when absent, in ring entries (8 M).
pub const DEFAULT_MAXIMUM_RING_SIZE: u64 = 8 * 1024 * 1024;

/// Envoy's circuit-breaker limits when a threshold is absent: connections to a cluster.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
/// Requests waiting for a connection (HTTP/1.1).
pub const DEFAULT_MAX_PENDING_REQUESTS: u32 = 1024;
/// Requests in flight.
pub const DEFAULT_MAX_REQUESTS: u32 = 1024;
/// Retries in flight when there is no retry budget.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Envoy's `retry_budget.budget_percent` when absent: 20 % of the requests in flight.
pub const DEFAULT_RETRY_BUDGET_PERCENT: BasisPoints = BasisPoints::from_percent(20);
/// Envoy's `retry_budget.min_retry_concurrency` when absent: retries always allowed in flight.
pub const DEFAULT_MIN_RETRY_CONCURRENCY: u32 = 3;

/// Envoy's `outlier_detection.consecutive_5xx` when absent: 5xx responses in a row that eject.
pub const DEFAULT_CONSECUTIVE_5XX: u32 = 5;
/// Envoy's `enforcing_consecutive_5xx` when absent, in percent: always eject.
pub const DEFAULT_ENFORCING_CONSECUTIVE_5XX: u32 = 100;
/// Envoy's `outlier_detection.interval` when absent: time between ejection sweeps.
pub const DEFAULT_OUTLIER_INTERVAL: Duration = Duration::from_secs(10);
/// Envoy's `base_ejection_time` when absent; an endpoint is ejected this long times the number
/// of times it was ejected.
pub const DEFAULT_BASE_EJECTION_TIME: Duration = Duration::from_secs(30);
/// Envoy's `max_ejection_percent` when absent: at most this share of the endpoints is ejected.
pub const DEFAULT_MAX_EJECTION_PERCENT: u32 = 10;
/// Envoy's `max_ejection_time` (not settable over xDS here): the cap of an ejection's length.
pub const DEFAULT_MAX_EJECTION_TIME: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LbPolicy {
    RoundRobin,
    /// The least loaded of `choice_count` random endpoints, by requests in flight.
    LeastRequest {
        choice_count: NonZeroU32,
    },
    Random,
    /// Consistent hashing of the route's hash policies on a ring (Ketama).
    RingHash {
        minimum_ring_size: u64,
        maximum_ring_size: u64,
    },
    /// Consistent hashing on a Maglev table (65537 entries, Envoy's default).
    Maglev,
}

/// The `DEFAULT` priority thresholds. A request beyond a limit is answered 503 at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct CircuitBreakers {
    pub max_connections: u32,
    pub max_pending_requests: u32,
    pub max_requests: u32,
    /// Applies when `retry_budget` is `None`.
    pub max_retries: u32,
    /// Replaces `max_retries` when set.
    pub retry_budget: Option<RetryBudget>,
}

/// Retries in flight may be `budget_percent` of the requests in flight, and at least
/// `min_retry_concurrency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct RetryBudget {
    pub budget_percent: BasisPoints,
    pub min_retry_concurrency: u32,
}

/// Consecutive-5xx ejection (Envoy's other detectors are not implemented).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct OutlierDetection {
    pub consecutive_5xx: u32,
    /// The chance, in percent (0..=100), that a detected endpoint is ejected.
    pub enforcing_consecutive_5xx: u32,
    pub interval: Duration,
    pub base_ejection_time: Duration,
    /// In percent (0..=100).
    pub max_ejection_percent: u32,
    pub max_ejection_time: Duration,
}

impl Default for CircuitBreakers {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            max_requests: DEFAULT_MAX_REQUESTS,
            max_retries: DEFAULT_MAX_RETRIES,
            retry_budget: None,
        }
    }
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_5xx: DEFAULT_CONSECUTIVE_5XX,
            enforcing_consecutive_5xx: DEFAULT_ENFORCING_CONSECUTIVE_5XX,
            interval: DEFAULT_OUTLIER_INTERVAL,
            base_ejection_time: DEFAULT_BASE_EJECTION_TIME,
            max_ejection_percent: DEFAULT_MAX_EJECTION_PERCENT,
            max_ejection_time: DEFAULT_MAX_EJECTION_TIME,
        }
    }
}
