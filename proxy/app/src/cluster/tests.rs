use std::collections::BTreeMap;
use std::num::NonZeroU32;

use rigging_proxy_config::{CircuitBreakers, Discovery, EndpointHealth, Locality};

use super::*;
use crate::metrics::Metrics;

fn def(lb_policy: LbPolicy) -> Cluster {
    Cluster {
        name: "c".into(),
        lb_policy,
        connect_timeout: Duration::from_secs(1),
        protocol: UpstreamProtocol::Http1,
        discovery: Discovery::Eds,
        tls: None,
        circuit_breakers: CircuitBreakers::default(),
        outlier_detection: None,
    }
}

fn endpoint(port: u16, priority: u32, health: EndpointHealth) -> Endpoint {
    Endpoint {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        health,
        locality: Locality::default(),
        weight: 1,
        metadata: BTreeMap::new(),
        priority,
    }
}

fn state(lb: LbPolicy, endpoints: &[Endpoint]) -> Result<ClusterState, ClusterError> {
    ClusterState::new(&def(lb), endpoints, None, Metrics::new().cluster("c"), None)
}

#[test]
fn policies_map_to_the_balancer() {
    let eps = [endpoint(1, 0, EndpointHealth::Healthy)];
    let cases = [
        (LbPolicy::RoundRobin, Policy::RoundRobin),
        (
            LbPolicy::LeastRequest {
                choice_count: NonZeroU32::new(3).unwrap(),
            },
            Policy::LeastRequest,
        ),
        (LbPolicy::Random, Policy::Random),
        (
            LbPolicy::RingHash {
                minimum_ring_size: 16,
                maximum_ring_size: 64,
            },
            Policy::RingHash {
                min_ring_size: 16,
                max_ring_size: 64,
            },
        ),
        (LbPolicy::Maglev, Policy::MAGLEV_DEFAULT),
    ];
    for (lb, policy) in cases {
        assert_eq!(state(lb, &eps).unwrap().balancer.policy(), policy, "{lb:?}");
    }
}

#[test]
fn invalid_policies_are_rejected() {
    let bad = [
        LbPolicy::RingHash {
            minimum_ring_size: 64,
            maximum_ring_size: 16,
        },
        LbPolicy::RingHash {
            minimum_ring_size: 0,
            maximum_ring_size: 16,
        },
        LbPolicy::LeastRequest {
            choice_count: NonZeroU32::MIN,
        },
    ];
    for lb in bad {
        assert!(
            matches!(state(lb, &[]), Err(ClusterError::Policy(_))),
            "{lb:?}"
        );
    }
}

#[test]
fn consistent_hash_policies_keep_a_hash_on_one_endpoint() {
    let eps: Vec<Endpoint> = (1..=5)
        .map(|p| endpoint(p, 0, EndpointHealth::Healthy))
        .collect();
    for lb in [
        LbPolicy::Maglev,
        LbPolicy::RingHash {
            minimum_ring_size: 1024,
            maximum_ring_size: 4096,
        },
    ] {
        let cluster = state(lb, &eps).unwrap();
        for hash in [1u64, 42, u64::MAX / 3] {
            let first = cluster.pick(Some(hash)).unwrap().index;
            for _ in 0..10 {
                assert_eq!(cluster.pick(Some(hash)).unwrap().index, first, "{lb:?}");
            }
        }
    }
}

#[test]
fn picks_fail_over_by_priority() {
    let eps = [
        endpoint(1, 0, EndpointHealth::Unhealthy),
        endpoint(2, 1, EndpointHealth::Healthy),
        endpoint(3, 2, EndpointHealth::Healthy),
    ];
    let cluster = state(LbPolicy::RoundRobin, &eps).unwrap();
    for _ in 0..5 {
        assert_eq!(cluster.pick(None).unwrap().endpoint.addr.port(), 2);
    }
}

#[test]
fn admit_refuses_beyond_max_requests() {
    let mut d = def(LbPolicy::RoundRobin);
    d.circuit_breakers.max_requests = 1;
    let cluster = ClusterState::new(&d, &[], None, Metrics::new().cluster("c"), None).unwrap();
    let held = cluster.admit().unwrap();
    let refused = cluster.admit().unwrap_err();
    assert_eq!(refused.kind(), crate::error::ErrorKind::Overflow);
    assert!(
        refused.detail().contains("circuit breaker open"),
        "{refused}"
    );
    drop(held);
    assert!(cluster.admit().is_ok());
}
