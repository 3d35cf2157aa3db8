//! Consul's discovery chain for Pilot: a validated set of config entries and an upstream
//! service in, the typed routes, targets and cluster settings of that upstream out.
//!
//! # What is compiled
//!
//! [`compile_chain`] follows Consul's `agent/consul/discoverychain` compiler:
//!
//! * **router** (`service-router` of the upstream only): routes in order, the first match
//!   wins, then the implicit catch-all (`prefix "/"`) to the service itself. A destination
//!   with a `ServiceSubset` goes straight to that subset's resolver; otherwise the
//!   destination service's splitter applies, if it has one. A route's matcher keeps its
//!   `CaseInsensitive`; its destination's `IdleTimeout` goes with the route's action.
//! * **splitter**: weighted splits with their header changes. A split to another service
//!   (no subset) continues into that service's splitter, and nested splits are flattened
//!   into one weighted set (weights multiply, rounded to 0.01 % as Consul rounds them;
//!   the parent's header changes apply under the child's).
//! * **resolver**: `Redirect` (service, subset, datacenter) replaces the target, resolved
//!   again; `DefaultSubset` fills a target without a subset; a subset must exist;
//!   `Subsets` give each target its `Filter` and `OnlyPassing`; `Failover[subset]` (or
//!   `*`) lists failover targets, tried in order (`Datacenters`, or `Targets`, or one
//!   `Service`/`ServiceSubset`), each redirected and default-subsetted in turn, never the
//!   target itself; `ConnectTimeout` (5 s when unset), `RequestTimeout` and
//!   `LoadBalancer` go with the target.
//! * **protocol**: the upstream's `service-defaults` `Protocol`, else `proxy-defaults`
//!   `Config.protocol`, else the registry's protocol given in the request (Consul: tcp).
//!   Every service the chain reaches must have the same one. Routers and splitters need
//!   HTTP, HTTP/2 or gRPC: on a tcp chain they are left out (as Consul does when an
//!   upstream overrides its protocol to tcp; Consul refuses to store them in the first
//!   place, see `validate_set`), and only the resolver applies.
//! * **caller settings** ([`Entries::upstream_config`]): the calling service's
//!   `service-defaults` `UpstreamConfig`, `Defaults` overlaid by the `Overrides` entry
//!   named after the upstream: `Limits`, `PassiveHealthCheck`, `ConnectTimeoutMs`,
//!   `Protocol`. They depend on the caller, so they are kept apart from the chain, which
//!   every caller of a service shares.
//!
//! # Left out
//!
//! Enterprise namespaces and partitions, cluster peering, sameness groups, mesh
//! gateways, failover `Policy` and `PrioritizeByLocality`, and external SNI are not
//! compiled: Rigging runs one namespace and partition without gateways. Targets that
//! name only those fields are the local target.

mod compile;
mod compiled;
mod entries;
mod filter;

pub use compile::{ChainRequest, compile_chain};
pub use compiled::{
    ChainRoute, CompiledChain, CompiledTarget, Destination, MirrorAction, RetryPolicy, RouteAction,
    TargetId, WeightedTarget,
};
pub use entries::{Entries, GatewayLink, UpstreamSettings};
pub use filter::{Instance, filter_matches};

/// Why a chain cannot be compiled: the entries break a rule Consul checks when it compiles
/// a chain. `validate_set` reports the same problems when the files are read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainError {
    #[error("discovery chain {chain:?}: resolvers redirect in a loop: {}", path.join(" -> "))]
    RedirectLoop { chain: String, path: Vec<String> },
    #[error("discovery chain {chain:?}: splitters split in a loop through {service:?}")]
    SplitLoop { chain: String, service: String },
    #[error("discovery chain {chain:?}: service {service:?} has no subset named {subset:?}")]
    UnknownSubset {
        chain: String,
        service: String,
        subset: String,
    },
    #[error(
        "discovery chain {chain:?} uses inconsistent protocols: service {service:?} has {found} which is not {expected}"
    )]
    InconsistentProtocols {
        chain: String,
        service: String,
        found: String,
        expected: String,
    },
}
