//! The fields of one object of the tree, found by their declared names.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::decode::{Report, as_object, boolean, duration, float, int, norm, string};
use super::{Member, Node, Val};
use crate::Location;

/// The fields of one object: each declared name with the members written for it.
///
/// A declared name may list other spellings after `|` (`FieldValue|FieldMatchValue`,
/// `args|ScriptArgs`), for fields Consul accepts under two names.
#[derive(Debug)]
pub struct Fields<'n> {
    at: Location,
    slots: Vec<(&'static str, Vec<&'n Member>)>,
}

impl<'n> Fields<'n> {
    /// The fields of `node` (an object), with an error at every key that names no field of
    /// `names`; `what` names the object in messages ("service-router route", "upstream").
    pub fn of(
        d: &mut impl Report,
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
                    d.report(
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

    /// Where the object itself is written, for errors about it as a whole.
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

    /// Where the value of `name` is written, or the object's location when it is not.
    pub fn value_at(&self, name: &str) -> Location {
        self.members(name)
            .first()
            .map_or_else(|| self.at.clone(), |m| m.value.at.clone())
    }

    /// Where the key `name` is written, or the object's location when it is not.
    pub fn key_at(&self, name: &str) -> Location {
        self.members(name)
            .first()
            .map_or_else(|| self.at.clone(), |m| m.key_at.clone())
    }

    /// The one value of a non-list field; `null` reads as absent. A field written twice
    /// (`port = 80` then `port = 8000`, or `port` and `Port`) is an error at the second.
    pub fn node(&self, d: &mut impl Report, name: &str) -> Option<&'n Node> {
        let found = self.members(name);
        if let [first, second, ..] = found {
            d.repeated_field(name, &first.key_at, &second.key_at);
            return None;
        }
        found.first().map(|m| &m.value).filter(|n| !n.is_null())
    }

    /// The elements of a list field: a list, repeated blocks, or one object.
    pub fn list(&self, d: &mut impl Report, name: &str) -> Vec<&'n Node> {
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
                    d.report(
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

    /// The entries of a map field whose keys are chosen by the user (`Subsets`, `meta`):
    /// repeated blocks (`Subsets "v1" { … }`) merge, a key given twice is an error at the
    /// second.
    pub fn map(&self, d: &mut impl Report, name: &str) -> Vec<&'n Member> {
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
                    d.repeated_key(name, &e.key, &first.key_at, &e.key_at);
                } else {
                    out.push(e);
                }
            }
        }
        out
    }

    /// A string; a number reads as its text, as in Consul's weak decoding.
    pub fn string(&self, d: &mut impl Report, name: &str) -> Option<String> {
        let node = self.node(d, name)?;
        string(d, node, name)
    }

    /// A string, empty when absent: Consul treats `""` and absent alike.
    pub fn text(&self, d: &mut impl Report, name: &str) -> String {
        self.string(d, name).unwrap_or_default()
    }

    /// A bool.
    pub fn bool(&self, d: &mut impl Report, name: &str) -> Option<bool> {
        let node = self.node(d, name)?;
        boolean(d, node, name)
    }

    /// A bool, `false` when absent.
    pub fn flag(&self, d: &mut impl Report, name: &str) -> bool {
        self.bool(d, name).unwrap_or(false)
    }

    /// A whole number within `range`.
    pub fn int(&self, d: &mut impl Report, name: &str, range: RangeInclusive<i64>) -> Option<i64> {
        let node = self.node(d, name)?;
        int(d, node, name, range)
    }

    /// A whole number from 0 to `u32::MAX`.
    pub fn u32(&self, d: &mut impl Report, name: &str) -> Option<u32> {
        self.int(d, name, 0..=i64::from(u32::MAX))
            .and_then(|v| u32::try_from(v).ok())
    }

    /// A port, 0 to 65535; 0 (or absent) means "not set", as in Consul.
    pub fn port(&self, d: &mut impl Report, name: &str) -> Option<u16> {
        self.int(d, name, 0..=i64::from(u16::MAX))
            .and_then(|v| u16::try_from(v).ok())
            .filter(|p| *p != 0)
    }

    /// A finite number.
    pub fn float(&self, d: &mut impl Report, name: &str) -> Option<f64> {
        let node = self.node(d, name)?;
        float(d, node, name)
    }

    /// A Go duration string such as `"15s"`; negative durations are refused.
    pub fn duration(&self, d: &mut impl Report, name: &str) -> Option<Duration> {
        let node = self.node(d, name)?;
        duration(d, node, name)
    }

    /// A list of strings; a single string reads as a list of one.
    pub fn strings(&self, d: &mut impl Report, name: &str) -> Vec<String> {
        self.list(d, name)
            .into_iter()
            .filter_map(|n| string(d, n, name))
            .collect()
    }

    /// An object of strings with free-form keys, such as `Meta` or header `Add`.
    pub fn string_map(&self, d: &mut impl Report, name: &str) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for m in self.map(d, name) {
            if let Some(v) = string(d, &m.value, &m.key) {
                out.insert(m.key.clone(), v);
            }
        }
        out
    }
}
