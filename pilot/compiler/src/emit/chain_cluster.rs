//! The clusters and endpoints of a discovery chain's targets: `pilot/XDS.md`, "Traffic
//! rules from config entries", Targets, Cluster (CDS) and ClusterLoadAssignment.

use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, EdsClusterConfig, LbConfig, LbPolicy as XdsLbPolicy,
    LeastRequestLbConfig, RingHashLbConfig,
};
use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, OutlierDetection, circuit_breakers::Thresholds,
    circuit_breakers::thresholds::RetryBudget,
};
use envoy_types::pb::envoy::config::core::v3::RoutingPriority;
use envoy_types::pb::envoy::r#type::v3::Percent as XdsPercent;
use envoy_types::pb::google::protobuf::{UInt32Value, UInt64Value};
use rigging_mesh_config_entries::{LbPolicy as EntryLbPolicy, Limits, PassiveHealthCheck};
use rigging_mesh_model::{Catalog, Endpoint, Health, META_DATACENTER, Protocol, ServiceName};
use rigging_mesh_xds::{Cluster, ClusterLoadAssignment};
use rigging_pilot_chain::{CompiledChain, CompiledTarget, Instance, filter_matches};

use crate::MeshSecurity;
use crate::emit::{ads, cluster, duration, push_groups, tls};
use crate::links::Links;

/// The share of requests in flight that may be retries at once: Envoy's default for a
/// retry budget, so that retries never multiply an outage.
pub const RETRY_BUDGET_PERCENT: f64 = 20.0;

/// Retries always allowed whatever the budget says, so a quiet cluster can still retry:
/// Envoy's default for a retry budget.
pub const RETRY_BUDGET_MIN_CONCURRENCY: u32 = 3;

/// The EDS cluster of `target`, with the chain's protocol, the resolver's connect timeout
/// and load balancer (the registry's policy when it sets none), circuit breakers with the
/// retry budget, and with security mTLS to every service its endpoints may belong to.
pub(crate) fn target_cluster(
    catalog: &Catalog,
    links: &Links<'_>,
    chain: &CompiledChain,
    target: &CompiledTarget,
    protocol: Protocol,
    security: Option<&MeshSecurity>,
) -> Cluster {
    let registry_lb = service_name(&target.id.service)
        .and_then(|n| catalog.service(&n))
        .map(|s| s.lb_policy)
        .unwrap_or_default();
    let mut c = cluster(
        &target.id.cluster_name(),
        protocol,
        registry_lb,
        target.connect_timeout,
    );
    c.cluster_discovery_type = Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32));
    c.eds_cluster_config = Some(EdsClusterConfig {
        eds_config: Some(ads()),
        service_name: String::new(),
    });
    if let Some(lb) = &target.load_balancer {
        let policy = match lb.policy {
            EntryLbPolicy::Default => None,
            EntryLbPolicy::RoundRobin => Some(XdsLbPolicy::RoundRobin),
            EntryLbPolicy::LeastRequest => Some(XdsLbPolicy::LeastRequest),
            EntryLbPolicy::Random => Some(XdsLbPolicy::Random),
            EntryLbPolicy::RingHash => Some(XdsLbPolicy::RingHash),
            EntryLbPolicy::Maglev => Some(XdsLbPolicy::Maglev),
        };
        if let Some(p) = policy {
            c.lb_policy = p as i32;
        }
        c.lb_config = match lb.policy {
            EntryLbPolicy::RingHash => Some(LbConfig::RingHashLbConfig(RingHashLbConfig {
                minimum_ring_size: lb
                    .ring_hash
                    .as_ref()
                    .and_then(|r| r.minimum_ring_size)
                    .map(|value| UInt64Value { value }),
                maximum_ring_size: lb
                    .ring_hash
                    .as_ref()
                    .and_then(|r| r.maximum_ring_size)
                    .map(|value| UInt64Value { value }),
                ..Default::default()
            })),
            EntryLbPolicy::LeastRequest => {
                Some(LbConfig::LeastRequestLbConfig(LeastRequestLbConfig {
                    choice_count: lb
                        .least_request
                        .as_ref()
                        .and_then(|l| l.choice_count)
                        .map(|value| UInt32Value { value }),
                    ..Default::default()
                }))
            }
            _ => None,
        };
    }
    c.circuit_breakers = Some(circuit_breakers(None));
    c.transport_socket = security.map(|sec| {
        let ids: Vec<String> = services_of(links, chain, target)
            .iter()
            .map(|(s, dc)| {
                sec.service_id_in(s, dc.unwrap_or(sec.datacenter()))
                    .as_str()
                    .to_owned()
            })
            .collect();
        tls::upstream_socket_ids(&target.id.service, &ids, protocol)
    });
    c
}

/// The services whose endpoints the target's CLA may hold, each with its datacenter when
/// not the local one: its own, then its failovers' (a linked service's terminating gateway
/// in its place).
fn services_of<'c>(
    links: &Links<'_>,
    chain: &'c CompiledChain,
    target: &CompiledTarget,
) -> Vec<(ServiceName, Option<&'c str>)> {
    let mut out: Vec<(ServiceName, Option<&'c str>)> = Vec::new();
    for id in std::iter::once(&target.id).chain(&target.failover) {
        let Some((key, _)) = chain.targets.get_key_value(id) else {
            continue;
        };
        let dc = key
            .datacenter
            .as_deref()
            .filter(|dc| *dc != chain.datacenter);
        let service = match dc {
            Some(_) => service_name(&id.service),
            None => links
                .gateway_of(&id.service)
                .or_else(|| service_name(&id.service)),
        };
        if let Some(n) = service
            && !out.iter().any(|(s, d)| *s == n && *d == dc)
        {
            out.push((n, dc));
        }
    }
    out
}

fn service_name(s: &str) -> Option<ServiceName> {
    ServiceName::new(s).ok()
}

/// The endpoints of `target` at priority 0, then those of each failover target at 1, 2, …
///
/// Datacenters: an endpoint's is its `datacenter` metadata (the Consul registry of that
/// datacenter sets it). A target in another datacenter holds the endpoints of that
/// datacenter; the local target holds every other endpoint — those of no datacenter any
/// target of the chain names remotely — so that a mesh without cross-datacenter rules is
/// unchanged whatever its registries say.
pub(crate) fn target_load_assignment(
    catalog: &Catalog,
    links: &Links<'_>,
    chain: &CompiledChain,
    target: &CompiledTarget,
    sidecars_only: bool,
) -> ClusterLoadAssignment {
    let mut groups = Vec::new();
    let mut priority = 0;
    let remote: Vec<&str> = chain
        .targets
        .keys()
        .filter_map(|id| id.datacenter.as_deref())
        .filter(|dc| *dc != chain.datacenter)
        .collect();
    for id in std::iter::once(&target.id).chain(&target.failover) {
        let Some(t) = chain.targets.get(id) else {
            continue;
        };
        let before = groups.len();
        let place = Place {
            target: t
                .id
                .datacenter
                .as_deref()
                .filter(|dc| *dc != chain.datacenter),
            remote: &remote,
        };
        push_target(
            catalog,
            links,
            t,
            place,
            sidecars_only,
            &mut groups,
            priority,
        );
        // a failover target with no endpoints takes no priority level
        if groups.len() > before || priority == 0 {
            priority += 1;
        }
    }
    ClusterLoadAssignment {
        cluster_name: target.id.cluster_name(),
        endpoints: groups,
        ..Default::default()
    }
}

/// Which datacenter's endpoints a target takes: `target` names a remote one, else the
/// local target takes every endpoint not in one of the chain's `remote` datacenters.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    target: Option<&'a str>,
    remote: &'a [&'a str],
}

impl Place<'_> {
    fn holds(&self, e: &Endpoint) -> bool {
        let dc = e.metadata.get(META_DATACENTER).map(String::as_str);
        match self.target {
            Some(want) => dc == Some(want),
            None => dc.is_none_or(|dc| !self.remote.contains(&dc)),
        }
    }
}

/// A linked service's target holds its gateway's instances, whatever the target's subset:
/// the gateway, not the caller, picks among the service's own endpoints.
fn push_target(
    catalog: &Catalog,
    links: &Links<'_>,
    t: &CompiledTarget,
    place: Place<'_>,
    sidecars_only: bool,
    groups: &mut Vec<envoy_types::pb::envoy::config::endpoint::v3::LocalityLbEndpoints>,
    priority: u32,
) {
    if let Some(gateway) = links.gateway_of(&t.id.service) {
        let mut endpoints: Vec<_> = catalog
            .service(&gateway)
            .map(|s| s.endpoints.iter().collect())
            .unwrap_or_default();
        endpoints.sort_by(|a, b| a.locality.cmp(&b.locality));
        push_groups(
            groups,
            endpoints.into_iter().map(|e| (e, e.health)),
            priority,
        );
        return;
    }
    let Some(service) = service_name(&t.id.service).and_then(|n| catalog.service(&n)) else {
        return;
    };
    let mut endpoints: Vec<_> = service
        .endpoints
        .iter()
        .filter(|e| e.sidecar || !sidecars_only)
        .filter(|e| place.holds(e))
        .filter(|e| {
            t.filter.as_ref().is_none_or(|f| {
                filter_matches(
                    f,
                    &Instance {
                        service: service.name.as_str(),
                        id: &e.instance,
                        tags: &e.tags,
                        meta: &e.metadata,
                    },
                )
            })
        })
        .collect();
    endpoints.sort_by(|a, b| a.locality.cmp(&b.locality));
    let only_passing = t.only_passing;
    push_groups(
        groups,
        endpoints.into_iter().map(|e| {
            let health = match e.health {
                Health::Warning if only_passing => Health::Critical,
                h => h,
            };
            (e, health)
        }),
        priority,
    );
}

/// Circuit breakers: the caller's `Limits` if any, and always the retry budget.
pub(crate) fn circuit_breakers(limits: Option<&Limits>) -> CircuitBreakers {
    let limit = |v: Option<u32>| v.map(|value| UInt32Value { value });
    CircuitBreakers {
        thresholds: vec![Thresholds {
            priority: RoutingPriority::Default as i32,
            max_connections: limit(limits.and_then(|l| l.max_connections)),
            max_pending_requests: limit(limits.and_then(|l| l.max_pending_requests)),
            max_requests: limit(limits.and_then(|l| l.max_concurrent_requests)),
            retry_budget: Some(RetryBudget {
                budget_percent: Some(XdsPercent {
                    value: RETRY_BUDGET_PERCENT,
                }),
                min_retry_concurrency: Some(UInt32Value {
                    value: RETRY_BUDGET_MIN_CONCURRENCY,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Outlier detection from `PassiveHealthCheck`: only the fields it sets.
pub(crate) fn outlier_detection(p: &PassiveHealthCheck) -> OutlierDetection {
    let u32v = |v: Option<u32>| v.map(|value| UInt32Value { value });
    OutlierDetection {
        consecutive_5xx: u32v((p.max_failures > 0).then_some(p.max_failures)),
        enforcing_consecutive_5xx: u32v(p.enforcing_consecutive_5xx),
        interval: p.interval.filter(|d| !d.is_zero()).map(duration),
        base_ejection_time: p.base_ejection_time.filter(|d| !d.is_zero()).map(duration),
        max_ejection_percent: u32v(p.max_ejection_percent),
        ..Default::default()
    }
}

/// A connect timeout as the cluster field.
pub(crate) fn connect_timeout(d: Duration) -> envoy_types::pb::google::protobuf::Duration {
    duration(d)
}
