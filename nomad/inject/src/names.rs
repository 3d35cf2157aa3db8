//! The names Nomad gives injected proxy tasks, kinds and ports
//! (`structs.ConnectProxyPrefix` and friends, `structs.NewTaskKind`, `envoy.PortLabel`).

/// Task and port prefix of a service's sidecar proxy.
pub(crate) const SIDECAR_PREFIX: &str = "connect-proxy";
/// Task prefix of an ingress gateway.
pub(crate) const INGRESS_PREFIX: &str = "connect-ingress";
/// Task prefix of a terminating gateway.
pub(crate) const TERMINATING_PREFIX: &str = "connect-terminating";

/// Kind prefixes of every task Nomad (and so this injector) treats as a Connect proxy.
pub(crate) const PROXY_KIND_PREFIXES: &[&str] = &[
    "connect-proxy:",
    "connect-ingress:",
    "connect-terminating:",
    "connect-mesh:",
];

/// `<prefix>:<service>`, as `structs.NewTaskKind`.
pub(crate) fn kind(prefix: &str, service: &str) -> String {
    format!("{prefix}:{service}")
}

/// `<prefix>-<service>`: the injected task's name, and the sidecar's default port label.
pub(crate) fn task_name(prefix: &str, service: &str) -> String {
    format!("{prefix}-{service}")
}

/// Whether a task `kind` marks a Connect proxy or gateway task (not an application).
pub(crate) fn is_proxy_kind(kind: Option<&str>) -> bool {
    kind.is_some_and(|k| PROXY_KIND_PREFIXES.iter().any(|p| k.starts_with(p)))
}
