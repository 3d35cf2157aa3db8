use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

mod consistent;
mod distribution;
mod priority;

fn endpoints(spec: &[(bool, u32)]) -> Vec<Weighted<usize>> {
    spec.iter()
        .enumerate()
        .map(|(i, &(serving, weight))| Weighted {
            value: i,
            serving,
            weight,
        })
        .collect()
}

#[test]
fn none_when_nothing_serves() {
    for policy in [Policy::RoundRobin, Policy::LeastRequest] {
        let empty: Balancer<usize> = Balancer::new(policy, []);
        assert!(empty.pick().is_none());
        let down = Balancer::new(policy, endpoints(&[(false, 1), (false, 3)]));
        assert!(down.pick().is_none());
        assert_eq!(down.serving_len(), 0);
    }
}

#[test]
fn guard_counts_until_dropped() {
    let b = Balancer::new(Policy::RoundRobin, endpoints(&[(true, 1)]));
    let p = b.pick().unwrap();
    assert_eq!(b.in_flight(0), 1);
    let q = b.pick().unwrap();
    assert_eq!(b.in_flight(0), 2);
    drop(p);
    drop(q);
    assert_eq!(b.in_flight(0), 0);
}

#[test]
fn weights_are_honoured_by_round_robin() {
    let b = Balancer::new(Policy::RoundRobin, endpoints(&[(true, 3), (true, 1)]));
    let picks: Vec<usize> = (0..8).map(|_| *b.pick().unwrap().endpoint).collect();
    assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
}

#[test]
fn fallbacks_visit_every_other_serving_endpoint() {
    let b = Balancer::new(
        Policy::RoundRobin,
        endpoints(&[(true, 1), (false, 1), (true, 1), (true, 1)]),
    );
    let others: Vec<usize> = b.fallbacks(2).map(|p| p.index).collect();
    assert_eq!(others, vec![3, 0]);
    assert_eq!(
        b.in_flight(3),
        0,
        "guards of fallbacks are dropped with them"
    );
}

fn spec() -> impl Strategy<Value = Vec<(bool, u32)>> {
    prop::collection::vec((any::<bool>(), Just(1u32)), 0..12)
}

proptest! {
    #[test]
    fn round_robin_spreads_evenly_over_serving(spec in spec(), rounds in 1usize..5) {
        let b = Balancer::new(Policy::RoundRobin, endpoints(&spec));
        let serving: Vec<usize> = (0..spec.len()).filter(|&i| spec[i].0).collect();
        let mut counts: HashMap<usize, usize> = HashMap::new();
        for _ in 0..serving.len() * rounds {
            let p = b.pick().unwrap();
            prop_assert!(spec[p.index].0, "picked a non-serving endpoint");
            *counts.entry(p.index).or_default() += 1;
        }
        for i in &serving {
            prop_assert_eq!(counts.get(i).copied().unwrap_or(0), rounds);
        }
        prop_assert_eq!(b.pick().is_none(), serving.is_empty());
    }

    #[test]
    fn least_request_never_picks_non_serving(
        spec in prop::collection::vec((any::<bool>(), 1u32..4), 0..12),
        held in prop::collection::vec(0usize..12, 0..20),
    ) {
        let b = Balancer::new(Policy::LeastRequest, endpoints(&spec));
        let mut guards = Vec::new();
        for _ in held {
            match b.pick() {
                Some(p) => {
                    prop_assert!(spec[p.index].0);
                    guards.push(p.guard);
                }
                None => prop_assert!(spec.iter().all(|e| !e.0)),
            }
        }
    }

    #[test]
    fn least_request_prefers_the_less_loaded(busy in 1usize..20, busy_index in 0usize..2) {
        let b = Balancer::new(Policy::LeastRequest, endpoints(&[(true, 1), (true, 1)]));
        let guards: Vec<InFlight> = (0..busy).map(|_| b.acquire(busy_index).guard).collect();
        // With two serving endpoints both are always compared, so the idle one always wins.
        for _ in 0..8 {
            prop_assert_eq!(b.pick().unwrap().index, 1 - busy_index);
        }
        drop(guards);
    }

    #[test]
    fn least_request_with_many_never_picks_the_unique_maximum(
        loads in prop::collection::vec(0usize..6, 2..8),
    ) {
        let spec: Vec<(bool, u32)> = loads.iter().map(|_| (true, 1)).collect();
        let b = Balancer::new(Policy::LeastRequest, endpoints(&spec));
        let mut guards = Vec::new();
        for (i, &n) in loads.iter().enumerate() {
            for _ in 0..n {
                guards.push(b.acquire(i).guard);
            }
        }
        let max = *loads.iter().max().unwrap();
        let unique_max = loads.iter().filter(|&&l| l == max).count() == 1;
        for _ in 0..16 {
            let p = b.pick().unwrap();
            if unique_max {
                prop_assert!(loads[p.index] < max);
            }
        }
    }
}
