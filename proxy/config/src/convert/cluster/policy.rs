//! A cluster's `lb_policy` and `lb_config`, `circuit_breakers` and `outlier_detection`.

use std::num::NonZeroU32;

use envoy_types::pb::envoy::config::cluster::v3 as xds;
use envoy_types::pb::envoy::config::core::v3::RoutingPriority;

use super::super::common::{Ctx, duration, join, reject_set};
use crate::error::ConfigError;
use crate::types::{
    BasisPoints, CircuitBreakers, DEFAULT_CHOICE_COUNT, DEFAULT_MAXIMUM_RING_SIZE,
    DEFAULT_MIN_RETRY_CONCURRENCY, DEFAULT_MINIMUM_RING_SIZE, DEFAULT_RETRY_BUDGET_PERCENT,
    LbPolicy, OutlierDetection, RetryBudget,
};

/// The balancing policy; `lb_config` must match it (or be absent).
pub(super) fn lb_policy(
    ctx: Ctx<'_>,
    lb_policy: i32,
    lb_config: Option<xds::cluster::LbConfig>,
) -> Result<LbPolicy, ConfigError> {
    use xds::cluster::{LbConfig as C, LbPolicy as P};
    let policy = P::try_from(lb_policy)
        .map_err(|_| ctx.invalid("lb_policy", format!("unknown value {lb_policy}")))?;
    let mismatch = |field: &str| {
        Err(ctx.unsupported(
            field.to_owned(),
            format!("config for lb_policy {}", policy.as_str_name()),
        ))
    };
    match (policy, lb_config) {
        (P::RoundRobin, None) => Ok(LbPolicy::RoundRobin),
        (P::RoundRobin, Some(C::RoundRobinLbConfig(c))) => {
            let p = "round_robin_lb_config";
            let slow_start_config = c.slow_start_config;
            reject_set!(ctx, p, slow_start_config);
            Ok(LbPolicy::RoundRobin)
        }
        (P::LeastRequest, None) => Ok(LbPolicy::LeastRequest {
            choice_count: DEFAULT_CHOICE_COUNT,
        }),
        (P::LeastRequest, Some(C::LeastRequestLbConfig(c))) => {
            let p = "least_request_lb_config";
            let xds::cluster::LeastRequestLbConfig {
                choice_count,
                active_request_bias,
                slow_start_config,
            } = c;
            reject_set!(ctx, p, active_request_bias, slow_start_config);
            // Envoy requires at least 2 choices.
            let choice_count = match choice_count {
                None => DEFAULT_CHOICE_COUNT,
                Some(n) => NonZeroU32::new(n.value)
                    .filter(|n| n.get() >= 2)
                    .ok_or_else(|| {
                        ctx.invalid(join(p, "choice_count"), format!("{} is below 2", n.value))
                    })?,
            };
            Ok(LbPolicy::LeastRequest { choice_count })
        }
        (P::Random, None) => Ok(LbPolicy::Random),
        (P::RingHash, None) => Ok(LbPolicy::RingHash {
            minimum_ring_size: DEFAULT_MINIMUM_RING_SIZE,
            maximum_ring_size: DEFAULT_MAXIMUM_RING_SIZE,
        }),
        (P::RingHash, Some(C::RingHashLbConfig(c))) => {
            let p = "ring_hash_lb_config";
            let xds::cluster::RingHashLbConfig {
                minimum_ring_size,
                hash_function,
                maximum_ring_size,
            } = c;
            reject_set!(ctx, p, hash_function);
            let min = minimum_ring_size.map_or(DEFAULT_MINIMUM_RING_SIZE, |v| v.value);
            let max = maximum_ring_size.map_or(DEFAULT_MAXIMUM_RING_SIZE, |v| v.value);
            if min == 0 || min > max || max > DEFAULT_MAXIMUM_RING_SIZE {
                return Err(ctx.invalid(
                    p,
                    format!(
                        "ring size {min}..={max} is not within 1..={DEFAULT_MAXIMUM_RING_SIZE}"
                    ),
                ));
            }
            Ok(LbPolicy::RingHash {
                minimum_ring_size: min,
                maximum_ring_size: max,
            })
        }
        (P::Maglev, None) => Ok(LbPolicy::Maglev),
        (P::Maglev, Some(C::MaglevLbConfig(c))) => {
            let table_size = c.table_size;
            reject_set!(ctx, "maglev_lb_config", table_size);
            Ok(LbPolicy::Maglev)
        }
        (P::RoundRobin | P::LeastRequest | P::Random | P::RingHash | P::Maglev, Some(config)) => {
            mismatch(match config {
                C::RingHashLbConfig(_) => "ring_hash_lb_config",
                C::MaglevLbConfig(_) => "maglev_lb_config",
                C::OriginalDstLbConfig(_) => "original_dst_lb_config",
                C::LeastRequestLbConfig(_) => "least_request_lb_config",
                C::RoundRobinLbConfig(_) => "round_robin_lb_config",
            })
        }
        (other, _) => Err(ctx.unsupported(
            "lb_policy",
            format!(
                "policy {} (only ROUND_ROBIN, LEAST_REQUEST, RANDOM, RING_HASH or MAGLEV)",
                other.as_str_name()
            ),
        )),
    }
}

/// The one `DEFAULT` priority threshold; Envoy's defaults for what is absent.
pub(super) fn circuit_breakers(
    ctx: Ctx<'_>,
    cb: Option<xds::CircuitBreakers>,
) -> Result<CircuitBreakers, ConfigError> {
    let Some(cb) = cb else {
        return Ok(CircuitBreakers::default());
    };
    let path = "circuit_breakers";
    let xds::CircuitBreakers {
        thresholds,
        per_host_thresholds,
    } = cb;
    reject_set!(ctx, path, per_host_thresholds);
    if thresholds.len() > 1 {
        return Err(ctx.unsupported(
            join(path, "thresholds"),
            format!(
                "{} thresholds (only one, priority DEFAULT)",
                thresholds.len()
            ),
        ));
    }
    let Some(t) = thresholds.into_iter().next() else {
        return Ok(CircuitBreakers::default());
    };
    let path = "circuit_breakers.thresholds[0]";
    let xds::circuit_breakers::Thresholds {
        priority,
        max_connections,
        max_pending_requests,
        max_requests,
        max_retries,
        retry_budget,
        track_remaining,
        max_connection_pools,
    } = t;
    reject_set!(
        ctx,
        path,
        max_retries,
        track_remaining,
        max_connection_pools
    );
    if priority != RoutingPriority::Default as i32 {
        return Err(ctx.unsupported(
            join(path, "priority"),
            format!("priority {priority} (only DEFAULT)"),
        ));
    }
    let defaults = CircuitBreakers::default();
    let retry_budget = retry_budget
        .map(|b| {
            let p = join(path, "retry_budget");
            let xds::circuit_breakers::thresholds::RetryBudget {
                budget_percent,
                budget_interval,
                min_retry_concurrency,
            } = b;
            reject_set!(ctx, p, budget_interval);
            let budget_percent = match budget_percent {
                None => DEFAULT_RETRY_BUDGET_PERCENT,
                Some(v) if v.value.is_finite() && (0.0..=100.0).contains(&v.value) => {
                    // In 0..=10_000 after the check, so the cast neither wraps nor saturates.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    let bp = (v.value * 100.0).round() as u32;
                    BasisPoints::new(bp)
                }
                Some(v) => {
                    return Err(ctx.invalid(
                        join(&p, "budget_percent"),
                        format!("{} not in 0..=100", v.value),
                    ));
                }
            };
            Ok(RetryBudget {
                budget_percent,
                min_retry_concurrency: min_retry_concurrency
                    .map_or(DEFAULT_MIN_RETRY_CONCURRENCY, |v| v.value),
            })
        })
        .transpose()?;
    Ok(CircuitBreakers {
        max_connections: max_connections.map_or(defaults.max_connections, |v| v.value),
        max_pending_requests: max_pending_requests
            .map_or(defaults.max_pending_requests, |v| v.value),
        max_requests: max_requests.map_or(defaults.max_requests, |v| v.value),
        max_retries: defaults.max_retries,
        retry_budget,
    })
}

/// Consecutive-5xx outlier detection; Envoy's defaults for what is absent.
#[allow(deprecated)]
pub(super) fn outlier_detection(
    ctx: Ctx<'_>,
    od: Option<xds::OutlierDetection>,
) -> Result<Option<OutlierDetection>, ConfigError> {
    let Some(od) = od else {
        return Ok(None);
    };
    let path = "outlier_detection";
    let xds::OutlierDetection {
        consecutive_5xx,
        interval,
        base_ejection_time,
        max_ejection_percent,
        enforcing_consecutive_5xx,
        enforcing_success_rate,
        success_rate_minimum_hosts,
        success_rate_request_volume,
        success_rate_stdev_factor,
        consecutive_gateway_failure,
        enforcing_consecutive_gateway_failure,
        split_external_local_origin_errors,
        consecutive_local_origin_failure,
        enforcing_consecutive_local_origin_failure,
        enforcing_local_origin_success_rate,
        failure_percentage_threshold,
        enforcing_failure_percentage,
        enforcing_failure_percentage_local_origin,
        failure_percentage_minimum_hosts,
        failure_percentage_request_volume,
        max_ejection_time,
        max_ejection_time_jitter,
        successful_active_health_check_uneject_host,
        monitors,
        always_eject_one_host,
        detect_degraded_hosts,
    } = od;
    reject_set!(
        ctx,
        path,
        enforcing_success_rate,
        success_rate_minimum_hosts,
        success_rate_request_volume,
        success_rate_stdev_factor,
        consecutive_gateway_failure,
        enforcing_consecutive_gateway_failure,
        split_external_local_origin_errors,
        consecutive_local_origin_failure,
        enforcing_consecutive_local_origin_failure,
        enforcing_local_origin_success_rate,
        failure_percentage_threshold,
        enforcing_failure_percentage,
        enforcing_failure_percentage_local_origin,
        failure_percentage_minimum_hosts,
        failure_percentage_request_volume,
        max_ejection_time,
        max_ejection_time_jitter,
        successful_active_health_check_uneject_host,
        monitors,
        always_eject_one_host,
        detect_degraded_hosts,
    );
    let d = OutlierDetection::default();
    let percent = |field: &str, v: Option<u32>, default: u32| match v {
        None => Ok(default),
        Some(v) if v <= 100 => Ok(v),
        Some(v) => Err(ctx.invalid(join(path, field), format!("{v} not in 0..=100"))),
    };
    let positive =
        |field: &str, v: Option<envoy_types::pb::google::protobuf::Duration>, default| match v {
            None => Ok(default),
            Some(v) => match duration(ctx, &join(path, field), &v)? {
                v if v.is_zero() => Err(ctx.invalid(join(path, field), "must be positive")),
                v => Ok(v),
            },
        };
    let consecutive_5xx = match consecutive_5xx {
        None => d.consecutive_5xx,
        Some(v) if v.value == 0 => {
            return Err(ctx.invalid(join(path, "consecutive_5xx"), "must be at least 1"));
        }
        Some(v) => v.value,
    };
    Ok(Some(OutlierDetection {
        consecutive_5xx,
        enforcing_consecutive_5xx: percent(
            "enforcing_consecutive_5xx",
            enforcing_consecutive_5xx.map(|v| v.value),
            d.enforcing_consecutive_5xx,
        )?,
        interval: positive("interval", interval, d.interval)?,
        base_ejection_time: positive(
            "base_ejection_time",
            base_ejection_time,
            d.base_ejection_time,
        )?,
        max_ejection_percent: percent(
            "max_ejection_percent",
            max_ejection_percent.map(|v| v.value),
            d.max_ejection_percent,
        )?,
        max_ejection_time: d.max_ejection_time,
    }))
}
