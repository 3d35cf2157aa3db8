//! `service-resolver`: which instances serve a service: subsets, redirect, failover,
//! timeouts and load balancing.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::Header;
use crate::decode::{Fields, one_of};
use crate::error::{Diag, Origin};
use crate::kinds::failover::{failover_policy_fields, failovers};
use crate::kinds::filter::{Filter, parse_filter};
use crate::kinds::load_balancer::{LoadBalancer, load_balancer};
use crate::tree::Node;

/// What the compiled chain reports when a resolver sets no `ConnectTimeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest subset name: one DNS label, as subsets appear in SNI names.
pub const MAX_SUBSET_NAME_LEN: usize = 63;

/// A `service-resolver` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceResolver {
    pub header: Header,
    /// The subset used when a request names none; `None`: all healthy instances.
    pub default_subset: Option<String>,
    pub subsets: BTreeMap<String, Subset>,
    /// When set, every other field except the header is ignored by the chain.
    pub redirect: Option<Redirect>,
    /// Keyed by subset name, or `*` for every subset without its own entry.
    pub failover: BTreeMap<String, Failover>,
    /// `None`: [`DEFAULT_CONNECT_TIMEOUT`].
    pub connect_timeout: Option<Duration>,
    pub request_timeout: Option<Duration>,
    pub prioritize_by_locality: Option<PrioritizeByLocality>,
    pub load_balancer: Option<LoadBalancer>,
}

/// A named subset of a service's instances.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Subset {
    /// The filter as written; empty selects every healthy instance.
    pub filter: String,
    /// The parsed filter, `None` when empty.
    pub parsed: Option<Filter>,
    /// Only instances whose checks all pass (otherwise `warning` counts as healthy).
    pub only_passing: bool,
}

/// Where a [`Redirect`] or failover target points; empty fields keep the current value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    pub service: Option<String>,
    pub service_subset: Option<String>,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub datacenter: Option<String>,
    pub peer: Option<String>,
}

/// `Redirect`: resolve another service (or subset, datacenter, peer) instead.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Redirect {
    pub target: Target,
    /// Enterprise sameness group; kept, not compiled.
    pub sameness_group: Option<String>,
}

/// `Failover[subset]`: where traffic goes when every instance of the subset is unhealthy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Failover {
    pub service: Option<String>,
    pub service_subset: Option<String>,
    pub namespace: Option<String>,
    /// Tried in order.
    pub datacenters: Vec<String>,
    /// Tried in order; excludes the fields above.
    pub targets: Vec<Target>,
    pub policy: Option<FailoverPolicy>,
    /// Enterprise sameness group; kept, not compiled.
    pub sameness_group: Option<String>,
}

/// `Policy { Mode, Regions }` of a failover (or `FailoverPolicy` of `proxy-defaults`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FailoverPolicy {
    /// `sequential` (the default) or `order-by-locality`.
    pub mode: Option<String>,
    pub regions: Vec<String>,
}

/// `PrioritizeByLocality { Mode }`: `none` (the default) or `failover`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PrioritizeByLocality {
    pub mode: Option<String>,
}

const KEYS: &[&str] = crate::entry_keys![
    "DefaultSubset",
    "Subsets",
    "Redirect",
    "Failover",
    "ConnectTimeout",
    "RequestTimeout",
    "PrioritizeByLocality",
    "LoadBalancer",
];

pub(crate) const TARGET_KEYS: &[&str] = &[
    "Service",
    "ServiceSubset",
    "Namespace",
    "Partition",
    "Datacenter",
    "Peer",
];

const REDIRECT_KEYS: &[&str] = &[
    "Service",
    "ServiceSubset",
    "Namespace",
    "Partition",
    "Datacenter",
    "Peer",
    "SamenessGroup",
];

impl ServiceResolver {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "service-resolver", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        let subsets = subsets(d, &f);
        let is_subset = |s: &str| subsets.contains_key(s);
        let default_subset = f.string(d, "DefaultSubset").filter(|s| !s.is_empty());
        if let Some(s) = &default_subset
            && !is_subset(s)
        {
            d.err(
                &f.value_at("DefaultSubset"),
                format!(
                    "DefaultSubset {s:?} is not one of the Subsets ({})",
                    names(&subsets)
                ),
            );
        }
        let redirect = redirect(d, &f, &header, &is_subset);
        let failover = failovers(d, &f, &header, &is_subset);
        if redirect.is_some() && !failover.is_empty() {
            d.err(
                &f.key_at("Failover"),
                "Redirect and Failover cannot both be set",
            );
        }
        Some(Self {
            header,
            default_subset,
            subsets: subsets.clone(),
            redirect,
            failover,
            connect_timeout: f.duration(d, "ConnectTimeout"),
            request_timeout: f.duration(d, "RequestTimeout"),
            prioritize_by_locality: prioritize_by_locality(d, &f),
            load_balancer: f.node(d, "LoadBalancer").and_then(|n| load_balancer(d, n)),
        })
    }

    /// `connect_timeout`, or [`DEFAULT_CONNECT_TIMEOUT`] when unset or zero.
    pub fn effective_connect_timeout(&self) -> Duration {
        self.connect_timeout
            .filter(|t| !t.is_zero())
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }
}

fn names(subsets: &BTreeMap<String, Subset>) -> String {
    if subsets.is_empty() {
        return "none are defined".to_owned();
    }
    let names: Vec<String> = subsets.keys().map(|k| format!("{k:?}")).collect();
    format!("defined: {}", names.join(", "))
}

/// Consul's `validateServiceSubset`: a DNS label of lower-case letters, digits and `-`.
pub fn is_valid_subset_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_SUBSET_NAME_LEN
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b.first() != Some(&b'-')
        && b.last() != Some(&b'-')
}

fn subsets(d: &mut Diag, f: &Fields<'_>) -> BTreeMap<String, Subset> {
    let mut out = BTreeMap::new();
    for m in f.map(d, "Subsets") {
        if !is_valid_subset_name(&m.key) {
            d.err(
                &m.key_at,
                format!(
                    "Subsets: {:?} is not a valid subset name; expected at most {MAX_SUBSET_NAME_LEN} lower-case letters, digits or '-', starting and ending with a letter or digit",
                    m.key
                ),
            );
        }
        let Some(s) = Fields::of(d, &m.value, "subset", &["Filter", "OnlyPassing"]) else {
            continue;
        };
        let filter = s.text(d, "Filter");
        let parsed = if filter.trim().is_empty() {
            None
        } else {
            match parse_filter(&filter) {
                Ok(p) => Some(p),
                Err(e) => {
                    d.err(
                        &s.value_at("Filter"),
                        format!(
                            "Filter of subset {:?} is not a valid expression: {e}",
                            m.key
                        ),
                    );
                    None
                }
            }
        };
        out.insert(
            m.key.clone(),
            Subset {
                filter,
                parsed,
                only_passing: s.flag(d, "OnlyPassing"),
            },
        );
    }
    out
}

pub(crate) fn target(d: &mut Diag, f: &Fields<'_>) -> Target {
    let mut s = |name| f.string(d, name).filter(|s| !s.is_empty());
    Target {
        service: s("Service"),
        service_subset: s("ServiceSubset"),
        namespace: s("Namespace"),
        partition: s("Partition"),
        datacenter: s("Datacenter"),
        peer: s("Peer"),
    }
}

/// Consul's pairwise exclusions on a redirect or failover target; `what` prefixes messages.
pub(crate) fn check_target(
    d: &mut Diag,
    at: &rigging_mesh_hcl::Location,
    what: &str,
    t: &Target,
    own: &str,
    is_subset: &dyn Fn(&str) -> bool,
) {
    let pairs = [
        (
            t.peer.is_some() && t.service_subset.is_some(),
            "Peer cannot be set with ServiceSubset",
        ),
        (
            t.peer.is_some() && t.partition.is_some(),
            "Partition cannot be set with Peer",
        ),
        (
            t.peer.is_some() && t.datacenter.is_some(),
            "Peer cannot be set with Datacenter",
        ),
        (
            t.partition.is_some() && t.datacenter.is_some(),
            "Partition cannot be set with Datacenter",
        ),
    ];
    for (bad, message) in pairs {
        if bad {
            d.err(at, format!("{what}: {message}"));
        }
    }
    if let Some(subset) = &t.service_subset
        && t.service.as_deref().is_none_or(|s| s == own)
        && !is_subset(subset)
    {
        d.err(
            at,
            format!("{what}: ServiceSubset {subset:?} is not a subset of {own:?}"),
        );
    }
}

fn redirect(
    d: &mut Diag,
    f: &Fields<'_>,
    header: &Header,
    is_subset: &dyn Fn(&str) -> bool,
) -> Option<Redirect> {
    let node = f.node(d, "Redirect")?;
    let r = Fields::of(d, node, "Redirect", REDIRECT_KEYS)?;
    let t = target(d, &r);
    let sameness_group = r.string(d, "SamenessGroup").filter(|s| !s.is_empty());
    let at = r.at().clone();
    if t == Target::default() && sameness_group.is_none() {
        d.err(&at, "Redirect is empty; expected a Service, ServiceSubset, Namespace, Partition, Datacenter or Peer");
    }
    if t.service.is_none() {
        for (set, key) in [
            (t.namespace.is_some(), "Namespace"),
            (t.partition.is_some(), "Partition"),
            (t.peer.is_some(), "Peer"),
        ] {
            if set {
                d.err(&at, format!("Redirect: {key} is set without Service"));
            }
        }
    }
    let entry_partition = header.partition.as_deref().unwrap_or("default");
    if t.datacenter.is_some() {
        if entry_partition != "default" {
            d.err(
                &at,
                "Redirect: a cross-datacenter redirect is only supported in the default partition",
            );
        } else if t.partition.as_deref().is_some_and(|p| p != entry_partition) {
            d.err(
                &at,
                "Redirect: a redirect cannot cross both datacenter and partition",
            );
        }
    }
    check_target(d, &at, "Redirect", &t, &header.name, is_subset);
    Some(Redirect {
        target: t,
        sameness_group,
    })
}

/// `FailoverPolicy` of a `proxy-defaults` entry.
pub(crate) fn failover_policy(d: &mut Diag, f: &Fields<'_>) -> Option<FailoverPolicy> {
    let node = f.node(d, "FailoverPolicy")?;
    let p = Fields::of(d, node, "FailoverPolicy", &["Mode", "Regions"])?;
    failover_policy_fields(d, &p)
}

pub(crate) fn prioritize_by_locality(d: &mut Diag, f: &Fields<'_>) -> Option<PrioritizeByLocality> {
    let node = f.node(d, "PrioritizeByLocality")?;
    let p = Fields::of(d, node, "PrioritizeByLocality", &["Mode"])?;
    let mode = one_of(
        d,
        &p,
        "Mode",
        &[
            ("", None),
            ("none", Some("none")),
            ("failover", Some("failover")),
        ],
    )
    .flatten()
    .map(str::to_owned);
    Some(PrioritizeByLocality { mode })
}
