//! `proxy-defaults`: settings for every proxy, in the one entry named `global`.

use std::collections::BTreeMap;

use crate::common::{
    EnvoyExtension, Expose, Header, MeshGatewayMode, MutualTlsMode, Opaque, Protocol, ProxyMode,
    TransparentProxy, envoy_extensions, expose, mesh_gateway, mutual_tls_mode, opaque_map,
    proxy_mode, transparent_proxy,
};
use crate::decode::{Fields, one_of};
use crate::error::{Diag, Origin};
use crate::kinds::resolver::{
    FailoverPolicy, PrioritizeByLocality, failover_policy, prioritize_by_locality,
};
use crate::tree::Node;

/// The only name a `proxy-defaults` entry may have.
pub const PROXY_DEFAULTS_NAME: &str = "global";

/// A `proxy-defaults` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProxyDefaults {
    /// `name` is always [`PROXY_DEFAULTS_NAME`]; an empty `Name` is filled in, as Consul does.
    pub header: Header,
    /// Opaque proxy settings with snake_case keys (`protocol`,
    /// `local_connect_timeout_ms`, `envoy_prometheus_bind_addr`, …), read leniently by
    /// the proxy; only `protocol` is interpreted here.
    pub config: BTreeMap<String, Opaque>,
    pub mode: Option<ProxyMode>,
    pub transparent_proxy: Option<TransparentProxy>,
    pub mutual_tls_mode: Option<MutualTlsMode>,
    pub mesh_gateway: Option<MeshGatewayMode>,
    pub expose: Option<Expose>,
    pub access_logs: Option<AccessLogs>,
    pub envoy_extensions: Vec<EnvoyExtension>,
    pub failover_policy: Option<FailoverPolicy>,
    pub prioritize_by_locality: Option<PrioritizeByLocality>,
}

/// `AccessLogs`: where proxies write their access logs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessLogs {
    pub enabled: bool,
    pub disable_listener_logs: bool,
    pub sink: Option<LogSink>,
    pub path: Option<String>,
    pub json_format: Option<String>,
    pub text_format: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSink {
    File,
    Stderr,
    Stdout,
}

const KEYS: &[&str] = crate::entry_keys![
    "Config",
    "Mode",
    "TransparentProxy",
    "MutualTLSMode",
    "MeshGateway",
    "Expose",
    "AccessLogs",
    "EnvoyExtensions",
    "FailoverPolicy",
    "PrioritizeByLocality",
];

impl ProxyDefaults {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "proxy-defaults", KEYS)?;
        let mut header = Header::decode(d, &f, origin);
        if header.name.is_empty() {
            header.name = PROXY_DEFAULTS_NAME.to_owned();
        } else if header.name != PROXY_DEFAULTS_NAME {
            d.err(
                &f.value_at("Name"),
                format!(
                    "invalid name {:?}: a proxy-defaults entry must be named {PROXY_DEFAULTS_NAME:?}",
                    header.name
                ),
            );
        }
        let config = opaque_map(d, &f, "Config");
        if let Some(p) = config.get("protocol")
            && p.as_str().is_none()
        {
            d.err(
                &f.value_at("Config"),
                "Config: protocol must be a string such as \"http\"",
            );
        }
        Some(Self {
            header,
            config,
            mode: proxy_mode(d, &f),
            transparent_proxy: transparent_proxy(d, &f),
            mutual_tls_mode: mutual_tls_mode(d, &f),
            mesh_gateway: mesh_gateway(d, &f),
            expose: expose(d, &f),
            access_logs: access_logs(d, &f),
            envoy_extensions: envoy_extensions(d, &f),
            failover_policy: failover_policy(d, &f),
            prioritize_by_locality: prioritize_by_locality(d, &f),
        })
    }

    /// `Config.protocol`, lower-cased; `None` when unset.
    pub fn protocol(&self) -> Option<Protocol> {
        self.config
            .get("protocol")
            .and_then(Opaque::as_str)
            .filter(|s| !s.is_empty())
            .map(Protocol::parse)
    }
}

fn access_logs(d: &mut Diag, f: &Fields<'_>) -> Option<AccessLogs> {
    let node = f.node(d, "AccessLogs")?;
    let a = Fields::of(
        d,
        node,
        "AccessLogs",
        &[
            "Enabled",
            "DisableListenerLogs",
            "Type",
            "Path",
            "JSONFormat",
            "TextFormat",
        ],
    )?;
    let sink = one_of(
        d,
        &a,
        "Type",
        &[
            ("", None),
            ("file", Some(LogSink::File)),
            ("stderr", Some(LogSink::Stderr)),
            ("stdout", Some(LogSink::Stdout)),
        ],
    )
    .flatten();
    let non_empty = |d: &mut Diag, name| a.string(d, name).filter(|s| !s.is_empty());
    let logs = AccessLogs {
        enabled: a.flag(d, "Enabled"),
        disable_listener_logs: a.flag(d, "DisableListenerLogs"),
        sink,
        path: non_empty(d, "Path"),
        json_format: non_empty(d, "JSONFormat"),
        text_format: non_empty(d, "TextFormat"),
    };
    if logs.json_format.is_some() && logs.text_format.is_some() {
        d.err(
            a.at(),
            "AccessLogs: JSONFormat and TextFormat cannot both be set",
        );
    }
    match (logs.sink, &logs.path) {
        (Some(LogSink::File), None) => {
            d.err(a.at(), "AccessLogs: Path must be set when Type is \"file\"")
        }
        (Some(LogSink::Stderr | LogSink::Stdout) | None, Some(_)) => d.err(
            &a.value_at("Path"),
            "AccessLogs: Path is only valid when Type is \"file\"",
        ),
        _ => {}
    }
    if let Some(json) = &logs.json_format
        && crate::tree::from_json(std::path::Path::new("JSONFormat"), json).is_err()
    {
        d.err(
            &a.value_at("JSONFormat"),
            "AccessLogs: JSONFormat must be a valid JSON object",
        );
    }
    Some(logs)
}
