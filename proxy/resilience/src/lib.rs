//! Outlier detection, circuit breakers and retry budgets for the proxy, with Envoy's semantics.
//!
//! Everything here is synchronous and lock-free on the request path (atomics and RAII
//! permits); time comes from an injected [`Clock`] so that ejection timelines are tested with a
//! [`FakeClock`].

mod breaker;
mod budget;
mod clock;
mod outlier;

pub use breaker::{
    BreakerLimits, CircuitBreaker, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PENDING_REQUESTS,
    DEFAULT_MAX_REQUESTS, Limit, Overflow, Permit,
};
pub use budget::{
    ActiveRequest, DEFAULT_BUDGET_PERCENT, DEFAULT_MIN_RETRY_CONCURRENCY, RetryBudget,
    RetryBudgetConfig, RetryPermit, RetryRefused,
};
pub use clock::{Clock, FakeClock, SystemClock};
pub use outlier::{
    DEFAULT_BASE_EJECTION_TIME, DEFAULT_CONSECUTIVE_5XX, DEFAULT_ENFORCING_CONSECUTIVE_5XX,
    DEFAULT_INTERVAL, DEFAULT_MAX_EJECTION_PERCENT, DEFAULT_MAX_EJECTION_TIME, Event, Outcome,
    OutlierConfig, OutlierDetector, OutlierStats,
};
pub use rigging_proxy_balance::Ejections;

#[cfg(test)]
mod tests;
