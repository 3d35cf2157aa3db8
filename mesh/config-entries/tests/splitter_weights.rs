//! Property: a splitter whose weights (at 0.01 precision) add up to 100 is accepted with
//! those weights; moving any weight by 0.01 or more breaks the sum and is refused.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use proptest::prelude::*;
use rigging_mesh_config_entries::{ConfigEntry, parse_str};

/// Up to six weights in hundredths of a percent that add up to 10 000.
fn weights() -> impl Strategy<Value = Vec<u32>> {
    prop::collection::vec(0u32..=10_000, 1..6).prop_map(|cuts| {
        let mut cuts: Vec<u32> = cuts[1..].to_vec();
        cuts.push(0);
        cuts.push(10_000);
        cuts.sort_unstable();
        cuts.windows(2).map(|w| w[1] - w[0]).collect()
    })
}

fn splitter(weights: &[u32], json: bool) -> String {
    let w = |h: u32| format!("{}.{:02}", h / 100, h % 100);
    if json {
        let splits: Vec<String> = weights
            .iter()
            .enumerate()
            .map(|(i, h)| format!("{{\"Weight\": {}, \"ServiceSubset\": \"s{i}\"}}", w(*h)))
            .collect();
        format!(
            "{{\"Kind\": \"service-splitter\", \"Name\": \"web\", \"Splits\": [{}]}}",
            splits.join(", ")
        )
    } else {
        let splits: String = weights
            .iter()
            .enumerate()
            .map(|(i, h)| {
                format!(
                    "  {{\n    Weight = {}\n    ServiceSubset = \"s{i}\"\n  }},\n",
                    w(*h)
                )
            })
            .collect();
        format!("Kind = \"service-splitter\"\nName = \"web\"\nSplits = [\n{splits}]\n")
    }
}

proptest! {
    #[test]
    fn weights_adding_up_to_100_are_accepted(weights in weights(), json in any::<bool>()) {
        let loaded = parse_str(Path::new("s.hcl"), &splitter(&weights, json));
        prop_assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
        let [ConfigEntry::ServiceSplitter(s)] = loaded.entries.as_slice() else {
            panic!("one splitter expected");
        };
        let got: Vec<u32> = s.splits.iter().map(|s| s.weight_hundredths).collect();
        prop_assert_eq!(got, weights);
    }

    #[test]
    fn weights_off_by_a_hundredth_or_more_are_refused(
        mut weights in weights(),
        index in any::<prop::sample::Index>(),
        delta in prop_oneof![-500i64..=-1, 1i64..=500],
    ) {
        let i = index.index(weights.len());
        let moved = (i64::from(weights[i]) + delta).clamp(0, 10_000);
        prop_assume!(moved != i64::from(weights[i]));
        weights[i] = u32::try_from(moved).unwrap();
        let sum: u32 = weights.iter().sum();
        let loaded = parse_str(Path::new("s.hcl"), &splitter(&weights, false));
        let want = format!("the sum of all split weights must be 100, not {}.{:02}", sum / 100, sum % 100);
        prop_assert_eq!(loaded.errors.len(), 1);
        prop_assert_eq!(&loaded.errors[0].message, &want);
        prop_assert_eq!((loaded.errors[0].location.line, loaded.errors[0].location.column), (3, 1));
    }
}
