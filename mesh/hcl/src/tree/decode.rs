//! Decoding values of the located tree, the way Consul's mapstructure setup does.
//!
//! Consul matches keys case-insensitively and also accepts each field's snake_case alias
//! (`PathPrefix`, `pathprefix`, `path_prefix`); here a key matches a field when both are
//! equal after lower-casing and dropping `_`. Values are weakly typed as in Consul: a
//! number may be written as a string, a bool as `"true"`, a struct as a one-element list
//! (HCL1 decodes every block as a list) and a list of one element as that element.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::{Member, Node, Val};
use crate::{Location, parse_duration};

/// Where decode errors go, and the points on which Consul's decoders differ between
/// kinds of file (config entries, service definitions); the defaults are the strictest
/// reading and the fullest wording.
pub trait Report {
    /// Whether values convert as loosely as mapstructure's `WeaklyTypedInput`, beyond
    /// what every Consul decoder accepts: a number as a bool (non-zero is true), `""` as
    /// false, and a whole float (`8080.0`, `1e3`) as a whole number.
    const WEAKLY_TYPED: bool = false;
    /// What a duration field expects, in "expected …" messages.
    const DURATION_EXPECTED: &'static str;
    /// Whether a bare number other than `0` given for a duration is told to add a unit,
    /// rather than only being refused.
    const DURATION_UNIT_HINT: bool = false;

    /// Records an error at `at`.
    fn report(&mut self, at: &Location, message: String);

    /// Records that the single-valued field `name`, first written at `first`, is written
    /// again at `second`.
    fn repeated_field(&mut self, name: &str, first: &Location, second: &Location) {
        self.report(
            second,
            format!("{name} is given more than once (first at {first}); expected one"),
        );
    }

    /// Records that `key` of the map field `name`, first written at `first`, is written
    /// again at `second`.
    fn repeated_key(&mut self, name: &str, key: &str, first: &Location, second: &Location) {
        self.report(
            second,
            format!("{name}: key {key:?} is given more than once (first at {first})"),
        );
    }
}

/// `PathPrefix`, `path_prefix` and `pathprefix` all become `pathprefix`.
pub fn norm(key: &str) -> String {
    key.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The members of the object `node`; a one-element list stands for its element.
pub fn as_object<'n>(d: &mut impl Report, node: &'n Node, what: &str) -> Option<&'n [Member]> {
    match &node.val {
        Val::Object(members) => Some(members),
        Val::List(items) if items.len() == 1 => as_object(d, &items[0], what),
        _ => expected(d, node, what, "an object { … }"),
    }
}

/// A string, or a number's text.
pub fn string(d: &mut impl Report, node: &Node, name: &str) -> Option<String> {
    match &node.val {
        Val::String(s) => Some(s.clone()),
        Val::Number(n) => Some(n.text.clone()),
        Val::List(items) if items.len() == 1 => string(d, &items[0], name),
        _ => expected(d, node, name, "a string"),
    }
}

/// `true`/`false`, or a string Go's `strconv.ParseBool` takes; when weakly typed, also
/// `""` (false) or a number (non-zero is true).
pub fn boolean<R: Report>(d: &mut R, node: &Node, name: &str) -> Option<bool> {
    match &node.val {
        Val::Bool(b) => Some(*b),
        Val::String(s) => match s.as_str() {
            "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
            "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
            "" if R::WEAKLY_TYPED => Some(false),
            _ => expected(d, node, name, "true or false"),
        },
        Val::Number(n) if R::WEAKLY_TYPED => Some(n.float != 0.0),
        Val::List(items) if items.len() == 1 => boolean(d, &items[0], name),
        _ => expected(d, node, name, "true or false"),
    }
}

/// A whole number in `range`, written as a number or a numeric string.
pub fn int<R: Report>(
    d: &mut R,
    node: &Node,
    name: &str,
    range: RangeInclusive<i64>,
) -> Option<i64> {
    let v = match &node.val {
        Val::Number(n) => n.int.or_else(|| {
            // JSON numbers are floats to Go; a whole float is a whole number
            (R::WEAKLY_TYPED && n.float.fract() == 0.0 && n.float.abs() < 1e18).then(|| {
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
        _ => expected(
            d,
            node,
            name,
            &format!("a whole number from {} to {}", range.start(), range.end()),
        ),
    }
}

/// A finite number, written as a number or a numeric string.
pub fn float<R: Report>(d: &mut R, node: &Node, name: &str) -> Option<f64> {
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

/// A Go duration string; `0` alone is zero, other bare numbers are refused because
/// Consul would read them as nanoseconds, which is never what a file means.
pub fn duration<R: Report>(d: &mut R, node: &Node, name: &str) -> Option<Duration> {
    let what = R::DURATION_EXPECTED;
    match &node.val {
        Val::String(s) => match parse_duration(s) {
            Ok(v) => Some(v),
            Err(e) => {
                d.report(
                    &node.at,
                    format!("{name}: expected {what}, found {s:?}: {e}"),
                );
                None
            }
        },
        Val::Number(n) if n.int == Some(0) => Some(Duration::ZERO),
        Val::Number(n) if R::DURATION_UNIT_HINT => {
            d.report(
                &node.at,
                format!(
                    "{name}: expected {what}, found the bare number {}; add a unit",
                    n.text
                ),
            );
            None
        }
        _ => expected(d, node, name, what),
    }
}

/// Records "`name`: expected `what`, found …" at `node`.
pub fn expected<T>(d: &mut impl Report, node: &Node, name: &str, what: &str) -> Option<T> {
    d.report(
        &node.at,
        format!("{name}: expected {what}, found {}", node.describe()),
    );
    None
}
