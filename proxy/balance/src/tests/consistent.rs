//! Ring hash and Maglev: stability, minimal disruption, weights, and fallback past ejections.

use std::collections::HashMap;

use proptest::prelude::*;

use super::super::*;

fn hashed(policy: Policy, spec: &[(&str, u32)], ejections: Option<Ejections>) -> Balancer<usize> {
    Balancer::with_options(
        policy,
        Options {
            ejections,
            ..Options::default()
        },
        spec.iter().enumerate().map(|(i, &(key, weight))| Endpoint {
            value: i,
            serving: true,
            weight,
            priority: 0,
            hash_key: key.to_string(),
        }),
    )
}

fn addrs(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("10.0.{}.{}:8080", i / 250, i % 250))
        .collect()
}

const POLICIES: [Policy; 2] = [Policy::RING_HASH_DEFAULT, Policy::MAGLEV_DEFAULT];

/// The endpoint key each of `keys` request hashes lands on.
fn owners(b: &Balancer<usize>, names: &[String], keys: u64) -> Vec<String> {
    (0..keys)
        .map(|k| {
            let h = hash_bytes(format!("user-{k}"));
            names[*b.pick_hashed(Some(h)).unwrap().endpoint].clone()
        })
        .collect()
}

#[test]
fn same_hash_same_endpoint() {
    let names = addrs(7);
    let spec: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    for policy in POLICIES {
        let b = hashed(policy, &spec, None);
        let again = hashed(policy, &spec, None);
        for k in 0..500u64 {
            let h = hash_bytes(k.to_le_bytes());
            let first = b.pick_hashed(Some(h)).unwrap().index;
            assert_eq!(b.pick_hashed(Some(h)).unwrap().index, first, "{policy:?}");
            assert_eq!(
                again.pick_hashed(Some(h)).unwrap().index,
                first,
                "{policy:?}"
            );
        }
    }
}

#[test]
fn order_of_endpoints_does_not_matter() {
    let names = addrs(6);
    let spec: Vec<(&str, u32)> = names.iter().map(|n| (n.as_str(), 1)).collect();
    let reversed: Vec<(&str, u32)> = spec.iter().rev().copied().collect();
    let rnames: Vec<String> = names.iter().rev().cloned().collect();
    for policy in POLICIES {
        let a = owners(&hashed(policy, &spec, None), &names, 2000);
        let b = owners(&hashed(policy, &reversed, None), &rnames, 2000);
        assert_eq!(a, b, "{policy:?}");
    }
}

#[test]
fn removing_one_of_n_remaps_about_one_nth() {
    const KEYS: u64 = 20_000;
    for n in [5usize, 10, 20] {
        let names = addrs(n);
        let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
        for policy in POLICIES {
            let before = owners(&hashed(policy, &spec, None), &names, KEYS);
            let removed = &names[n / 2];
            let rest: Vec<String> = names.iter().filter(|s| *s != removed).cloned().collect();
            let rest_spec: Vec<(&str, u32)> = rest.iter().map(|s| (s.as_str(), 1)).collect();
            let after = owners(&hashed(policy, &rest_spec, None), &rest, KEYS);
            let moved = before.iter().zip(&after).filter(|(a, b)| a != b).count();
            let lost = before.iter().filter(|o| *o == removed).count();
            let share = moved as f64 / KEYS as f64;
            // Every key of the removed endpoint moves; few others may.
            assert!(moved >= lost);
            assert!(
                share <= 1.0 / n as f64 * 1.25 + 0.01,
                "{policy:?} n={n}: {share:.3} of keys moved"
            );
            // Keys of the other endpoints stay put: none on the ring, under 1 % with Maglev.
            let extra = (moved - lost) as f64 / KEYS as f64;
            assert!(
                extra < 0.01,
                "{policy:?} n={n}: {extra:.4} moved between survivors"
            );
        }
    }
}

#[test]
fn weights_are_honoured() {
    const KEYS: u64 = 30_000;
    let names = addrs(3);
    let spec = [
        (names[0].as_str(), 1),
        (names[1].as_str(), 2),
        (names[2].as_str(), 3),
    ];
    for policy in POLICIES {
        let b = hashed(policy, &spec, None);
        let mut counts = [0usize; 3];
        for k in 0..KEYS {
            counts[b
                .pick_hashed(Some(hash_bytes(k.to_le_bytes())))
                .unwrap()
                .index] += 1;
        }
        for (i, c) in counts.iter().enumerate() {
            let expected = (i + 1) as f64 / 6.0;
            let got = *c as f64 / KEYS as f64;
            assert!(
                (got - expected).abs() < 0.05,
                "{policy:?}: endpoint {i} got {got:.3}, expected {expected:.3}"
            );
        }
    }
}

#[test]
fn ring_sizes_follow_envoy() {
    let names = addrs(3);
    let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    let b = hashed(
        Policy::RingHash {
            min_ring_size: 1024,
            max_ring_size: 4096,
        },
        &spec,
        None,
    );
    let Choose::RingHash(ring) = &b.levels[0].choose else {
        panic!("not a ring");
    };
    // ceil(1024 / 3) = 342 entries for each of three equal hosts, rounded up to 512.
    assert_eq!(ring.len(), 512 * 3);
    let small = hashed(
        Policy::RingHash {
            min_ring_size: 1024,
            max_ring_size: 100,
        },
        &spec,
        None,
    );
    let Choose::RingHash(ring) = &small.levels[0].choose else {
        panic!("not a ring");
    };
    assert!(ring.len() <= 100);
}

#[test]
fn no_hash_picks_at_random_over_all() {
    let names = addrs(4);
    let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    for policy in POLICIES {
        let b = hashed(policy, &spec, None);
        let mut seen: HashMap<usize, usize> = HashMap::new();
        for _ in 0..400 {
            *seen.entry(b.pick().unwrap().index).or_default() += 1;
        }
        assert_eq!(seen.len(), 4, "{policy:?}: {seen:?}");
    }
}

#[test]
fn ring_walks_to_the_next_endpoint_on_the_ring() {
    let names = addrs(5);
    let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    let ejections = Ejections::new(5);
    let b = hashed(Policy::RING_HASH_DEFAULT, &spec, Some(ejections.clone()));
    let Choose::RingHash(ring) = &b.levels[0].choose else {
        panic!("not a ring");
    };
    ejections.set(2, true);
    for k in 0..2000u64 {
        let h = hash_bytes(k.to_le_bytes());
        let start = ring.position(h);
        let expected = (0..ring.len())
            .map(|s| ring.endpoint_at(start + s))
            .find(|&i| i != 2)
            .unwrap();
        assert_eq!(b.pick_hashed(Some(h)).unwrap().index, expected);
    }
}

#[test]
fn maglev_probes_the_next_slot() {
    let names = addrs(5);
    let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    let ejections = Ejections::new(5);
    let b = hashed(Policy::MAGLEV_DEFAULT, &spec, Some(ejections.clone()));
    let Choose::Maglev(table) = &b.levels[0].choose else {
        panic!("not maglev");
    };
    ejections.set(1, true);
    for k in 0..2000u64 {
        let h = hash_bytes(k.to_le_bytes());
        let slot = h % table.len() as u64;
        let expected = (0..table.len() as u64)
            .map(|s| table.endpoint_at(slot + s))
            .find(|&i| i != 1)
            .unwrap();
        assert_eq!(b.pick_hashed(Some(h)).unwrap().index, expected);
    }
}

#[test]
fn all_ejected_gives_none() {
    let names = addrs(3);
    let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
    for policy in POLICIES {
        let ejections = Ejections::new(3);
        let b = hashed(policy, &spec, Some(ejections.clone()));
        (0..3).for_each(|i| {
            ejections.set(i, true);
        });
        assert!(b.pick_hashed(Some(7)).is_none());
        ejections.set(1, false);
        assert_eq!(b.pick_hashed(Some(7)).unwrap().index, 1);
    }
}

#[test]
fn policies_validate_as_envoy() {
    assert!(Policy::RING_HASH_DEFAULT.validate().is_ok());
    assert!(Policy::MAGLEV_DEFAULT.validate().is_ok());
    assert_eq!(
        Policy::RingHash {
            min_ring_size: 10,
            max_ring_size: 5
        }
        .validate(),
        Err(PolicyError::RingSizeOrder { min: 10, max: 5 })
    );
    assert_eq!(
        Policy::Maglev { table_size: 65536 }.validate(),
        Err(PolicyError::MaglevTableSize(65536))
    );
    let one = Options {
        choice_count: 1,
        ..Options::default()
    };
    assert_eq!(one.validate(), Err(PolicyError::ChoiceCount(1)));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Ejecting endpoints moves only the keys those endpoints owned.
    #[test]
    fn ejection_moves_only_the_ejected_endpoints_keys(
        n in 2usize..12,
        ejected in prop::collection::vec(any::<bool>(), 12),
        policy in prop::sample::select(POLICIES.to_vec()),
    ) {
        let names = addrs(n);
        let spec: Vec<(&str, u32)> = names.iter().map(|s| (s.as_str(), 1)).collect();
        let ejections = Ejections::new(n);
        let b = hashed(policy, &spec, Some(ejections.clone()));
        let keys: Vec<u64> = (0..300u64).map(|k| hash_bytes(k.to_le_bytes())).collect();
        let before: Vec<usize> = keys.iter().map(|&h| b.pick_hashed(Some(h)).unwrap().index).collect();
        for (i, &e) in ejected.iter().take(n).enumerate() {
            ejections.set(i, e);
        }
        for (&h, &owner) in keys.iter().zip(&before) {
            match b.pick_hashed(Some(h)) {
                Some(p) => {
                    prop_assert!(!ejections.is_ejected(p.index));
                    if !ejections.is_ejected(owner) {
                        prop_assert_eq!(p.index, owner);
                    }
                }
                None => prop_assert_eq!(ejections.ejected_count(), n),
            }
        }
    }
}
