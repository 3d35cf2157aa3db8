//! A resolver's `Failover` map: where traffic goes when a subset has no healthy instance.

use std::collections::BTreeMap;

use rigging_mesh_hcl::Location;

use crate::common::Header;
use crate::decode::{Fields, one_of};
use crate::error::Diag;
use crate::kinds::resolver::{Failover, FailoverPolicy, TARGET_KEYS, check_target, target};
use crate::tree::Node;

pub(crate) fn failovers(
    d: &mut Diag,
    f: &Fields<'_>,
    header: &Header,
    is_subset: &dyn Fn(&str) -> bool,
) -> BTreeMap<String, Failover> {
    let mut out = BTreeMap::new();
    for m in f.map(d, "Failover") {
        let what = format!("Failover[{:?}]", m.key);
        // Consul refuses this ("not a valid subset"), but its own docs publish such an
        // example (corpus: docs-service-resolver-failover-datacenters); it is accepted
        // with a warning, since the failover simply never applies
        if m.key != "*" && !is_subset(&m.key) {
            d.warn(
                &m.key_at,
                format!(
                    "{what}: {:?} is not one of the Subsets, so this failover never applies (Consul refuses it; use a subset name or \"*\")",
                    m.key
                ),
            );
        }
        let Some(g) = Fields::of(
            d,
            &m.value,
            "Failover",
            &[
                "Service",
                "ServiceSubset",
                "Namespace",
                "Datacenters",
                "Targets",
                "Policy",
                "SamenessGroup",
            ],
        ) else {
            continue;
        };
        let at = g.at().clone();
        let non_empty = |d: &mut Diag, name| g.string(d, name).filter(|s| !s.is_empty());
        let datacenters = g.strings(d, "Datacenters");
        if datacenters.iter().any(String::is_empty) {
            d.err(
                &g.value_at("Datacenters"),
                format!("{what}: Datacenters has an empty name"),
            );
        }
        let mut targets = Vec::new();
        for (i, n) in g.list(d, "Targets").into_iter().enumerate() {
            let Some(t) = Fields::of(d, n, "failover target", TARGET_KEYS) else {
                continue;
            };
            let target = target(d, &t);
            check_target(
                d,
                t.at(),
                &format!("{what}.Targets[{i}]"),
                &target,
                &header.name,
                is_subset,
            );
            targets.push(target);
        }
        let fo = Failover {
            service: non_empty(d, "Service"),
            service_subset: non_empty(d, "ServiceSubset"),
            namespace: non_empty(d, "Namespace"),
            datacenters,
            targets,
            policy: g.node(d, "Policy").and_then(|n| policy(d, n)),
            sameness_group: non_empty(d, "SamenessGroup"),
        };
        check_failover(d, &at, &what, &fo, header, is_subset);
        out.insert(m.key.clone(), fo);
    }
    out
}

fn check_failover(
    d: &mut Diag,
    at: &Location,
    what: &str,
    fo: &Failover,
    header: &Header,
    is_subset: &dyn Fn(&str) -> bool,
) {
    let has_targets = !fo.targets.is_empty();
    if fo.service.is_none()
        && fo.service_subset.is_none()
        && fo.namespace.is_none()
        && fo.datacenters.is_empty()
        && !has_targets
        && fo.sameness_group.is_none()
    {
        d.err(at, format!("{what}: one of Service, ServiceSubset, Namespace, Targets, SamenessGroup or Datacenters is required"));
    }
    for (bad, message) in [
        (
            !fo.datacenters.is_empty() && has_targets,
            "Targets cannot be set with Datacenters",
        ),
        (
            fo.service_subset.is_some() && has_targets,
            "Targets cannot be set with ServiceSubset",
        ),
        (
            fo.service.is_some() && has_targets,
            "Targets cannot be set with Service",
        ),
        (
            fo.sameness_group.is_some() && (has_targets || !fo.datacenters.is_empty()),
            "SamenessGroup cannot be set with Targets or Datacenters",
        ),
    ] {
        if bad {
            d.err(at, format!("{what}: {message}"));
        }
    }
    if !fo.datacenters.is_empty() && header.partition.as_deref().is_some_and(|p| p != "default") {
        d.err(
            at,
            format!("{what}: cross-datacenter failover is only supported in the default partition"),
        );
    }
    if let Some(subset) = &fo.service_subset
        && fo.service.as_deref().is_none_or(|s| s == header.name)
        && !is_subset(subset)
    {
        d.err(
            at,
            format!(
                "{what}: ServiceSubset {subset:?} is not a subset of {:?}",
                header.name
            ),
        );
    }
}

fn policy(d: &mut Diag, node: &Node) -> Option<FailoverPolicy> {
    let p = Fields::of(d, node, "failover Policy", &["Mode", "Regions"])?;
    failover_policy_fields(d, &p)
}

pub(crate) fn failover_policy_fields(d: &mut Diag, p: &Fields<'_>) -> Option<FailoverPolicy> {
    let mode = one_of(
        d,
        p,
        "Mode",
        &[
            ("", None),
            ("sequential", Some("sequential")),
            ("order-by-locality", Some("order-by-locality")),
        ],
    )
    .flatten()
    .map(str::to_owned);
    Some(FailoverPolicy {
        mode,
        regions: p.strings(d, "Regions"),
    })
}
