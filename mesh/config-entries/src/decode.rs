//! Decoding the located tree into typed fields, the way Consul's mapstructure setup does.
//!
//! Consul matches keys case-insensitively and also accepts each field's snake_case alias
//! (`PathPrefix`, `pathprefix`, `path_prefix`); here a key matches a field when both are
//! equal after lower-casing and dropping `_`. Values are weakly typed as in Consul
//! (`WeaklyTypedInput`): a number may be written as a string, a bool as `"true"`, a
//! struct as a one-element list (HCL1 decodes every block as a list) and a list of one
//! element as that element. Unknown keys are errors, as `consul config write` makes them.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use rigging_mesh_hcl::{Location, parse_duration};

use crate::error::Diag;
use crate::tree::{Member, Node, Val};

/// `PathPrefix`, `path_prefix` and `pathprefix` all become `pathprefix`.
pub(crate) fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The object a struct field is written as; a one-element list stands for its element.
pub(crate) fn as_object<'n>(d: &mut Diag, node: &'n Node, what: &str) -> Option<&'n [Member]> {
    match &node.val {
        Val::Object(members) => Some(members),
        Val::List(items) if items.len() == 1 => as_object(d, &items[0], what),
        _ => {
            d.err(
                &node.at,
                format!(
                    "{what}: expected an object {{ … }}, found {}",
                    node.describe()
                ),
            );
            None
        }
    }
}

/// The fields of one struct: each declared name with the members written for it.
///
/// A declared name may list alternative spellings after `|` (`FieldValue|FieldMatchValue`),
/// for fields Consul's API and docs spell differently.
#[derive(Debug)]
pub(crate) struct Fields<'n> {
    at: Location,
    slots: Vec<(&'static str, Vec<&'n Member>)>,
}

impl<'n> Fields<'n> {
    /// The fields of `node` (an object), with an error at every key that names no field of
    /// `names`; `what` names the struct in messages ("service-router route").
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
            let slot = slots
                .iter_mut()
                .find(|(spec, _)| spec.split('|').any(|alt| norm(alt) == key));
            match slot {
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

    /// Where the struct itself is written, for errors about it as a whole.
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

    /// Where the value of `name` is written, or the struct's location when it is not.
    pub fn value_at(&self, name: &str) -> Location {
        self.members(name)
            .first()
            .map_or_else(|| self.at.clone(), |m| m.value.at.clone())
    }

    /// Where the key `name` is written, or the struct's location when it is not.
    pub fn key_at(&self, name: &str) -> Location {
        self.members(name)
            .first()
            .map_or_else(|| self.at.clone(), |m| m.key_at.clone())
    }

    /// The one value of a non-list field; `null` reads as absent.
    pub fn node(&self, d: &mut Diag, name: &str) -> Option<&'n Node> {
        let found = self.members(name);
        if let [first, second, ..] = found {
            d.err(
                &second.key_at,
                format!(
                    "{name} is given more than once (first at {}); expected one",
                    first.key_at
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

    /// The entries of a map field whose keys are names chosen by the user (`Subsets`,
    /// `Failover`): repeated blocks (`Subsets "v1" { … }`) are merged.
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
                if let Some(first) = out.iter().find(|o| o.key == e.key) {
                    d.err(
                        &e.key_at,
                        format!(
                            "{name}: key {:?} is given more than once (first at {})",
                            e.key, first.key_at
                        ),
                    );
                } else {
                    out.push(e);
                }
            }
        }
        out
    }

    /// A string; a number reads as its text, as in Consul's weak decoding.
    pub fn string(&self, d: &mut Diag, name: &str) -> Option<String> {
        let node = self.node(d, name)?;
        string(d, node, name)
    }

    /// A string, empty when absent: Consul treats `""` and absent alike for these fields.
    pub fn text(&self, d: &mut Diag, name: &str) -> String {
        self.string(d, name).unwrap_or_default()
    }

    pub fn bool(&self, d: &mut Diag, name: &str) -> Option<bool> {
        let node = self.node(d, name)?;
        boolean(d, node, name)
    }

    /// A bool, `false` when absent.
    pub fn flag(&self, d: &mut Diag, name: &str) -> bool {
        self.bool(d, name).unwrap_or(false)
    }

    /// A whole number within `range`.
    pub fn int(&self, d: &mut Diag, name: &str, range: RangeInclusive<i64>) -> Option<i64> {
        let node = self.node(d, name)?;
        int(d, node, name, range)
    }

    /// A whole number from 0 to `u32::MAX`.
    pub fn u32(&self, d: &mut Diag, name: &str) -> Option<u32> {
        self.int(d, name, 0..=i64::from(u32::MAX))
            .and_then(|v| u32::try_from(v).ok())
    }

    pub fn float(&self, d: &mut Diag, name: &str) -> Option<f64> {
        let node = self.node(d, name)?;
        float(d, node, name)
    }

    /// A Go duration string such as `"15s"`; negative durations are refused.
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

    /// An object of strings with free-form keys, such as `Meta` or header `Add`.
    pub fn string_map(&self, d: &mut Diag, name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for m in self.map(d, name) {
            if let Some(v) = string(d, &m.value, &m.key) {
                out.insert(m.key.clone(), v);
            }
        }
        out
    }
}

/// A string, or a number's text.
pub(crate) fn string(d: &mut Diag, node: &Node, name: &str) -> Option<String> {
    match &node.val {
        Val::String(s) => Some(s.clone()),
        Val::Number(n) => Some(n.text.clone()),
        Val::List(items) if items.len() == 1 => string(d, &items[0], name),
        _ => expected(d, node, name, "a string"),
    }
}

/// `true`/`false`, or a string Go's `strconv.ParseBool` takes, or a number (non-zero is true).
pub(crate) fn boolean(d: &mut Diag, node: &Node, name: &str) -> Option<bool> {
    match &node.val {
        Val::Bool(b) => Some(*b),
        Val::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" | "" => Some(false),
            _ => expected(d, node, name, "true or false"),
        },
        Val::Number(n) => Some(n.float != 0.0),
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
    let what = || format!("a whole number from {} to {}", range.start(), range.end());
    let v = match &node.val {
        Val::Number(n) => n.int.or_else(|| {
            // JSON numbers are floats to Go; a whole float is a whole number
            (n.float.fract() == 0.0 && n.float.abs() < 1e18).then(|| {
                #[allow(clippy::cast_possible_truncation)]
                let v = n.float as i128;
                v
            })
        }),
        Val::String(s) => s.trim().parse::<i128>().ok(),
        Val::List(items) if items.len() == 1 => return int(d, &items[0], name, range),
        _ => None,
    };
    match v.and_then(|v| i64::try_from(v).ok()) {
        Some(v) if range.contains(&v) => Some(v),
        _ => expected(d, node, name, &what()),
    }
}

pub(crate) fn float(d: &mut Diag, node: &Node, name: &str) -> Option<f64> {
    match &node.val {
        Val::Number(n) if n.float.is_finite() => Some(n.float),
        Val::String(s) => match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Some(v),
            _ => expected(d, node, name, "a number"),
        },
        Val::List(items) if items.len() == 1 => float(d, &items[0], name),
        _ => expected(d, node, name, "a number"),
    }
}

/// A duration string; `0` is accepted as zero, other bare numbers are refused because
/// Consul would read them as nanoseconds, which is never what a file means.
pub(crate) fn duration(d: &mut Diag, node: &Node, name: &str) -> Option<Duration> {
    const WHAT: &str = "a duration such as \"5s\", \"150ms\" or \"1m30s\"";
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
        Val::Number(n) if n.int == Some(0) => Some(Duration::ZERO),
        Val::Number(n) => {
            d.err(
                &node.at,
                format!(
                    "{name}: expected {WHAT}, found the bare number {}; add a unit",
                    n.text
                ),
            );
            None
        }
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

/// One of a fixed set of spellings; `options` pairs each spelling with its value.
pub(crate) fn one_of<T: Clone>(
    d: &mut Diag,
    f: &Fields<'_>,
    name: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let s = f.string(d, name)?;
    pick(d, &f.value_at(name), name, &s, options)
}

/// `s` matched against `options`, or an error at `at` listing them.
pub(crate) fn pick<T: Clone>(
    d: &mut Diag,
    at: &Location,
    name: &str,
    s: &str,
    options: &[(&str, T)],
) -> Option<T> {
    if let Some((_, v)) = options.iter().find(|(k, _)| *k == s) {
        return Some(v.clone());
    }
    let list: Vec<String> = options
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, _)| format!("{k:?}"))
        .collect();
    d.err(
        at,
        format!("{name}: expected one of {}, found {s:?}", list.join(", ")),
    );
    None
}
