//! Consul config entries read from HCL or JSON exactly as Consul reads them, checked with
//! Consul's rules, with every error located at `file:line:column`.
//!
//! # Kinds
//!
//! `service-defaults`, `proxy-defaults`, `service-router`, `service-splitter`,
//! `service-resolver`, `ingress-gateway`, `terminating-gateway`, `service-intentions`
//! and `mesh`, each with every field Consul documents ([`ConfigEntry`]).
//!
//! # How files are read
//!
//! * **Forms**: a single entry (`consul config write` files: `Kind = "…"` at the top);
//!   an agent config file, `config_entries { bootstrap { … } bootstrap { … } }`, holding
//!   several entries (other agent settings there are warned about and ignored); and in
//!   JSON also a list of entries, as `GET /v1/config/:kind` returns. Read-only API fields
//!   (`CreateIndex`, `ModifyIndex`, `Hash`) are accepted and ignored.
//! * **Format**: JSON when the first non-blank character is `{` or `[`, HCL otherwise,
//!   as `consul config write` decides. HCL is read with HCL1's leniency (nested blocks
//!   inside objects, `Key { … }` or `Key = { … }`, repeated blocks as lists, labeled
//!   blocks as maps, trailing commas).
//! * **Keys** match Consul's mapstructure decoding: case-insensitive, and the snake_case
//!   alias is accepted (`PathPrefix`, `pathprefix`, `path_prefix`). A key given twice
//!   under two spellings is an error (Consul would silently keep one).
//! * **Values** are weakly typed as in Consul: `"5"` for a number, `"true"` for a bool,
//!   a struct written as a one-element list. Durations are Go duration strings; a bare
//!   number other than `0` is refused (Consul would read it as nanoseconds).
//! * **Unknown keys are errors**, naming the keys that were expected.
//!
//! # Enterprise fields
//!
//! `Namespace`, `Partition`, `Peer`, `SamenessGroup`, `RateLimits`, JWT requirements and
//! the locality settings (`PrioritizeByLocality`, failover `Policy`) are accepted and kept
//! in the model (Consul OSS rejects some of them), but the rest of Rigging ignores them:
//! Rigging runs one namespace and partition, and has no peering or sameness groups.
//! Envoy-only settings (`EnvoyExtensions`, `EnvoyListenerJSON`, `EnvoyClusterJSON`) are
//! kept with a warning, since Rigging's proxy is not Envoy.
//!
//! # Beyond Consul: fault injection and mirroring
//!
//! Two fields are added to a `service-router` route `Destination`, in Consul's style:
//!
//! ```hcl
//! Kind = "service-router"
//! Name = "web"
//! Routes = [
//!   {
//!     Match { HTTP { PathPrefix = "/api" } }
//!     Destination {
//!       Service = "api"
//!       Fault {
//!         Delay { Percent = 10, Duration = "2s" }   # 10 % of requests wait 2 s first
//!         Abort { Percent = 1, HTTPStatus = 503 }   # 1 % are answered 503 (or GRPCStatus = 14)
//!       }
//!       Mirror {
//!         Service = "api-shadow"                    # also ServiceSubset, Namespace, Partition
//!         Percent = 5                               # default 100
//!       }
//!     }
//!   },
//! ]
//! ```
//!
//! Why fields on the route destination rather than a new kind: the issue asks for faults
//! "per route", and a route is the only place that names a set of requests; a separate
//! kind would need a way to point at a route, which Consul's routes (unnamed, ordered)
//! do not have. It is also where Envoy puts both (a per-route fault filter config and
//! the route action's `request_mirror_policies`), so the proxy maps them one to one. A
//! catch-all route (no `Match`) applies them to all of a service's traffic. Percentages
//! take the 0.01 precision of split weights and must be more than 0 and at most 100;
//! `Delay` needs a positive `Duration`; `Abort` needs exactly one of `HTTPStatus`
//! (200–599) or `GRPCStatus` (1–16); `Mirror` needs a `Service`. Files using them are
//! Rigging-only: Consul refuses the unknown keys.
//!
//! # Use
//!
//! [`load_files`] reads files and folders and returns the valid entries with every
//! error and warning; [`validate_set`] applies the rules that need several entries
//! (protocols, subsets, duplicates, loops).

mod common;
mod decode;
mod error;
mod kinds;
mod load;
mod opaque;
mod set;
mod tree;

/// The keys every kind takes (`Kind`, `Name`, the Enterprise `Namespace` and `Partition`,
/// `Meta`, and the read-only `CreateIndex`, `ModifyIndex` and `Hash` that Consul's API
/// returns, accepted and ignored) followed by the kind's own.
#[macro_export]
#[doc(hidden)]
macro_rules! entry_keys {
    ($($k:literal),* $(,)?) => {
        &[
            "Kind", "Name", "Namespace", "Partition", "Meta", "CreateIndex", "ModifyIndex",
            "Hash", $($k),*
        ]
    };
}

pub use common::{
    EnvoyExtension, Expose, ExposePath, Header, HeaderModifiers, Limits, META_KEY_MAX_LEN,
    META_MAX_PAIRS, META_VALUE_MAX_LEN, MeshGatewayMode, MutualTlsMode, Opaque, PassiveHealthCheck,
    Protocol, ProxyMode, TransparentProxy,
};
pub use error::{LocatedError, Location, Origin};
pub use kinds::extensions::{
    AbortStatus, DEFAULT_MIRROR_PERCENT, Fault, FaultAbort, FaultDelay, Mirror, Percent,
};
pub use kinds::filter::{Filter, FilterError, MatchExpr, MatchOp, parse_filter};
pub use kinds::ingress::{
    GatewayTls, IngressDefaults, IngressGateway, IngressListener, IngressService, Sds,
};
pub use kinds::intentions::{
    IntentionAction, JwtProvider, JwtRequirement, Permission, PermissionHttp, ServiceIntentions,
    SourceIntention,
};
pub use kinds::load_balancer::{
    CookieConfig, HashOn, HashPolicy, LbPolicy, LeastRequestConfig, LoadBalancer, RingHashConfig,
};
pub use kinds::matching::{HTTP_METHODS, HeaderMatch, PathMatch, QueryParamMatch, ValueMatch};
pub use kinds::mesh::{MESH_NAME, MeshConfig, MeshHttp};
pub use kinds::proxy_defaults::{AccessLogs, LogSink, PROXY_DEFAULTS_NAME, ProxyDefaults};
pub use kinds::resolver::{
    DEFAULT_CONNECT_TIMEOUT, Failover, FailoverPolicy, MAX_SUBSET_NAME_LEN, PrioritizeByLocality,
    Redirect, ServiceResolver, Subset, Target, is_valid_subset_name,
};
pub use kinds::router::{HttpMatch, RetryOn, Route, RouteDestination, ServiceRouter};
pub use kinds::service_defaults::{
    Destination, RateLimits, RouteRateLimit, ServiceDefaults, UpstreamConfig, UpstreamConfiguration,
};
pub use kinds::splitter::{ServiceSplitter, Split, TOTAL_WEIGHT_HUNDREDTHS};
pub use kinds::terminating::{LinkedService, TerminatingGateway};
pub use kinds::tls::{CIPHER_SUITES, TlsParams, TlsVersion};
pub use kinds::{ConfigEntry, Kind, UnknownKind};
pub use load::{EXTENSIONS, Loaded, list_files, load_file, load_files, parse_str};
pub use set::{effective_protocol, validate_set};

/// [`load_files`] then [`validate_set`] over the entries it read: what `rig validate`
/// reports for a set of files and folders.
pub fn check_files(paths: &[std::path::PathBuf]) -> Loaded {
    let mut loaded = load_files(paths);
    let set_errors = validate_set(&loaded.entries);
    loaded.errors.extend(set_errors);
    loaded
}
