//! Cluster policies of XDS.md "Traffic rules from config entries" (balancing, circuit breakers,
//! outlier detection) and endpoint priorities.

use std::num::NonZeroU32;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{self as cds, circuit_breakers, cluster};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::{UInt32Value, UInt64Value};

use super::fixtures::{cla, eds_cluster, secs};
use super::{Case, assert_rejects};
use crate::types::{
    BasisPoints, CircuitBreakers, Cluster, ClusterEndpoints, LbPolicy, OutlierDetection,
    RetryBudget,
};

fn bp(v: u32) -> BasisPoints {
    BasisPoints::new(v)
}

fn policy_cluster() -> cds::Cluster {
    let mut c = eds_cluster();
    c.lb_policy = cluster::LbPolicy::RingHash as i32;
    c.lb_config = Some(cluster::LbConfig::RingHashLbConfig(
        cluster::RingHashLbConfig {
            minimum_ring_size: Some(UInt64Value { value: 64 }),
            maximum_ring_size: Some(UInt64Value { value: 4096 }),
            ..Default::default()
        },
    ));
    c.circuit_breakers = Some(cds::CircuitBreakers {
        thresholds: vec![circuit_breakers::Thresholds {
            max_connections: Some(UInt32Value { value: 10 }),
            max_pending_requests: Some(UInt32Value { value: 20 }),
            max_requests: Some(UInt32Value { value: 30 }),
            retry_budget: Some(circuit_breakers::thresholds::RetryBudget {
                budget_percent: Some(Percent { value: 20.0 }),
                min_retry_concurrency: Some(UInt32Value { value: 3 }),
                budget_interval: None,
            }),
            ..Default::default()
        }],
        per_host_thresholds: vec![],
    });
    c.outlier_detection = Some(cds::OutlierDetection {
        consecutive_5xx: Some(UInt32Value { value: 3 }),
        enforcing_consecutive_5xx: Some(UInt32Value { value: 90 }),
        interval: Some(secs(5)),
        base_ejection_time: Some(secs(60)),
        max_ejection_percent: Some(UInt32Value { value: 50 }),
        ..Default::default()
    });
    c
}

#[test]
fn accepts_cluster_policies() {
    let c = Cluster::try_from(policy_cluster()).unwrap();
    assert_eq!(
        c.lb_policy,
        LbPolicy::RingHash {
            minimum_ring_size: 64,
            maximum_ring_size: 4096,
        }
    );
    assert_eq!(
        c.circuit_breakers,
        CircuitBreakers {
            max_connections: 10,
            max_pending_requests: 20,
            max_requests: 30,
            max_retries: crate::types::DEFAULT_MAX_RETRIES,
            retry_budget: Some(RetryBudget {
                budget_percent: bp(2000),
                min_retry_concurrency: 3,
            }),
        }
    );
    assert_eq!(
        c.outlier_detection,
        Some(OutlierDetection {
            consecutive_5xx: 3,
            enforcing_consecutive_5xx: 90,
            interval: Duration::from_secs(5),
            base_ejection_time: Duration::from_secs(60),
            max_ejection_percent: 50,
            ..OutlierDetection::default()
        })
    );
    let policy = |p: cluster::LbPolicy, config: Option<cluster::LbConfig>| {
        let mut c = eds_cluster();
        c.lb_policy = p as i32;
        c.lb_config = config;
        Cluster::try_from(c).unwrap().lb_policy
    };
    let least = cluster::LbConfig::LeastRequestLbConfig(cluster::LeastRequestLbConfig {
        choice_count: Some(UInt32Value { value: 5 }),
        ..Default::default()
    });
    assert_eq!(
        policy(cluster::LbPolicy::LeastRequest, Some(least)),
        LbPolicy::LeastRequest {
            choice_count: NonZeroU32::new(5).unwrap()
        }
    );
    assert_eq!(policy(cluster::LbPolicy::Random, None), LbPolicy::Random);
    assert_eq!(policy(cluster::LbPolicy::Maglev, None), LbPolicy::Maglev);
    assert_eq!(
        policy(cluster::LbPolicy::RingHash, None),
        LbPolicy::RingHash {
            minimum_ring_size: crate::types::DEFAULT_MINIMUM_RING_SIZE,
            maximum_ring_size: crate::types::DEFAULT_MAXIMUM_RING_SIZE,
        }
    );
    // Envoy's defaults for everything absent.
    let mut c = eds_cluster();
    c.circuit_breakers = Some(cds::CircuitBreakers {
        thresholds: vec![circuit_breakers::Thresholds {
            retry_budget: Some(Default::default()),
            ..Default::default()
        }],
        per_host_thresholds: vec![],
    });
    c.outlier_detection = Some(Default::default());
    let c = Cluster::try_from(c).unwrap();
    assert_eq!(
        c.circuit_breakers,
        CircuitBreakers {
            retry_budget: Some(RetryBudget {
                budget_percent: crate::types::DEFAULT_RETRY_BUDGET_PERCENT,
                min_retry_concurrency: crate::types::DEFAULT_MIN_RETRY_CONCURRENCY,
            }),
            ..CircuitBreakers::default()
        }
    );
    assert_eq!(c.outlier_detection, Some(OutlierDetection::default()));
}

#[test]
#[allow(deprecated)]
fn rejects_cluster_policies_outside_the_contract() {
    fn thresholds(c: &mut cds::Cluster) -> &mut circuit_breakers::Thresholds {
        &mut c.circuit_breakers.as_mut().unwrap().thresholds[0]
    }
    fn od(c: &mut cds::Cluster) -> &mut cds::OutlierDetection {
        c.outlier_detection.as_mut().unwrap()
    }
    let cases: &[Case<cds::Cluster>] = &[
        (
            "ring hash function",
            |c| {
                if let Some(cluster::LbConfig::RingHashLbConfig(r)) = &mut c.lb_config {
                    r.hash_function = 1;
                }
            },
            "ring_hash_lb_config.hash_function: unsupported field",
        ),
        (
            "ring sizes reversed",
            |c| {
                if let Some(cluster::LbConfig::RingHashLbConfig(r)) = &mut c.lb_config {
                    r.minimum_ring_size = Some(UInt64Value { value: 8192 });
                }
            },
            "ring_hash_lb_config: ring size 8192..=4096 is not within",
        ),
        (
            "maglev config on ring hash",
            |c| c.lb_config = Some(cluster::LbConfig::MaglevLbConfig(Default::default())),
            "maglev_lb_config: unsupported config for lb_policy RING_HASH",
        ),
        (
            "least request choice count 1",
            |c| {
                c.lb_policy = cluster::LbPolicy::LeastRequest as i32;
                c.lb_config = Some(cluster::LbConfig::LeastRequestLbConfig(
                    cluster::LeastRequestLbConfig {
                        choice_count: Some(UInt32Value { value: 1 }),
                        ..Default::default()
                    },
                ));
            },
            "least_request_lb_config.choice_count: 1 is below 2",
        ),
        (
            "two thresholds",
            |c| {
                let t = *thresholds(c);
                c.circuit_breakers.as_mut().unwrap().thresholds.push(t);
            },
            "circuit_breakers.thresholds: unsupported 2 thresholds",
        ),
        (
            "high priority",
            |c| thresholds(c).priority = 1,
            "circuit_breakers.thresholds[0].priority: unsupported priority 1 (only DEFAULT)",
        ),
        (
            "max retries",
            |c| thresholds(c).max_retries = Some(UInt32Value { value: 3 }),
            "circuit_breakers.thresholds[0].max_retries: unsupported field",
        ),
        (
            "budget interval",
            |c| thresholds(c).retry_budget.as_mut().unwrap().budget_interval = Some(secs(1)),
            "retry_budget.budget_interval: unsupported field",
        ),
        (
            "budget over 100",
            |c| {
                thresholds(c).retry_budget.as_mut().unwrap().budget_percent =
                    Some(Percent { value: 150.0 })
            },
            "retry_budget.budget_percent: 150 not in 0..=100",
        ),
        (
            "zero interval",
            |c| od(c).interval = Some(secs(0)),
            "outlier_detection.interval: must be positive",
        ),
        (
            "ejection over 100",
            |c| od(c).max_ejection_percent = Some(UInt32Value { value: 101 }),
            "outlier_detection.max_ejection_percent: 101 not in 0..=100",
        ),
        (
            "zero consecutive",
            |c| od(c).consecutive_5xx = Some(UInt32Value { value: 0 }),
            "outlier_detection.consecutive_5xx: must be at least 1",
        ),
        (
            "gateway failures",
            |c| od(c).consecutive_gateway_failure = Some(UInt32Value { value: 3 }),
            "outlier_detection.consecutive_gateway_failure: unsupported field",
        ),
    ];
    assert_rejects::<_, Cluster>(policy_cluster, cases);
}

#[test]
fn endpoints_keep_their_priority() {
    let mut a = cla();
    let mut failover = a.endpoints[0].clone();
    failover.priority = 2;
    a.endpoints.push(failover);
    let ce = ClusterEndpoints::try_from(a).unwrap();
    let priorities: Vec<u32> = ce.endpoints.iter().map(|e| e.priority).collect();
    let n = priorities.len();
    assert!(n >= 2);
    assert!(
        priorities[..n / 2].iter().all(|p| *p == 0),
        "{priorities:?}"
    );
    assert!(
        priorities[n / 2..].iter().all(|p| *p == 2),
        "{priorities:?}"
    );
}
