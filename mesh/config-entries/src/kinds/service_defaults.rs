//! `service-defaults`: one service's protocol and proxy settings, and its upstreams' defaults.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::common::{
    EnvoyExtension, Expose, Header, Limits, MeshGatewayMode, MutualTlsMode, PassiveHealthCheck,
    Protocol, ProxyMode, TransparentProxy, envoy_extensions, expose, limits, mesh_gateway,
    mutual_tls_mode, passive_health_check, protocol, proxy_mode, transparent_proxy,
};
use crate::decode::{Fields, one_of};
use crate::error::{Diag, Origin};
use crate::tree::Node;

/// A `service-defaults` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceDefaults {
    pub header: Header,
    /// `None` when unset: `proxy-defaults` `Config.protocol` applies, else tcp.
    pub protocol: Option<Protocol>,
    pub mode: Option<ProxyMode>,
    pub transparent_proxy: Option<TransparentProxy>,
    pub mutual_tls_mode: Option<MutualTlsMode>,
    pub mesh_gateway: Option<MeshGatewayMode>,
    pub expose: Option<Expose>,
    pub external_sni: Option<String>,
    pub upstream_config: Option<UpstreamConfiguration>,
    pub destination: Option<Destination>,
    pub max_inbound_connections: Option<u32>,
    pub local_connect_timeout_ms: Option<u32>,
    pub local_request_timeout_ms: Option<u32>,
    /// Newer Consul: the largest request header block the inbound listener takes, in KiB.
    pub max_request_headers_kb: Option<u32>,
    /// Only `exact_balance` exists.
    pub balance_inbound_connections: Option<String>,
    /// Enterprise rate limits; kept, not enforced.
    pub rate_limits: Option<RateLimits>,
    pub envoy_extensions: Vec<EnvoyExtension>,
    /// Consul 1.5's `Connect { SidecarProxy = true }`, still found in old files; it has no
    /// effect (every service may have a sidecar) and is kept only to be accepted.
    pub legacy_sidecar_proxy: Option<bool>,
}

/// `UpstreamConfig { Defaults {…}, Overrides [{…}] }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamConfiguration {
    pub defaults: Option<UpstreamConfig>,
    pub overrides: Vec<UpstreamConfig>,
}

/// Settings for the upstreams of a service: all of them (`Defaults`, no name) or one
/// (`Overrides`, named).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamConfig {
    pub name: String,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub peer: Option<String>,
    /// Envoy escape hatches; kept, ignored by Rigging's proxy (warned).
    pub envoy_listener_json: Option<String>,
    pub envoy_cluster_json: Option<String>,
    pub protocol: Option<Protocol>,
    pub connect_timeout_ms: Option<u32>,
    pub limits: Option<Limits>,
    pub passive_health_check: Option<PassiveHealthCheck>,
    pub mesh_gateway: Option<MeshGatewayMode>,
    pub balance_outbound_connections: Option<String>,
}

/// `Destination { Addresses, Port }`: a service outside the mesh, for transparent proxies.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Destination {
    pub addresses: Vec<String>,
    pub port: u16,
}

/// Enterprise `RateLimits { InstanceLevel { … } }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RateLimits {
    pub requests_per_second: u32,
    pub requests_max_burst: u32,
    pub routes: Vec<RouteRateLimit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteRateLimit {
    pub path_exact: Option<String>,
    pub path_prefix: Option<String>,
    pub path_regex: Option<String>,
    pub requests_per_second: u32,
    pub requests_max_burst: u32,
}

const KEYS: &[&str] = crate::entry_keys![
    "Protocol",
    "Mode",
    "TransparentProxy",
    "MutualTLSMode",
    "MeshGateway",
    "Expose",
    "ExternalSNI",
    "UpstreamConfig",
    "Destination",
    "MaxInboundConnections",
    "LocalConnectTimeoutMs",
    "LocalRequestTimeoutMs",
    "MaxRequestHeadersKB",
    "BalanceInboundConnections",
    "RateLimits",
    "EnvoyExtensions",
    "Connect",
];

const UPSTREAM_KEYS: &[&str] = &[
    "Name",
    "Namespace",
    "Partition",
    "Peer",
    "EnvoyListenerJSON",
    "EnvoyClusterJSON",
    "Protocol",
    "ConnectTimeoutMs",
    "Limits",
    "PassiveHealthCheck",
    "MeshGateway",
    "BalanceOutboundConnections",
];

const EXACT_BALANCE: &[(&str, Option<&str>)] =
    &[("", None), ("exact_balance", Some("exact_balance"))];

impl ServiceDefaults {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "service-defaults", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        if header.name == "*" {
            d.err(
                &f.value_at("Name"),
                "service-defaults name must be the name of a service, and not a wildcard",
            );
        }
        let upstream_config = upstream_configuration(d, &f);
        let destination = destination(d, &f);
        if upstream_config.is_some() && destination.is_some() {
            d.err(
                &f.key_at("Destination"),
                "UpstreamConfig and Destination are mutually exclusive for service defaults",
            );
        }
        Some(Self {
            header,
            protocol: protocol(d, &f, "Protocol"),
            mode: proxy_mode(d, &f),
            transparent_proxy: transparent_proxy(d, &f),
            mutual_tls_mode: mutual_tls_mode(d, &f),
            mesh_gateway: mesh_gateway(d, &f),
            expose: expose(d, &f),
            external_sni: f.string(d, "ExternalSNI").filter(|s| !s.is_empty()),
            upstream_config,
            destination,
            max_inbound_connections: f.u32(d, "MaxInboundConnections"),
            local_connect_timeout_ms: f.u32(d, "LocalConnectTimeoutMs"),
            local_request_timeout_ms: f.u32(d, "LocalRequestTimeoutMs"),
            max_request_headers_kb: f.u32(d, "MaxRequestHeadersKB"),
            balance_inbound_connections: one_of(d, &f, "BalanceInboundConnections", EXACT_BALANCE)
                .flatten()
                .map(str::to_owned),
            rate_limits: rate_limits(d, &f),
            envoy_extensions: envoy_extensions(d, &f),
            legacy_sidecar_proxy: legacy_connect(d, &f),
        })
    }
}

fn legacy_connect(d: &mut Diag, f: &Fields<'_>) -> Option<bool> {
    let node = f.node(d, "Connect")?;
    let c = Fields::of(d, node, "service-defaults Connect", &["SidecarProxy"])?;
    d.warn(
        &f.key_at("Connect"),
        "Connect { SidecarProxy } is a Consul 1.5 field with no effect; it is ignored",
    );
    c.bool(d, "SidecarProxy")
}

fn upstream_configuration(d: &mut Diag, f: &Fields<'_>) -> Option<UpstreamConfiguration> {
    let node = f.node(d, "UpstreamConfig")?;
    let u = Fields::of(d, node, "UpstreamConfig", &["Defaults", "Overrides"])?;
    let defaults = u.node(d, "Defaults").and_then(|n| {
        let c = upstream_config(d, n, "UpstreamConfig Defaults")?;
        for (key, set) in [
            ("Name", !c.name.is_empty()),
            ("Namespace", c.namespace.is_some()),
            ("Partition", c.partition.is_some()),
        ] {
            if set {
                d.err(
                    &n.at,
                    format!("UpstreamConfig Defaults: {key} must be empty"),
                );
            }
        }
        Some(c)
    });
    let mut overrides = Vec::new();
    for n in u.list(d, "Overrides") {
        let Some(c) = upstream_config(d, n, "UpstreamConfig Overrides") else {
            continue;
        };
        if c.name.is_empty() {
            d.err(&n.at, "UpstreamConfig Overrides: Name is required");
        } else if c.name == "*" {
            d.err(
                &n.at,
                "UpstreamConfig Overrides: wildcard name is not supported",
            );
        }
        if c.namespace.as_deref() == Some("*") {
            d.err(
                &n.at,
                "UpstreamConfig Overrides: wildcard namespace is not supported",
            );
        }
        overrides.push(c);
    }
    Some(UpstreamConfiguration {
        defaults,
        overrides,
    })
}

fn upstream_config(d: &mut Diag, node: &Node, what: &str) -> Option<UpstreamConfig> {
    let u = Fields::of(d, node, what, UPSTREAM_KEYS)?;
    for hatch in ["EnvoyListenerJSON", "EnvoyClusterJSON"] {
        if u.has(hatch) {
            d.warn(
                &u.key_at(hatch),
                format!("{hatch} is an Envoy escape hatch; Rigging's proxy ignores it"),
            );
        }
    }
    Some(UpstreamConfig {
        name: u.text(d, "Name"),
        namespace: u.string(d, "Namespace"),
        partition: u.string(d, "Partition"),
        peer: u.string(d, "Peer"),
        envoy_listener_json: u.string(d, "EnvoyListenerJSON"),
        envoy_cluster_json: u.string(d, "EnvoyClusterJSON"),
        protocol: protocol(d, &u, "Protocol"),
        connect_timeout_ms: u.u32(d, "ConnectTimeoutMs"),
        limits: limits(d, &u),
        passive_health_check: passive_health_check(d, &u),
        mesh_gateway: mesh_gateway(d, &u),
        balance_outbound_connections: one_of(d, &u, "BalanceOutboundConnections", EXACT_BALANCE)
            .flatten()
            .map(str::to_owned),
    })
}

fn destination(d: &mut Diag, f: &Fields<'_>) -> Option<Destination> {
    let node = f.node(d, "Destination")?;
    let t = Fields::of(d, node, "Destination", &["Addresses", "Port"])?;
    let addresses = t.strings(d, "Addresses");
    let at = t.value_at("Addresses");
    if addresses.is_empty() {
        d.err(&at, "Destination must contain at least one valid address");
    }
    let mut seen = BTreeSet::new();
    for a in &addresses {
        if !seen.insert(a) {
            d.err(
                &at,
                format!("Destination: duplicate address {a:?} is not allowed"),
            );
        } else if a.parse::<IpAddr>().is_err() && !is_dns_name(a) {
            d.err(
                &at,
                format!("Destination: address {a:?} is neither an IP address nor a host name"),
            );
        }
    }
    let port = t
        .int(d, "Port", 1..=65535)
        .and_then(|p| u16::try_from(p).ok());
    if port.is_none() && !t.has("Port") {
        d.err(t.at(), "Destination: Port is required (1 to 65535)");
    }
    Some(Destination {
        addresses,
        port: port.unwrap_or(0),
    })
}

/// A DNS name as `dns.IsDomainName` takes it, without wildcards: labels of 1 to 63
/// characters, at most 253 in all.
pub(crate) fn is_dns_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

fn rate_limits(d: &mut Diag, f: &Fields<'_>) -> Option<RateLimits> {
    let node = f.node(d, "RateLimits")?;
    let r = Fields::of(d, node, "RateLimits", &["InstanceLevel"])?;
    let node = r.node(d, "InstanceLevel")?;
    let i = Fields::of(
        d,
        node,
        "RateLimits InstanceLevel",
        &["RequestsPerSecond", "RequestsMaxBurst", "Routes"],
    )?;
    let mut routes = Vec::new();
    for n in i.list(d, "Routes") {
        let Some(r) = Fields::of(
            d,
            n,
            "RateLimits route",
            &[
                "PathExact",
                "PathPrefix",
                "PathRegex",
                "RequestsPerSecond",
                "RequestsMaxBurst",
            ],
        ) else {
            continue;
        };
        let route = RouteRateLimit {
            path_exact: r.string(d, "PathExact").filter(|s| !s.is_empty()),
            path_prefix: r.string(d, "PathPrefix").filter(|s| !s.is_empty()),
            path_regex: r.string(d, "PathRegex").filter(|s| !s.is_empty()),
            requests_per_second: r.u32(d, "RequestsPerSecond").unwrap_or(0),
            requests_max_burst: r.u32(d, "RequestsMaxBurst").unwrap_or(0),
        };
        let paths = [&route.path_exact, &route.path_prefix, &route.path_regex]
            .iter()
            .filter(|p| p.is_some())
            .count();
        if paths != 1 {
            d.err(
                r.at(),
                "RateLimits route: exactly one of PathExact, PathPrefix or PathRegex is required",
            );
        }
        if route.requests_per_second == 0 {
            d.err(
                r.at(),
                "RateLimits route: RequestsPerSecond must be greater than 0",
            );
        }
        routes.push(route);
    }
    d.warn(
        &f.key_at("RateLimits"),
        "RateLimits is an Enterprise feature; Rigging keeps it but does not enforce it",
    );
    Some(RateLimits {
        requests_per_second: i.u32(d, "RequestsPerSecond").unwrap_or(0),
        requests_max_burst: i.u32(d, "RequestsMaxBurst").unwrap_or(0),
        routes,
    })
}
