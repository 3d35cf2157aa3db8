//! Reading a file into service definitions: the format, the top-level forms, one service.
//!
//! Forms, as Consul's agent reads its config files: `service { … }` (one service),
//! `services { … }` repeated or `services = [ … ]` (several); in JSON `{"service": {…}}`
//! and `{"services": [ … ]}`. A file holding neither, whose top level is itself a service
//! (`name = …`, `kind = …`), is read as one definition in the form of a
//! `PUT /v1/agent/service/register` body, as Consul's registration docs write them.

use std::path::Path;

use rigging_mesh_hcl::{Document, HclError};

use crate::decode::{Fields, as_object, norm};
use crate::error::{Diag, file_start};
use crate::model::{Connect, Locality, ServiceAddress, ServiceDefinition, ServiceKind, Weights};
use crate::tree::{Node, Val, from_hcl, from_json, unbalanced};
use crate::{DefinitionError, LocatedError};

mod check;
mod proxy;
mod rules;

/// The keys of a service definition, as Consul's agent takes them.
const SERVICE_KEYS: &[&str] = &[
    "id",
    "name",
    "tags",
    "address",
    "tagged_addresses",
    "meta",
    "port",
    "socket_path",
    "enable_tag_override",
    "check",
    "checks",
    "kind",
    "proxy",
    "connect",
    "weights",
    "token",
    "namespace",
    "partition",
    "locality",
    "proxy_destination",
];

/// The input formats Consul's agent reads service definitions from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    Hcl,
    Json,
}

/// The definitions of one file, with what is worth a warning (deprecated fields).
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub services: Vec<ServiceDefinition>,
    pub warnings: Vec<LocatedError>,
}

impl Format {
    /// JSON for `.json` files, HCL for `.hcl`, as Consul decides; otherwise JSON when the
    /// first non-blank character is `{`.
    pub fn of(path: &Path, text: &str) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => Self::Json,
            Some("hcl") => Self::Hcl,
            _ if text.trim_start().starts_with('{') => Self::Json,
            _ => Self::Hcl,
        }
    }
}

/// Reads and parses the service definition file at `path`.
pub fn load_file(path: &Path) -> Result<Parsed, DefinitionError> {
    let text = std::fs::read_to_string(path).map_err(|source| DefinitionError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse_str(path, &text)
}

/// Parses `text`, read from `path` (which names locations and picks the format), into
/// validated service definitions; every error found, located.
pub fn parse_str(path: &Path, text: &str) -> Result<Parsed, DefinitionError> {
    let tree = match Format::of(path, text) {
        Format::Json => from_json(path, text),
        Format::Hcl => Document::parse_hcl1_compat(path, text)
            .map(|doc| from_hcl(&doc))
            .map_err(|e| hcl_syntax(path, text, e)),
    }
    .map_err(|e| DefinitionError::Invalid(vec![e]))?;
    let mut d = Diag::default();
    let services = top(&mut d, &tree, path);
    if d.errors.is_empty() {
        for w in &d.warnings {
            tracing::warn!(location = %w.location, "{}", w.message);
        }
        Ok(Parsed {
            services,
            warnings: d.warnings,
        })
    } else {
        d.errors.sort_by(|a, b| a.location.cmp(&b.location));
        Err(DefinitionError::Invalid(d.errors))
    }
}

/// An HCL syntax error, said more plainly for the two faults users make most: an unclosed
/// bracket, and an attribute written twice.
fn hcl_syntax(path: &Path, text: &str, e: HclError) -> LocatedError {
    if let Some(bracket) = unbalanced(path, text) {
        return bracket;
    }
    if e.message.contains("redefined attribute") {
        let key: String = text
            .lines()
            .nth(e.location.line.saturating_sub(1))
            .unwrap_or_default()
            .chars()
            .skip(e.location.column.saturating_sub(1))
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '-')
            .collect();
        // HCL1, which Consul uses, would keep the last value without a word; HCL2 and
        // Rigging refuse the file rather than guess which one was meant
        return LocatedError::new(
            e.location,
            format!(
                "attribute {key:?} is given more than once in this block; expected each key once"
            ),
        );
    }
    LocatedError::from(e)
}

/// The file's definitions, in whichever top-level form it uses.
fn top(d: &mut Diag, tree: &Node, path: &Path) -> Vec<ServiceDefinition> {
    let Some(members) = as_object(d, tree, "service definition file") else {
        return Vec::new();
    };
    let wrapped = members
        .iter()
        .any(|m| matches!(norm(&m.key).as_str(), "service" | "services"));
    if !wrapped {
        if members.is_empty() {
            d.err(
                &file_start(path),
                "expected a service { … } or services { … } definition, found an empty file",
            );
            return Vec::new();
        }
        return service(d, tree, Role::Service).into_iter().collect();
    }
    let Some(f) = Fields::of(d, tree, "service definition file", &["service", "services"]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let singles = f.list(d, "service");
    if let [_, second, ..] = singles.as_slice() {
        d.err(
            &second.at,
            "service is given more than once; use services for several definitions",
        );
    }
    for node in singles.into_iter().take(1).chain(f.list(d, "services")) {
        out.extend(service(d, node, Role::Service));
    }
    out
}

/// Whether a definition stands alone or is a `connect.sidecar_service`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Service,
    Sidecar,
}

/// One definition, checked with Consul's rules.
pub(crate) fn service(d: &mut Diag, node: &Node, role: Role) -> Option<ServiceDefinition> {
    let what = match role {
        Role::Service => "service definition",
        Role::Sidecar => "sidecar_service",
    };
    let f = Fields::of(d, node, what, SERVICE_KEYS)?;
    let mut def = ServiceDefinition {
        location: Some(node.at.clone()),
        kind: kind(d, &f),
        id: f.string(d, "id"),
        name: f.text(d, "name"),
        tags: f.strings(d, "tags"),
        address: f.string(d, "address").filter(|a| !a.is_empty()),
        meta: f.string_map(d, "meta"),
        port: f.port(d, "port"),
        socket_path: f.string(d, "socket_path").filter(|s| !s.is_empty()),
        enable_tag_override: f.flag(d, "enable_tag_override"),
        token: f.string(d, "token").filter(|s| !s.is_empty()),
        namespace: f.string(d, "namespace").filter(|s| !s.is_empty()),
        partition: f.string(d, "partition").filter(|s| !s.is_empty()),
        ..ServiceDefinition::default()
    };
    for m in f.map(d, "tagged_addresses") {
        if let Some(a) = tagged_address(d, &m.value, &m.key) {
            def.tagged_addresses.insert(m.key.clone(), a);
        }
    }
    def.checks = f
        .list(d, "check")
        .into_iter()
        .chain(f.list(d, "checks"))
        .filter_map(|n| check::check(d, n))
        .collect();
    def.weights = f.node(d, "weights").and_then(|n| weights(d, n));
    def.locality = f.node(d, "locality").and_then(|n| locality(d, n));
    def.proxy = f.node(d, "proxy").and_then(|n| proxy::proxy(d, n));
    def.connect = f.node(d, "connect").and_then(|n| connect(d, n));
    if let Some(dest) = f.string(d, "proxy_destination") {
        d.warn(
            &f.key_at("proxy_destination"),
            "proxy_destination is deprecated and ignored; use proxy.destination_service_name",
        );
        if let Some(p) = def
            .proxy
            .as_mut()
            .filter(|p| p.destination_service_name.is_empty())
        {
            p.destination_service_name = dest;
        }
    }
    rules::service(d, &f, &def, role);
    Some(def)
}

fn kind(d: &mut Diag, f: &Fields<'_>) -> ServiceKind {
    let Some(s) = f.string(d, "kind") else {
        return ServiceKind::Typical;
    };
    const KINDS: &[ServiceKind] = &[
        ServiceKind::Typical,
        ServiceKind::ConnectProxy,
        ServiceKind::MeshGateway,
        ServiceKind::TerminatingGateway,
        ServiceKind::IngressGateway,
        ServiceKind::ApiGateway,
    ];
    if let Some(k) = KINDS.iter().find(|k| k.as_str() == s) {
        return *k;
    }
    let names: Vec<String> = KINDS[1..]
        .iter()
        .map(|k| format!("{:?}", k.as_str()))
        .collect();
    d.err(
        &f.key_at("kind"),
        format!(
            "kind: expected one of {} (or none for a typical service), found {s:?}",
            names.join(", ")
        ),
    );
    ServiceKind::Typical
}

fn tagged_address(d: &mut Diag, node: &Node, name: &str) -> Option<ServiceAddress> {
    let f = Fields::of(
        d,
        node,
        &format!("tagged_addresses.{name}"),
        &["address", "port"],
    )?;
    Some(ServiceAddress {
        address: f.text(d, "address"),
        port: f.port(d, "port"),
    })
}

fn weights(d: &mut Diag, node: &Node) -> Option<Weights> {
    let f = Fields::of(d, node, "weights", &["passing", "warning"])?;
    let passing = f.int(d, "passing", 1..=i64::from(u32::MAX));
    let warning = f.int(d, "warning", 0..=i64::from(u32::MAX));
    Some(Weights {
        passing: passing.and_then(|v| u32::try_from(v).ok()).unwrap_or(1),
        warning: warning.and_then(|v| u32::try_from(v).ok()).unwrap_or(1),
    })
}

fn locality(d: &mut Diag, node: &Node) -> Option<Locality> {
    let f = Fields::of(d, node, "locality", &["region", "zone"])?;
    Some(Locality {
        region: f.text(d, "region"),
        zone: f.text(d, "zone"),
    })
}

fn connect(d: &mut Diag, node: &Node) -> Option<Connect> {
    let f = Fields::of(d, node, "connect", &["native", "sidecar_service", "proxy"])?;
    if f.has("proxy") {
        d.err(
            &f.key_at("proxy"),
            "connect.proxy (managed proxies) was removed in Consul 1.6; use connect.sidecar_service",
        );
    }
    let sidecar_service = f.node(d, "sidecar_service").and_then(|n| {
        // `sidecar_service {}` in JSON is an empty object, in HCL an empty block
        if matches!(&n.val, Val::List(items) if items.is_empty()) {
            return Some(Box::default());
        }
        service(d, n, Role::Sidecar).map(Box::new)
    });
    Some(Connect {
        native: f.flag(d, "native"),
        sidecar_service,
    })
}
