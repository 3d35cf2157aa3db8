//! How picks spread: random by weight, round robin, least request with choice counts.

use proptest::prelude::*;

use super::super::*;
use super::endpoints;

fn counts(b: &Balancer<usize>, n: usize, picks: usize) -> Vec<usize> {
    let mut c = vec![0; n];
    for _ in 0..picks {
        c[b.pick().unwrap().index] += 1;
    }
    c
}

#[test]
fn random_follows_weights() {
    const PICKS: usize = 40_000;
    let b = Balancer::new(
        Policy::Random,
        endpoints(&[(true, 1), (true, 3), (false, 5), (true, 4)]),
    );
    let c = counts(&b, 4, PICKS);
    assert_eq!(c[2], 0, "non-serving endpoint picked");
    for (i, w) in [(0, 1.0), (1, 3.0), (3, 4.0)] {
        let got = c[i] as f64 / PICKS as f64;
        assert!((got - w / 8.0).abs() < 0.02, "endpoint {i}: {got:.3}");
    }
}

#[test]
fn random_skips_ejected_evenly() {
    const PICKS: usize = 30_000;
    let ejections = Ejections::new(4);
    let b = Balancer::with_options(
        Policy::Random,
        Options {
            ejections: Some(ejections.clone()),
            ..Options::default()
        },
        endpoints(&[(true, 1); 4]).into_iter().map(Endpoint::from),
    );
    ejections.set(1, true);
    let c = counts(&b, 4, PICKS);
    assert_eq!(c[1], 0);
    for i in [0, 2, 3] {
        let got = c[i] as f64 / PICKS as f64;
        assert!((got - 1.0 / 3.0).abs() < 0.03, "endpoint {i}: {got:.3}");
    }
}

#[test]
fn round_robin_skips_ejected() {
    let ejections = Ejections::new(3);
    let b = Balancer::with_options(
        Policy::RoundRobin,
        Options {
            ejections: Some(ejections.clone()),
            ..Options::default()
        },
        endpoints(&[(true, 1); 3]).into_iter().map(Endpoint::from),
    );
    ejections.set(0, true);
    let c = counts(&b, 3, 300);
    assert_eq!(c[0], 0);
    assert!(c[1] > 0 && c[2] > 0);
}

#[test]
fn least_request_with_more_choices_finds_the_idle_one() {
    // With 8 busy endpoints and one idle, comparing 8 candidates finds the idle one far more
    // often than comparing 2.
    let spec = [(true, 1); 9];
    let idle_share = |choice_count: u32| {
        let b = Balancer::with_options(
            Policy::LeastRequest,
            Options {
                choice_count,
                ..Options::default()
            },
            endpoints(&spec).into_iter().map(Endpoint::from),
        );
        let _busy: Vec<InFlight> = (1..9).map(|i| b.acquire(i).guard).collect();
        (0..2000).filter(|_| b.pick().unwrap().index == 0).count()
    };
    let (two, eight) = (idle_share(2), idle_share(8));
    assert!(eight > two, "choice_count 8 ({eight}) vs 2 ({two})");
}

#[test]
fn least_request_spreads_concurrent_load_evenly() {
    let b = Balancer::new(Policy::LeastRequest, endpoints(&[(true, 1); 5]));
    // Held requests: least request keeps the counts within a small spread.
    let guards: Vec<InFlight> = (0..500).map(|_| b.pick().unwrap().guard).collect();
    let loads: Vec<usize> = (0..5).map(|i| b.in_flight(i)).collect();
    let (min, max) = (loads.iter().min().unwrap(), loads.iter().max().unwrap());
    assert!(max - min <= 10, "{loads:?}");
    drop(guards);
}

#[test]
fn least_request_skips_ejected() {
    let ejections = Ejections::new(3);
    let b = Balancer::with_options(
        Policy::LeastRequest,
        Options {
            ejections: Some(ejections.clone()),
            ..Options::default()
        },
        endpoints(&[(true, 1); 3]).into_iter().map(Endpoint::from),
    );
    ejections.set(2, true);
    assert!((0..200).all(|_| b.pick().unwrap().index != 2));
    ejections.set(0, true);
    ejections.set(1, true);
    assert!(b.pick().is_none());
}

proptest! {
    #[test]
    fn random_never_picks_non_serving_or_ejected(
        spec in prop::collection::vec((any::<bool>(), 1u32..5, any::<bool>()), 0..10),
    ) {
        let ejections = Ejections::new(spec.len());
        let b = Balancer::with_options(
            Policy::Random,
            Options { ejections: Some(ejections.clone()), ..Options::default() },
            spec.iter().enumerate().map(|(i, &(serving, weight, _))| Endpoint::from(Weighted { value: i, serving, weight })),
        );
        for (i, &(_, _, e)) in spec.iter().enumerate() {
            ejections.set(i, e);
        }
        let any = spec.iter().any(|&(s, _, e)| s && !e);
        for _ in 0..50 {
            match b.pick() {
                Some(p) => prop_assert!(spec[p.index].0 && !spec[p.index].2),
                None => prop_assert!(!any),
            }
        }
    }
}
