//! A cluster's circuit breaker and retry budget: the permits its requests, pending requests and
//! upstream connections take, and the overflow metrics of refusals.

use rigging_proxy_config::CircuitBreakers;
use rigging_proxy_resilience::{
    BreakerLimits, CircuitBreaker, Limit, Overflow, Permit, RetryBudget, RetryBudgetConfig,
};

use crate::metrics::ClusterMetrics;

/// The circuit breaker of one cluster with its overflow counters. Cheap to clone: clones share
/// the breaker's counters, so each endpoint's pool can hold one.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    breaker: CircuitBreaker,
    metrics: ClusterMetrics,
}

impl Limits {
    /// The breaker of `def`. The counters of `previous` carry over when its limits are the same,
    /// so requests and connections in flight across a configuration update still count; with
    /// other limits the breaker starts from zero (what the old one holds is released as it
    /// ends, and is not counted against the new limits meanwhile).
    pub fn new(def: &CircuitBreakers, previous: Option<&Limits>, metrics: ClusterMetrics) -> Self {
        let limits = BreakerLimits {
            max_connections: def.max_connections,
            max_pending_requests: def.max_pending_requests,
            max_requests: def.max_requests,
        };
        let breaker = previous
            .map(|p| &p.breaker)
            .filter(|b| b.limits() == limits)
            .cloned()
            .unwrap_or_else(|| CircuitBreaker::new(limits));
        Self { breaker, metrics }
    }

    /// One unit of `limit`, or the refusal (counted in `rig_upstream_overflow_total`).
    pub fn try_acquire(&self, limit: Limit) -> Result<Permit, Overflow> {
        self.breaker.try_acquire(limit).inspect_err(|o| {
            self.metrics.overflow(o.limit);
        })
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

/// The retry budget of `def`: the configured one, else Envoy's default (20 % of the requests in
/// flight, at least 3 retries), so that retries never multiply an outage. The budget of
/// `previous` carries over when its settings are the same, so that attempts in flight still
/// count.
pub(crate) fn retry_budget(def: &CircuitBreakers, previous: Option<&RetryBudget>) -> RetryBudget {
    let config = def
        .retry_budget
        .map_or_else(RetryBudgetConfig::default, |b| RetryBudgetConfig {
            budget_percent: f64::from(b.budget_percent.get()) / 100.0,
            min_retry_concurrency: b.min_retry_concurrency,
        });
    previous
        .filter(|b| b.config() == config)
        .cloned()
        .unwrap_or_else(|| RetryBudget::new(config))
}

#[cfg(test)]
mod tests {
    use rigging_proxy_config::{BasisPoints, RetryBudget as RetryBudgetDef};

    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn breaker_carries_over_only_with_the_same_limits() {
        let metrics = Metrics::new();
        let def = CircuitBreakers {
            max_requests: 1,
            ..CircuitBreakers::default()
        };
        let first = Limits::new(&def, None, metrics.cluster("c"));
        let held = first.try_acquire(Limit::Requests).unwrap();
        let same = Limits::new(&def, Some(&first), metrics.cluster("c"));
        assert!(
            same.try_acquire(Limit::Requests).is_err(),
            "the held permit counts"
        );
        let wider = CircuitBreakers {
            max_requests: 2,
            ..def
        };
        let other = Limits::new(&wider, Some(&first), metrics.cluster("c"));
        assert!(other.try_acquire(Limit::Requests).is_ok());
        drop(held);
        assert!(
            metrics
                .encode()
                .contains(r#"rig_upstream_overflow_total{cluster="c",limit="requests"} 1"#)
        );
    }

    #[test]
    fn retry_budget_defaults_to_twenty_percent_and_three() {
        let budget = retry_budget(&CircuitBreakers::default(), None);
        assert_eq!(budget.config(), RetryBudgetConfig::default());
        let def = CircuitBreakers {
            retry_budget: Some(RetryBudgetDef {
                budget_percent: BasisPoints::new(2_550),
                min_retry_concurrency: 7,
            }),
            ..CircuitBreakers::default()
        };
        let budget = retry_budget(&def, Some(&budget));
        assert_eq!(budget.config().budget_percent, 25.5);
        assert_eq!(budget.config().min_retry_concurrency, 7);
    }
}
