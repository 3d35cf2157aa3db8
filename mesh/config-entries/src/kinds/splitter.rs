//! `service-splitter`: weighted shares of one service's traffic, to subsets or other services.

use crate::common::{Header, HeaderModifiers, header_modifiers};
use crate::decode::Fields;
use crate::error::{Diag, Origin};
use crate::kinds::extensions::hundredths;
use crate::tree::Node;

/// The weights of a splitter add up to this many hundredths of a percent (100.00 %).
pub const TOTAL_WEIGHT_HUNDREDTHS: u32 = 10_000;

/// A `service-splitter` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceSplitter {
    pub header: Header,
    pub splits: Vec<Split>,
}

/// One share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Split {
    /// The weight in hundredths of a percent, rounded as Consul rounds it
    /// (`round(weight * 100)`); the splits of an entry add up to
    /// [`TOTAL_WEIGHT_HUNDREDTHS`].
    pub weight_hundredths: u32,
    /// `None`: the splitter's own service.
    pub service: Option<String>,
    pub service_subset: Option<String>,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub request_headers: Option<HeaderModifiers>,
    pub response_headers: Option<HeaderModifiers>,
}

impl Split {
    /// The weight in percent, 0.01 precision.
    pub fn weight(&self) -> f64 {
        f64::from(self.weight_hundredths) / 100.0
    }
}

const KEYS: &[&str] = crate::entry_keys!["Splits"];

const SPLIT_KEYS: &[&str] = &[
    "Weight",
    "Service",
    "ServiceSubset",
    "Namespace",
    "Partition",
    "RequestHeaders",
    "ResponseHeaders",
];

impl ServiceSplitter {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "service-splitter", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        let nodes = f.list(d, "Splits");
        if nodes.is_empty() {
            d.err(
                &f.key_at("Splits"),
                "Splits: no splits configured; expected at least one",
            );
        }
        let mut splits: Vec<Split> = Vec::new();
        let mut complete = true;
        for n in nodes {
            let Some(s) = split(d, n) else {
                complete = false;
                continue;
            };
            let target = |s: &Split| {
                (
                    s.service.clone().unwrap_or_else(|| header.name.clone()),
                    s.service_subset.clone(),
                    s.namespace.clone(),
                    s.partition.clone(),
                )
            };
            if splits.iter().any(|prev| target(prev) == target(&s)) {
                let (service, subset, ..) = target(&s);
                d.err(
                    &n.at,
                    format!(
                        "split destination occurs more than once: service {service:?}, subset {:?}",
                        subset.unwrap_or_default()
                    ),
                );
            }
            splits.push(s);
        }
        let sum: u32 = splits.iter().map(|s| s.weight_hundredths).sum();
        if complete && !splits.is_empty() && sum != TOTAL_WEIGHT_HUNDREDTHS {
            d.err(
                &f.key_at("Splits"),
                format!(
                    "the sum of all split weights must be 100, not {}.{:02}",
                    sum / 100,
                    sum % 100
                ),
            );
        }
        Some(Self { header, splits })
    }
}

fn split(d: &mut Diag, node: &Node) -> Option<Split> {
    let f = Fields::of(d, node, "service-splitter split", SPLIT_KEYS)?;
    // an unset weight is 0, as in Consul; a bad one is reported and makes the sum moot
    let weight = if f.has("Weight") {
        f.float(d, "Weight")?
    } else {
        0.0
    };
    let h = hundredths(weight);
    let weight_hundredths = match u32::try_from(h) {
        Ok(h) if h <= TOTAL_WEIGHT_HUNDREDTHS => h,
        _ => {
            d.err(
                &f.value_at("Weight"),
                format!("Weight: expected a number from 0 to 100, found {weight}"),
            );
            return None;
        }
    };
    let non_empty = |d: &mut Diag, name| f.string(d, name).filter(|s| !s.is_empty());
    Some(Split {
        weight_hundredths,
        service: non_empty(d, "Service"),
        service_subset: non_empty(d, "ServiceSubset"),
        namespace: non_empty(d, "Namespace"),
        partition: non_empty(d, "Partition"),
        request_headers: header_modifiers(d, &f, "RequestHeaders"),
        response_headers: header_modifiers(d, &f, "ResponseHeaders"),
    })
}
