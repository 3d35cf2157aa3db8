//! The compiled chain: what the xDS compiler turns into routes, clusters and endpoints.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rigging_mesh_config_entries::{
    Fault, Filter, HashPolicy, HeaderModifiers, HttpMatch, LoadBalancer, Percent, Protocol, RetryOn,
};

/// One resolver target: a service, one of its subsets (or none: every instance), in a
/// datacenter (`None`: the local one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TargetId {
    pub service: String,
    pub subset: Option<String>,
    /// `None` for the local datacenter, so that a target's name does not depend on it.
    pub datacenter: Option<String>,
}

impl TargetId {
    /// The service's own target: no subset, local datacenter.
    pub fn service(service: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            subset: None,
            datacenter: None,
        }
    }

    /// The cluster (and `ClusterLoadAssignment`) name of this target, as `pilot/XDS.md` says:
    /// `<service>`, `<subset>.<service>`, `<service>.<dc>` or `<subset>.<service>.<dc>`.
    pub fn cluster_name(&self) -> String {
        let mut name = String::new();
        if let Some(subset) = &self.subset {
            name.push_str(subset);
            name.push('.');
        }
        name.push_str(&self.service);
        if let Some(dc) = &self.datacenter {
            name.push('.');
            name.push_str(dc);
        }
        name
    }
}

impl fmt::Display for TargetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cluster_name())
    }
}

/// The chain of one upstream service: routes (L7 only) and every target they reach.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledChain {
    /// The upstream service the chain is for.
    pub service: String,
    /// The local datacenter it was compiled in.
    pub datacenter: String,
    /// The protocol of every service in the chain.
    pub protocol: Protocol,
    /// Routes in order, first match wins; the last is the catch-all (no matcher). A tcp
    /// chain has exactly one route, the catch-all, whose destination is one target.
    pub routes: Vec<ChainRoute>,
    /// Every target a route, a split, a mirror or a failover reaches, by id.
    pub targets: BTreeMap<TargetId, CompiledTarget>,
    /// Whether no router, splitter or resolver changed anything: one route to the
    /// service's own target with default settings (Consul's "default chain").
    pub default: bool,
    /// Entries present but not applied, and why (for logs); empty normally.
    pub ignored: Vec<String>,
}

impl CompiledChain {
    /// The target every request goes to when the chain does not route or split: the
    /// catch-all route's single target.
    pub fn primary_target(&self) -> Option<&TargetId> {
        match &self.routes.last()?.action.destination {
            Destination::Target(t) => Some(t),
            Destination::Split(_) => None,
        }
    }

    /// Whether some route injects faults (the listener then needs the fault filter).
    pub fn uses_fault(&self) -> bool {
        self.routes.iter().any(|r| r.action.fault.is_some())
    }
}

/// One route: a matcher (`None`: every request, the catch-all) and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct ChainRoute {
    pub matcher: Option<HttpMatch>,
    pub action: RouteAction,
}

/// Where a route sends requests, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteAction {
    pub destination: Destination,
    pub prefix_rewrite: Option<String>,
    /// The route destination's `RequestTimeout`, else the resolver's when the route goes to
    /// one target; `None`: the protocol's default.
    pub request_timeout: Option<Duration>,
    /// The route destination's `IdleTimeout`: how long the stream may stay without request or
    /// response bytes; `None`: no limit of the route's own.
    pub idle_timeout: Option<Duration>,
    pub retry: Option<RetryPolicy>,
    /// From the target's (or, for a split, the first hash-based) resolver `LoadBalancer`,
    /// only when its policy is hash-based.
    pub hash_policies: Vec<HashPolicy>,
    pub request_headers: Option<HeaderModifiers>,
    pub response_headers: Option<HeaderModifiers>,
    pub fault: Option<Fault>,
    pub mirror: Option<MirrorAction>,
}

/// One target, or weighted targets from a splitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Target(TargetId),
    /// Weights add up to 10000 hundredths.
    Split(Vec<WeightedTarget>),
}

/// One share of a flattened split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightedTarget {
    pub target: TargetId,
    /// Hundredths of a percent.
    pub weight: u32,
    pub request_headers: Option<HeaderModifiers>,
    pub response_headers: Option<HeaderModifiers>,
}

/// `NumRetries`, `RetryOnConnectFailure`, `RetryOn`, `RetryOnStatusCodes`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    pub num_retries: u32,
    pub retry_on_connect_failure: bool,
    pub retry_on: Vec<RetryOn>,
    pub retry_on_status_codes: Vec<u16>,
}

/// Rigging's `Mirror`: copy this share of requests to `target`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorAction {
    pub target: TargetId,
    pub percent: Percent,
}

/// A resolved target: which instances, where to fail over, and its cluster's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledTarget {
    pub id: TargetId,
    /// The subset's filter; `None` selects every instance.
    pub filter: Option<Filter>,
    /// Only instances whose checks all pass: warning ones count as unhealthy.
    pub only_passing: bool,
    /// Failover targets in the order Consul tries them.
    pub failover: Vec<TargetId>,
    /// The resolver's `ConnectTimeout` (5 s when unset).
    pub connect_timeout: Duration,
    pub request_timeout: Option<Duration>,
    pub load_balancer: Option<LoadBalancer>,
}
