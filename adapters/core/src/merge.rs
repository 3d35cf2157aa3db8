//! The pure merge of several registries' snapshots into one catalog.

use std::collections::btree_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_model::{Catalog, LbPolicy, META_REGISTRY, Protocol, ProxyId, ServiceName};

use crate::RegistrySnapshot;

/// A disagreement between registries that the merge settled by taking the first registry's view.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeWarning {
    #[error(
        "service {service}: registry {ignored_registry} says protocol {ignored}, \
         registry {kept_registry} says {kept}; keeping {kept}"
    )]
    ProtocolConflict {
        service: ServiceName,
        kept_registry: String,
        kept: Protocol,
        ignored_registry: String,
        ignored: Protocol,
    },
    #[error(
        "service {service}: registry {ignored_registry} says load balancer {}, \
         registry {kept_registry} says {}; keeping {}",
        ignored.as_str(), kept.as_str(), kept.as_str()
    )]
    LbPolicyConflict {
        service: ServiceName,
        kept_registry: String,
        kept: LbPolicy,
        ignored_registry: String,
        ignored: LbPolicy,
    },
    #[error(
        "service {service}: registry {ignored_registry} says connect timeout {ignored:?}, \
         registry {kept_registry} says {kept:?}; keeping {kept:?}"
    )]
    ConnectTimeoutConflict {
        service: ServiceName,
        kept_registry: String,
        kept: Duration,
        ignored_registry: String,
        ignored: Duration,
    },
    #[error(
        "proxy {proxy} is declared by registries {kept_registry} and {ignored_registry}; \
         keeping the one from {kept_registry}"
    )]
    DuplicateProxy {
        proxy: ProxyId,
        kept_registry: String,
        ignored_registry: String,
    },
}

/// Merges snapshots, given in configured order, into one catalog; see the crate
/// documentation for the rule. Returns the conflicts it settled, for the caller to log.
pub fn merge(snapshots: &[Arc<RegistrySnapshot>]) -> (Catalog, Vec<MergeWarning>) {
    let mut out = Catalog::default();
    let mut warnings = Vec::new();
    // which registry each service and proxy came from first, for the warnings
    let mut service_origin: std::collections::BTreeMap<ServiceName, &str> = Default::default();
    let mut proxy_origin: std::collections::BTreeMap<ProxyId, &str> = Default::default();

    for snap in snapshots {
        let registry = snap.registry.as_str();
        for (name, service) in &snap.catalog.services {
            let endpoints = service.endpoints.iter().map(|e| {
                let mut e = e.clone();
                e.metadata
                    .insert(META_REGISTRY.to_owned(), registry.to_owned());
                e
            });
            match out.services.entry(name.clone()) {
                Entry::Vacant(v) => {
                    let mut s = service.clone();
                    s.endpoints = endpoints.collect();
                    v.insert(s);
                    service_origin.insert(name.clone(), registry);
                }
                Entry::Occupied(mut o) => {
                    let kept = o.get_mut();
                    let kept_registry = service_origin.get(name).copied().unwrap_or_default();
                    conflicts(kept, service, kept_registry, registry, &mut warnings);
                    kept.endpoints.extend(endpoints);
                }
            }
        }
        for (id, proxy) in &snap.catalog.proxies {
            match out.proxies.entry(id.clone()) {
                Entry::Vacant(v) => {
                    v.insert(proxy.clone());
                    proxy_origin.insert(id.clone(), registry);
                }
                Entry::Occupied(_) => warnings.push(MergeWarning::DuplicateProxy {
                    proxy: id.clone(),
                    kept_registry: proxy_origin.get(id).copied().unwrap_or_default().to_owned(),
                    ignored_registry: registry.to_owned(),
                }),
            }
        }
    }
    (out, warnings)
}

fn conflicts(
    kept: &rigging_mesh_model::Service,
    other: &rigging_mesh_model::Service,
    kept_registry: &str,
    ignored_registry: &str,
    warnings: &mut Vec<MergeWarning>,
) {
    let service = kept.name.clone();
    let (kept_registry, ignored_registry) = (kept_registry.to_owned(), ignored_registry.to_owned());
    if kept.protocol != other.protocol {
        warnings.push(MergeWarning::ProtocolConflict {
            service: service.clone(),
            kept_registry: kept_registry.clone(),
            kept: kept.protocol,
            ignored_registry: ignored_registry.clone(),
            ignored: other.protocol,
        });
    }
    if kept.lb_policy != other.lb_policy {
        warnings.push(MergeWarning::LbPolicyConflict {
            service: service.clone(),
            kept_registry: kept_registry.clone(),
            kept: kept.lb_policy,
            ignored_registry: ignored_registry.clone(),
            ignored: other.lb_policy,
        });
    }
    if kept.connect_timeout != other.connect_timeout {
        warnings.push(MergeWarning::ConnectTimeoutConflict {
            service,
            kept_registry,
            kept: kept.connect_timeout,
            ignored_registry,
            ignored: other.connect_timeout,
        });
    }
}

#[cfg(test)]
mod tests;
