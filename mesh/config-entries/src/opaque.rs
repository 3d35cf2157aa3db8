//! Free-form values (`proxy-defaults` `Config`, extension arguments) and Envoy extensions.

use std::collections::BTreeMap;

use crate::decode::{self, Fields};
use crate::error::Diag;
use crate::tree::{Node, Val};

/// A free-form value, such as a `proxy-defaults` `Config` entry: kept as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Opaque {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    List(Vec<Opaque>),
    Map(BTreeMap<String, Opaque>),
}

impl Opaque {
    pub(crate) fn from_node(d: &mut Diag, node: &Node) -> Self {
        match &node.val {
            Val::Null => Self::Null,
            Val::Bool(b) => Self::Bool(*b),
            Val::Number(n) => Self::Number(n.float),
            Val::String(s) => Self::String(s.clone()),
            Val::List(items) => Self::List(items.iter().map(|n| Self::from_node(d, n)).collect()),
            Val::Object(members) => {
                let mut map = BTreeMap::new();
                for m in members {
                    let v = Self::from_node(d, &m.value);
                    // HCL1 reads a repeated block as a list of its bodies
                    match map.remove(&m.key) {
                        None => {
                            map.insert(m.key.clone(), v);
                        }
                        Some(Self::List(mut prev)) if m.block => {
                            prev.push(v);
                            map.insert(m.key.clone(), Self::List(prev));
                        }
                        Some(prev) if m.block => {
                            map.insert(m.key.clone(), Self::List(vec![prev, v]));
                        }
                        Some(_) => {
                            d.err(&m.key_at, format!("{} is given more than once", m.key));
                        }
                    }
                }
                Self::Map(map)
            }
            Val::Other(what) => {
                d.err(&node.at, format!("expected a plain value, found {what}"));
                Self::Null
            }
        }
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }
}

/// A map of free-form values, such as `Config { … }`.
pub(crate) fn opaque_map(d: &mut Diag, f: &Fields<'_>, name: &str) -> BTreeMap<String, Opaque> {
    let Some(node) = f.node(d, name) else {
        return BTreeMap::new();
    };
    match Opaque::from_node(d, node) {
        Opaque::Map(m) => m,
        _ => decode::expected(d, node, name, "an object { … }").unwrap_or_default(),
    }
}

/// `EnvoyExtensions = [{ Name, Required, Arguments, ConsulVersion, EnvoyVersion }]`: kept
/// for completeness; Rigging's proxy is not Envoy and ignores them (with a warning).
#[derive(Debug, Clone, PartialEq)]
pub struct EnvoyExtension {
    pub name: String,
    pub required: bool,
    pub arguments: BTreeMap<String, Opaque>,
    pub consul_version: String,
    pub envoy_version: String,
}

pub(crate) fn envoy_extensions(d: &mut Diag, f: &Fields<'_>) -> Vec<EnvoyExtension> {
    let mut out = Vec::new();
    for node in f.list(d, "EnvoyExtensions") {
        let Some(e) = Fields::of(
            d,
            node,
            "EnvoyExtensions",
            &[
                "Name",
                "Required",
                "Arguments",
                "ConsulVersion",
                "EnvoyVersion",
            ],
        ) else {
            continue;
        };
        let name = e.text(d, "Name");
        if name.is_empty() {
            d.err(e.at(), "EnvoyExtensions: Name is required");
        }
        d.warn(
            e.at(),
            format!("EnvoyExtensions: extension {name:?} patches Envoy resources; Rigging's proxy ignores it"),
        );
        out.push(EnvoyExtension {
            name,
            required: e.flag(d, "Required"),
            arguments: opaque_map(d, &e, "Arguments"),
            consul_version: e.text(d, "ConsulVersion"),
            envoy_version: e.text(d, "EnvoyVersion"),
        });
    }
    out
}
