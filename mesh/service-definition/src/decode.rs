//! Decoding the located tree into typed fields, the way Consul's agent decodes definitions.
//!
//! Consul's agent accepts each field as snake_case and CamelCase (`local_bind_port`,
//! `LocalBindPort`); here a key matches a field when both are equal after lower-casing and
//! dropping `_`. Values are weakly typed as in Consul: a number may be written as a string,
//! a bool as `"true"`, an object as a one-element list (HCL1 decodes every block as a list).
//! Unknown keys are errors, listing the keys that were expected.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use rigging_mesh_hcl::{Location, parse_duration};

use crate::error::Diag;
use crate::tree::{Member, Node, Val};

/// `LocalBindPort`, `local_bind_port` and `localbindport` all become `localbindport`.
pub(crate) fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The members of the object `node`; a one-element list stands for its element.
pub(crate) fn as_object<'n>(d: &mut Diag, node: &'n Node, what: &str) -> Option<&'n [Member]> {
    match &node.val {
        Val::Object(members) => Some(members),
        Val::List(items) if items.len() == 1 => as_object(d, &items[0], what),
        _ => expected(d, node, what, "an object { … }"),
    }
}

/// The fields of one object: each declared name with the members written for it.
///
/// A declared name may list other spellings after `|` (`args|ScriptArgs`), for fields
/// Consul accepts under two names.
#[derive(Debug)]
pub(crate) struct Fields<'n> {
    at: Location,
    slots: Vec<(&'static str, Vec<&'n Member>)>,
}

impl<'n> Fields<'n> {
    /// The fields of `node`, with an error at every key that names none of `names`;
    /// `what` names the object in messages ("upstream").
    pub fn of(
        d: &mut Diag,
        node: &'n Node,
        what: &str,
        names: &'static [&'static str],
    ) -> Option<Self> {
        let members = as_object(d, node, what)?;
        let mut slots: Vec<(&'static str, Vec<&'n Member>)> =
            names.iter().map(|n| (*n, Vec::new())).collect();
        for m in members {
            let key = norm(&m.key);
            match slots
                .iter_mut()
                .find(|(spec, _)| spec.split('|').any(|alt| norm(alt) == key))
            {
                Some((_, found)) => found.push(m),
                None => {
                    let expected: Vec<&str> =
                        names.iter().filter_map(|n| n.split('|').next()).collect();
                    d.err(
                        &m.key_at,
                        format!(
                            "unknown key {:?} in {what}; expected one of: {}",
                            m.key,
                            expected.join(", ")
                        ),
                    );
                }
            }
        }
        Some(Self {
            at: node.at.clone(),
            slots,
        })
    }

    /// Where the object itself is written.
    pub fn at(&self) -> &Location {
        &self.at
    }

    fn members(&self, name: &str) -> &[&'n Member] {
        self.slots
            .iter()
            .find(|(spec, _)| spec.split('|').next() == Some(name))
            .map_or(&[], |(_, found)| found.as_slice())
    }

    /// Whether `name` is written (even as `null`).
    pub fn has(&self, name: &str) -> bool {
        !self.members(name).is_empty()
    }

    /// Whether `name` is written more than once (already an error of its own).
    pub fn repeated(&self, name: &str) -> bool {
        self.members(name).len() > 1
    }

    /// Where the key `name` is written, or the object's location when it is not.
    pub fn key_at(&self, name: &str) -> Location {
        self.members(name)
            .first()
            .map_or_else(|| self.at.clone(), |m| m.key_at.clone())
    }

    /// The one value of a non-list field; `null` reads as absent. A field written twice
    /// (`port = 80` then `port = 8000`, or `port` and `Port`) is an error at the second.
    pub fn node(&self, d: &mut Diag, name: &str) -> Option<&'n Node> {
        let found = self.members(name);
        if let [first, second, ..] = found {
            d.err(
                &second.key_at,
                format!(
                    "{name} is given more than once (first at line {}, column {}); expected one",
                    first.key_at.line, first.key_at.column
                ),
            );
            return None;
        }
        found.first().map(|m| &m.value).filter(|n| !n.is_null())
    }

    /// The elements of a list field: a list, repeated blocks, or one object.
    pub fn list(&self, d: &mut Diag, name: &str) -> Vec<&'n Node> {
        let found = self.members(name);
        match found {
            [] => Vec::new(),
            [one] if !one.block => match &one.value.val {
                Val::List(items) => items.iter().collect(),
                Val::Null => Vec::new(),
                _ => vec![&one.value],
            },
            _ => {
                if let Some(attr) = found.iter().find(|m| !m.block) {
                    d.err(
                        &attr.key_at,
                        format!(
                            "{name} is given both as blocks and as an attribute; expected one form"
                        ),
                    );
                    return Vec::new();
                }
                found.iter().map(|m| &m.value).collect()
            }
        }
    }

    /// A string; a number reads as its text, as in Consul's weak decoding.
    pub fn string(&self, d: &mut Diag, name: &str) -> Option<String> {
        let node = self.node(d, name)?;
        string(d, node, name)
    }

    /// A string, empty when absent: Consul treats `""` and absent alike.
    pub fn text(&self, d: &mut Diag, name: &str) -> String {
        self.string(d, name).unwrap_or_default()
    }

    /// A bool, `false` when absent.
    pub fn flag(&self, d: &mut Diag, name: &str) -> bool {
        self.node(d, name)
            .and_then(|n| boolean(d, n, name))
            .unwrap_or(false)
    }

    /// A whole number within `range`.
    pub fn int(&self, d: &mut Diag, name: &str, range: RangeInclusive<i64>) -> Option<i64> {
        let node = self.node(d, name)?;
        int(d, node, name, range)
    }

    /// A port, 0 to 65535; 0 (or absent) means "not set", as in Consul.
    pub fn port(&self, d: &mut Diag, name: &str) -> Option<u16> {
        self.int(d, name, 0..=i64::from(u16::MAX))
            .and_then(|v| u16::try_from(v).ok())
            .filter(|p| *p != 0)
    }

    /// A Go duration string such as `"10s"`.
    pub fn duration(&self, d: &mut Diag, name: &str) -> Option<Duration> {
        let node = self.node(d, name)?;
        duration(d, node, name)
    }

    /// A list of strings; a single string reads as a list of one.
    pub fn strings(&self, d: &mut Diag, name: &str) -> Vec<String> {
        self.list(d, name)
            .into_iter()
            .filter_map(|n| string(d, n, name))
            .collect()
    }

    /// The entries of an object with free-form keys (`meta`, `tagged_addresses`); repeated
    /// blocks merge, a key given twice is an error at the second.
    pub fn map(&self, d: &mut Diag, name: &str) -> Vec<&'n Member> {
        let mut out: Vec<&'n Member> = Vec::new();
        for m in self.members(name) {
            if m.value.is_null() {
                continue;
            }
            let Some(entries) = as_object(d, &m.value, name) else {
                continue;
            };
            for e in entries {
                if out.iter().any(|o| o.key == e.key) {
                    d.err(
                        &e.key_at,
                        format!("{name}: key {:?} is given more than once", e.key),
                    );
                } else {
                    out.push(e);
                }
            }
        }
        out
    }

    /// An object of strings with free-form keys, such as `meta`.
    pub fn string_map(&self, d: &mut Diag, name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for m in self.map(d, name) {
            if let Some(v) = string(d, &m.value, &m.key) {
                out.insert(m.key.clone(), v);
            }
        }
        out
    }

    /// A free-form object kept as JSON (a proxy's or upstream's `config`).
    pub fn opaque(&self, d: &mut Diag, name: &str) -> serde_json::Map<String, serde_json::Value> {
        let mut out = serde_json::Map::new();
        for m in self.map(d, name) {
            match m.value.to_json() {
                Some(v) => {
                    out.insert(m.key.clone(), v);
                }
                None => {
                    expected::<()>(d, &m.value, &m.key, "a literal value");
                }
            }
        }
        out
    }
}

/// A string, or a number's text.
pub(crate) fn string(d: &mut Diag, node: &Node, name: &str) -> Option<String> {
    match &node.val {
        Val::String(s) => Some(s.clone()),
        Val::Number { text, .. } => Some(text.clone()),
        Val::List(items) if items.len() == 1 => string(d, &items[0], name),
        _ => expected(d, node, name, "a string"),
    }
}

/// `true`/`false`, or a string Go's `strconv.ParseBool` takes.
pub(crate) fn boolean(d: &mut Diag, node: &Node, name: &str) -> Option<bool> {
    match &node.val {
        Val::Bool(b) => Some(*b),
        Val::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            _ => expected(d, node, name, "true or false"),
        },
        Val::List(items) if items.len() == 1 => boolean(d, &items[0], name),
        _ => expected(d, node, name, "true or false"),
    }
}

/// A whole number in `range`, written as a number or a numeric string.
pub(crate) fn int(
    d: &mut Diag,
    node: &Node,
    name: &str,
    range: RangeInclusive<i64>,
) -> Option<i64> {
    let v = match &node.val {
        Val::Number { int, .. } => *int,
        Val::String(s) => s.trim().parse::<i128>().ok(),
        Val::List(items) if items.len() == 1 => return int(d, &items[0], name, range),
        _ => None,
    };
    match v.and_then(|v| i64::try_from(v).ok()) {
        Some(v) if range.contains(&v) => Some(v),
        _ => expected(
            d,
            node,
            name,
            &format!("a whole number from {} to {}", range.start(), range.end()),
        ),
    }
}

/// A Go duration string; `0` alone is zero, other bare numbers are refused (Consul would
/// read them as nanoseconds, which is never what a file means).
pub(crate) fn duration(d: &mut Diag, node: &Node, name: &str) -> Option<Duration> {
    const WHAT: &str = "a duration such as \"10s\", \"150ms\" or \"1m30s\"";
    match &node.val {
        Val::String(s) => match parse_duration(s) {
            Ok(v) => Some(v),
            Err(e) => {
                d.err(
                    &node.at,
                    format!("{name}: expected {WHAT}, found {s:?}: {e}"),
                );
                None
            }
        },
        Val::Number { int: Some(0), .. } => Some(Duration::ZERO),
        _ => expected(d, node, name, WHAT),
    }
}

/// Records "`name`: expected `what`, found …" at `node`.
pub(crate) fn expected<T>(d: &mut Diag, node: &Node, name: &str, what: &str) -> Option<T> {
    d.err(
        &node.at,
        format!("{name}: expected {what}, found {}", node.describe()),
    );
    None
}
