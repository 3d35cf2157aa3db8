//! Priorities: strict failover to the next priority and return when the first recovers.

use proptest::prelude::*;

use super::super::*;

/// `(priority, serving)` per endpoint, weight 1.
fn prioritized(policy: Policy, spec: &[(u32, bool)], ejections: &Ejections) -> Balancer<usize> {
    Balancer::with_options(
        policy,
        Options {
            ejections: Some(ejections.clone()),
            ..Options::default()
        },
        spec.iter()
            .enumerate()
            .map(|(i, &(priority, serving))| Endpoint {
                value: i,
                serving,
                weight: 1,
                priority,
                hash_key: format!("10.1.0.{i}:80"),
            }),
    )
}

const ALL: [Policy; 5] = [
    Policy::RoundRobin,
    Policy::LeastRequest,
    Policy::Random,
    Policy::RING_HASH_DEFAULT,
    Policy::MAGLEV_DEFAULT,
];

#[test]
fn failover_and_return() {
    // Priority 0: endpoints 0, 1; priority 1: 2, 3; priority 2: 4.
    let spec = [(0, true), (0, true), (1, true), (1, true), (2, true)];
    for policy in ALL {
        let ej = Ejections::new(5);
        let b = prioritized(policy, &spec, &ej);
        assert_eq!(b.priorities().collect::<Vec<_>>(), vec![0, 1, 2]);
        let picks = |b: &Balancer<usize>| -> Vec<usize> {
            (0..64u64)
                .map(|k| {
                    b.pick_hashed(Some(hash_bytes(k.to_le_bytes())))
                        .unwrap()
                        .index
                })
                .collect()
        };
        assert!(picks(&b).iter().all(|&i| i < 2), "{policy:?}");
        ej.set(0, true);
        assert!(
            picks(&b).iter().all(|&i| i == 1),
            "{policy:?}: one left at priority 0"
        );
        ej.set(1, true);
        assert!(
            picks(&b).iter().all(|&i| i == 2 || i == 3),
            "{policy:?}: priority 1"
        );
        ej.set(2, true);
        ej.set(3, true);
        assert!(picks(&b).iter().all(|&i| i == 4), "{policy:?}: priority 2");
        ej.set(4, true);
        assert!(b.pick().is_none());
        ej.set(0, false);
        assert!(
            picks(&b).iter().all(|&i| i == 0),
            "{policy:?}: back to priority 0"
        );
    }
}

#[test]
fn a_priority_with_nothing_serving_is_skipped() {
    let spec = [(0, false), (0, false), (1, true), (3, true)];
    for policy in ALL {
        let ej = Ejections::new(4);
        let b = prioritized(policy, &spec, &ej);
        assert_eq!(b.priorities().collect::<Vec<_>>(), vec![1, 3]);
        assert!((0..20).all(|_| b.pick().unwrap().index == 2), "{policy:?}");
        assert_eq!(b.priority(3), Some(3));
    }
}

#[test]
fn priorities_need_not_arrive_in_order() {
    let spec = [(2, true), (0, true), (1, true)];
    let ej = Ejections::new(3);
    let b = prioritized(Policy::RoundRobin, &spec, &ej);
    assert!((0..10).all(|_| b.pick().unwrap().index == 1));
    let others: Vec<usize> = b.fallbacks(1).map(|p| p.index).collect();
    assert_eq!(others, vec![2, 0], "fallbacks go by priority");
}

#[test]
fn fallbacks_skip_ejected() {
    let spec = [(0, true), (0, true), (0, true)];
    let ej = Ejections::new(3);
    let b = prioritized(Policy::RoundRobin, &spec, &ej);
    ej.set(2, true);
    let others: Vec<usize> = b.fallbacks(0).map(|p| p.index).collect();
    assert_eq!(others, vec![1]);
}

proptest! {
    /// A pick always lands on the lowest priority that has a serving, non-ejected endpoint.
    #[test]
    fn picks_the_lowest_available_priority(
        spec in prop::collection::vec((0u32..4, any::<bool>(), any::<bool>()), 0..12),
        policy in prop::sample::select(ALL.to_vec()),
        hash in any::<u64>(),
    ) {
        let ej = Ejections::new(spec.len());
        let shape: Vec<(u32, bool)> = spec.iter().map(|&(p, s, _)| (p, s)).collect();
        let b = prioritized(policy, &shape, &ej);
        for (i, &(_, _, e)) in spec.iter().enumerate() {
            ej.set(i, e);
        }
        let lowest = spec.iter().filter(|&&(_, s, e)| s && !e).map(|&(p, _, _)| p).min();
        match (b.pick_hashed(Some(hash)), lowest) {
            (Some(p), Some(lowest)) => {
                let (prio, serving, ejected) = spec[p.index];
                prop_assert!(serving && !ejected);
                prop_assert_eq!(prio, lowest);
            }
            (None, None) => {}
            (got, want) => prop_assert!(false, "picked {:?}, lowest available {:?}", got.map(|p| p.index), want),
        }
    }
}
