//! Types shared by several kinds: the entry header, protocols, modes, header
//! modifiers, health checks and limits, with their decoders.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::decode::{Fields, one_of};
use crate::error::{Diag, Origin};
pub use crate::opaque::{EnvoyExtension, Opaque};
pub(crate) use crate::opaque::{envoy_extensions, opaque_map};

/// Consul's limits on an entry's `Meta` (`metaMaxKeyPairs`, `metaKeyMaxLength`,
/// `metaValueMaxLength` in agent/structs).
pub const META_MAX_PAIRS: usize = 64;
pub const META_KEY_MAX_LEN: usize = 128;
pub const META_VALUE_MAX_LEN: usize = 512;

/// What identifies an entry, and its free-form metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Header {
    pub name: String,
    /// Enterprise namespace; kept, but Rigging has one namespace and ignores it when
    /// compiling (as Consul OSS does, which rejects the key).
    pub namespace: Option<String>,
    /// Enterprise admin partition; kept and, like `namespace`, ignored when compiling.
    pub partition: Option<String>,
    pub meta: BTreeMap<String, String>,
    /// Where the entry was read; never part of equality.
    pub origin: Origin,
}

impl Header {
    pub(crate) fn decode(d: &mut Diag, f: &Fields<'_>, origin: Origin) -> Self {
        let meta = f.string_map(d, "Meta");
        check_meta(d, f, &meta);
        Self {
            name: f.text(d, "Name"),
            namespace: f.string(d, "Namespace"),
            partition: f.string(d, "Partition"),
            meta,
            origin,
        }
    }

    /// `Name is required`, as Consul says it.
    pub(crate) fn require_name(&self, d: &mut Diag, f: &Fields<'_>) {
        if self.name.is_empty() {
            d.err(&f.key_at("Name"), "Name is required");
        }
    }
}

fn check_meta(d: &mut Diag, f: &Fields<'_>, meta: &BTreeMap<String, String>) {
    let at = f.value_at("Meta");
    if meta.len() > META_MAX_PAIRS {
        d.err(
            &at,
            format!(
                "Meta has {} keys; the limit is {META_MAX_PAIRS}",
                meta.len()
            ),
        );
    }
    for (k, v) in meta {
        if k.len() > META_KEY_MAX_LEN {
            d.err(
                &at,
                format!("Meta key {k:?} is longer than {META_KEY_MAX_LEN} bytes"),
            );
        }
        if v.len() > META_VALUE_MAX_LEN {
            d.err(
                &at,
                format!("Meta value for key {k:?} is longer than {META_VALUE_MAX_LEN} bytes"),
            );
        }
    }
}

/// A service's protocol. Consul lower-cases it and treats anything but the three L7
/// protocols as `tcp`; such values are kept as [`Protocol::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Http,
    Http2,
    Grpc,
    Other(String),
}

impl Protocol {
    /// Lower-cased, as Consul's `Normalize` does.
    pub fn parse(s: &str) -> Self {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Self::Tcp,
            "http" => Self::Http,
            "http2" => Self::Http2,
            "grpc" => Self::Grpc,
            other => Self::Other(other.to_owned()),
        }
    }

    /// Whether routers, splitters and L7 intentions work on it (http, http2, grpc).
    pub fn is_l7(&self) -> bool {
        matches!(self, Self::Http | Self::Http2 | Self::Grpc)
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Tcp => "tcp",
            Self::Http => "http",
            Self::Http2 => "http2",
            Self::Grpc => "grpc",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol field: any string, warned about when Consul would treat it as tcp.
pub(crate) fn protocol(d: &mut Diag, f: &Fields<'_>, name: &str) -> Option<Protocol> {
    let s = f.string(d, name)?;
    if s.is_empty() {
        return None;
    }
    let p = Protocol::parse(&s);
    if let Protocol::Other(other) = &p {
        d.warn(
            &f.value_at(name),
            format!("{name}: {other:?} is not tcp, http, http2 or grpc; it is treated as tcp"),
        );
    }
    Some(p)
}

/// `Mode`: how a proxy's listeners are dialed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Direct,
    Transparent,
}

pub(crate) fn proxy_mode(d: &mut Diag, f: &Fields<'_>) -> Option<ProxyMode> {
    one_of(
        d,
        f,
        "Mode",
        &[
            ("", None),
            ("direct", Some(ProxyMode::Direct)),
            ("transparent", Some(ProxyMode::Transparent)),
        ],
    )
    .flatten()
}

/// `MutualTLSMode`: whether a sidecar also accepts plaintext.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MutualTlsMode {
    Strict,
    Permissive,
}

pub(crate) fn mutual_tls_mode(d: &mut Diag, f: &Fields<'_>) -> Option<MutualTlsMode> {
    one_of(
        d,
        f,
        "MutualTLSMode",
        &[
            ("", None),
            ("strict", Some(MutualTlsMode::Strict)),
            ("permissive", Some(MutualTlsMode::Permissive)),
        ],
    )
    .flatten()
}

/// `MeshGateway { Mode }`: whether cross-datacenter traffic goes through mesh gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeshGatewayMode {
    None,
    Local,
    Remote,
}

/// `MeshGateway { Mode }`; `None` when unset (the next layer of configuration decides).
pub(crate) fn mesh_gateway(d: &mut Diag, f: &Fields<'_>) -> Option<MeshGatewayMode> {
    let node = f.node(d, "MeshGateway")?;
    let g = Fields::of(d, node, "MeshGateway", &["Mode"])?;
    one_of(
        d,
        &g,
        "Mode",
        &[
            ("", None),
            ("none", Some(MeshGatewayMode::None)),
            ("local", Some(MeshGatewayMode::Local)),
            ("remote", Some(MeshGatewayMode::Remote)),
        ],
    )
    .flatten()
}

/// `TransparentProxy { OutboundListenerPort, DialedDirectly }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransparentProxy {
    pub outbound_listener_port: Option<u16>,
    pub dialed_directly: bool,
}

pub(crate) fn transparent_proxy(d: &mut Diag, f: &Fields<'_>) -> Option<TransparentProxy> {
    let node = f.node(d, "TransparentProxy")?;
    let t = Fields::of(
        d,
        node,
        "TransparentProxy",
        &["OutboundListenerPort", "DialedDirectly"],
    )?;
    Some(TransparentProxy {
        outbound_listener_port: t
            .int(d, "OutboundListenerPort", 0..=65535)
            .and_then(|p| u16::try_from(p).ok())
            .filter(|p| *p != 0),
        dialed_directly: t.flag(d, "DialedDirectly"),
    })
}

/// `Expose { Checks, Paths }`: HTTP paths served by the proxy outside the mesh.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expose {
    pub checks: bool,
    pub paths: Vec<ExposePath>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExposePath {
    pub listener_port: Option<u16>,
    pub path: String,
    pub local_path_port: Option<u16>,
    /// `http` (the default) or `http2`.
    pub protocol: Option<Protocol>,
    /// Set by Consul for paths it derived from checks; read back from the API.
    pub parsed_from_check: bool,
}

pub(crate) fn expose(d: &mut Diag, f: &Fields<'_>) -> Option<Expose> {
    let node = f.node(d, "Expose")?;
    let e = Fields::of(d, node, "Expose", &["Checks", "Paths"])?;
    let mut paths = Vec::new();
    for p in e.list(d, "Paths") {
        let Some(p) = Fields::of(
            d,
            p,
            "Expose path",
            &[
                "ListenerPort",
                "Path",
                "LocalPathPort",
                "Protocol",
                "ParsedFromCheck",
            ],
        ) else {
            continue;
        };
        let port = |d: &mut Diag, name| {
            p.int(d, name, 0..=65535)
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| *v != 0)
        };
        let path = p.text(d, "Path");
        if !path.is_empty() && !path.starts_with('/') {
            d.err(
                &p.value_at("Path"),
                format!("Path: must start with '/', found {path:?}"),
            );
        }
        let protocol = one_of(
            d,
            &p,
            "Protocol",
            &[
                ("", None),
                ("http", Some(Protocol::Http)),
                ("http2", Some(Protocol::Http2)),
            ],
        )
        .flatten();
        paths.push(ExposePath {
            listener_port: port(d, "ListenerPort"),
            local_path_port: port(d, "LocalPathPort"),
            path,
            protocol,
            parsed_from_check: p.flag(d, "ParsedFromCheck"),
        });
    }
    Some(Expose {
        checks: e.flag(d, "Checks"),
        paths,
    })
}

/// `RequestHeaders`/`ResponseHeaders`: `Add` appends, `Set` replaces, `Remove` strips.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderModifiers {
    pub add: BTreeMap<String, String>,
    pub set: BTreeMap<String, String>,
    pub remove: Vec<String>,
}

impl HeaderModifiers {
    pub fn is_empty(&self) -> bool {
        self.add.is_empty() && self.set.is_empty() && self.remove.is_empty()
    }
}

pub(crate) fn header_modifiers(
    d: &mut Diag,
    f: &Fields<'_>,
    name: &str,
) -> Option<HeaderModifiers> {
    let node = f.node(d, name)?;
    let h = Fields::of(d, node, name, &["Add", "Set", "Remove"])?;
    Some(HeaderModifiers {
        add: h.string_map(d, "Add"),
        set: h.string_map(d, "Set"),
        remove: h.strings(d, "Remove"),
    })
}

/// `PassiveHealthCheck`: outlier detection, ejecting endpoints that keep failing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PassiveHealthCheck {
    pub interval: Option<Duration>,
    pub max_failures: u32,
    /// Percent (0–100) chance that a detected outlier is really ejected.
    pub enforcing_consecutive_5xx: Option<u32>,
    /// Most percent (0–100) of a cluster that may be ejected at once.
    pub max_ejection_percent: Option<u32>,
    pub base_ejection_time: Option<Duration>,
}

pub(crate) fn passive_health_check(d: &mut Diag, f: &Fields<'_>) -> Option<PassiveHealthCheck> {
    let node = f.node(d, "PassiveHealthCheck")?;
    let p = Fields::of(
        d,
        node,
        "PassiveHealthCheck",
        &[
            "Interval",
            "MaxFailures",
            "EnforcingConsecutive5xx",
            "MaxEjectionPercent",
            "BaseEjectionTime",
        ],
    )?;
    let percent = |d: &mut Diag, name| p.int(d, name, 0..=100).and_then(|v| u32::try_from(v).ok());
    Some(PassiveHealthCheck {
        interval: p.duration(d, "Interval"),
        max_failures: p.u32(d, "MaxFailures").unwrap_or(0),
        enforcing_consecutive_5xx: percent(d, "EnforcingConsecutive5xx"),
        max_ejection_percent: percent(d, "MaxEjectionPercent"),
        base_ejection_time: p.duration(d, "BaseEjectionTime"),
    })
}

/// Circuit-breaker limits on one upstream (`Limits`, or an ingress service's fields).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    pub max_connections: Option<u32>,
    pub max_pending_requests: Option<u32>,
    pub max_concurrent_requests: Option<u32>,
}

/// The three limit fields of `f`; negative values are refused as Consul refuses them.
pub(crate) fn limit_fields(d: &mut Diag, f: &Fields<'_>) -> Limits {
    Limits {
        max_connections: f.u32(d, "MaxConnections"),
        max_pending_requests: f.u32(d, "MaxPendingRequests"),
        max_concurrent_requests: f.u32(d, "MaxConcurrentRequests"),
    }
}

pub(crate) fn limits(d: &mut Diag, f: &Fields<'_>) -> Option<Limits> {
    let node = f.node(d, "Limits")?;
    let l = Fields::of(
        d,
        node,
        "Limits",
        &[
            "MaxConnections",
            "MaxPendingRequests",
            "MaxConcurrentRequests",
        ],
    )?;
    Some(limit_fields(d, &l))
}
