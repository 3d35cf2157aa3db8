//! Property: nested splitters flatten into weights that add up to 100.00 %, each leaf
//! within rounding of the product of the weights on its path.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rigging_mesh_config_entries::{ConfigEntry, Header, Protocol, ServiceSplitter, Split};
use rigging_pilot_chain::{ChainRequest, Destination, Entries, compile_chain};

/// Positive weights in hundredths that add up to 10000, as `validate_set` requires.
fn weights(n: usize) -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(1u32..1000, n).prop_map(|raw| {
        let sum: u32 = raw.iter().sum();
        let mut w: Vec<u32> = raw.iter().map(|r| r * 10_000 / sum).collect();
        let rest = 10_000 - w.iter().sum::<u32>();
        w[0] += rest;
        w
    })
}

fn splitter(name: &str, splits: Vec<(String, u32)>) -> ConfigEntry {
    ConfigEntry::ServiceSplitter(ServiceSplitter {
        header: Header {
            name: name.to_owned(),
            ..Default::default()
        },
        splits: splits
            .into_iter()
            .map(|(service, weight_hundredths)| Split {
                weight_hundredths,
                service: Some(service),
                ..Default::default()
            })
            .collect(),
    })
}

/// `web` splits over `s0..sn`; each `si` that has inner weights splits over `si-0..`.
fn arb_nested() -> impl Strategy<Value = (Vec<u32>, Vec<Option<Vec<u32>>>)> {
    (1usize..5).prop_flat_map(|n| {
        (
            weights(n),
            prop::collection::vec(prop::option::of((1usize..4).prop_flat_map(weights)), n),
        )
    })
}

proptest! {
    #[test]
    fn flattened_weights_add_up(nested in arb_nested()) {
        let (outer, inner) = nested;
        let mut entries = vec![splitter(
            "web",
            outer.iter().enumerate().map(|(i, w)| (format!("s{i}"), *w)).collect(),
        )];
        let mut want = Vec::new();
        for (i, (w, inner)) in outer.iter().zip(&inner).enumerate() {
            match inner {
                Some(ws) => {
                    entries.push(splitter(
                        &format!("s{i}"),
                        ws.iter().enumerate().map(|(j, x)| (format!("s{i}-{j}"), *x)).collect(),
                    ));
                    for (j, x) in ws.iter().enumerate() {
                        want.push((format!("s{i}-{j}"), f64::from(*w) * f64::from(*x) / 10_000.0));
                    }
                }
                None => want.push((format!("s{i}"), f64::from(*w))),
            }
        }
        let mut req = ChainRequest::new("web", "dc1");
        req.default_protocol = Protocol::Http;
        let chain = compile_chain(&Entries::new(entries), &req).unwrap();
        let Destination::Split(splits) = &chain.routes[0].action.destination else {
            panic!("no split")
        };
        prop_assert_eq!(splits.iter().map(|s| s.weight).sum::<u32>(), 10_000);
        prop_assert_eq!(splits.len(), want.len());
        let slack = want.len() as f64;
        for (s, (name, w)) in splits.iter().zip(&want) {
            prop_assert_eq!(&s.target.service, name);
            prop_assert!((f64::from(s.weight) - w).abs() <= slack, "{} {} vs {}", name, s.weight, w);
        }
    }
}
