//! HTTP request matchers shared by `service-router` routes and `service-intentions`
//! permissions: path, headers, query parameters and methods, with Consul's rules.

use crate::decode::Fields;
use crate::error::Diag;
use crate::tree::Node;

/// The methods Consul accepts (Go's `net/http` method constants).
pub const HTTP_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE",
];

/// How a request path is matched; at most one per route or permission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The whole path, starting with `/`.
    Exact(String),
    /// A prefix, starting with `/`.
    Prefix(String),
    /// An RE2 regular expression over the whole path.
    Regex(String),
}

impl PathMatch {
    /// Whether a destination may rewrite this path's prefix (`PrefixRewrite`).
    pub fn allows_prefix_rewrite(&self) -> bool {
        matches!(self, Self::Exact(_) | Self::Prefix(_))
    }
}

/// How one header (or query parameter) value is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueMatch {
    Present,
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// Only in intention permissions.
    Contains(String),
    Regex(String),
}

/// `Header = [{ Name, Present|Exact|Prefix|Suffix|Regex, Invert }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderMatch {
    pub name: String,
    pub value: ValueMatch,
    /// Match when the condition does not hold.
    pub invert: bool,
    /// Compare values case-insensitively (intention permissions only).
    pub ignore_case: bool,
}

/// `QueryParam = [{ Name, Present|Exact|Regex }]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryParamMatch {
    pub name: String,
    pub value: ValueMatch,
}

/// Where a matcher is used, which decides the keys it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    Route,
    Permission,
}

/// The path fields of `f`: at most one of `PathExact`, `PathPrefix` and `PathRegex`, the
/// first two starting with `/`, the last a valid regular expression.
pub(crate) fn path(d: &mut Diag, f: &Fields<'_>) -> Option<PathMatch> {
    let mut found: Vec<(&str, PathMatch)> = Vec::new();
    for name in ["PathExact", "PathPrefix", "PathRegex"] {
        let Some(v) = f.string(d, name).filter(|s| !s.is_empty()) else {
            continue;
        };
        let at = f.value_at(name);
        match name {
            "PathRegex" => {
                regex(d, &at, name, &v);
                found.push((name, PathMatch::Regex(v)));
            }
            _ => {
                if !v.starts_with('/') {
                    d.err(&at, format!("{name}: must start with '/', found {v:?}"));
                }
                let m = if name == "PathExact" {
                    PathMatch::Exact(v)
                } else {
                    PathMatch::Prefix(v)
                };
                found.push((name, m));
            }
        }
    }
    if let [(first, _), (second, _), ..] = found.as_slice() {
        d.err(
            &f.key_at(second),
            format!(
                "{second}: only one of PathExact, PathPrefix or PathRegex may be set, and {first} is set too"
            ),
        );
    }
    found.into_iter().next().map(|(_, m)| m)
}

/// Checks RE2-style syntax; the proxy compiles the same expression later.
pub(crate) fn regex(d: &mut Diag, at: &rigging_mesh_hcl::Location, name: &str, pattern: &str) {
    if let Err(e) = regex_syntax::Parser::new().parse(pattern) {
        let why = match &e {
            regex_syntax::Error::Parse(p) => p.kind().to_string(),
            regex_syntax::Error::Translate(t) => t.kind().to_string(),
            other => other.to_string(),
        };
        d.err(
            at,
            format!("{name}: invalid regular expression {pattern:?}: {why}"),
        );
    }
}

/// `Header = [...]`: each needs a `Name` and exactly one condition.
pub(crate) fn headers(d: &mut Diag, f: &Fields<'_>, site: Site) -> Vec<HeaderMatch> {
    const ROUTE: &[&str] = &[
        "Name", "Present", "Exact", "Prefix", "Suffix", "Regex", "Invert",
    ];
    const PERMISSION: &[&str] = &[
        "Name",
        "Present",
        "Exact",
        "Prefix",
        "Suffix",
        "Contains",
        "Regex",
        "Invert",
        "IgnoreCase",
    ];
    let (keys, conditions): (&'static [&'static str], &[&str]) = match site {
        Site::Route => (ROUTE, &["Present", "Exact", "Prefix", "Suffix", "Regex"]),
        Site::Permission => (
            PERMISSION,
            &["Present", "Exact", "Prefix", "Suffix", "Contains", "Regex"],
        ),
    };
    f.list(d, "Header")
        .into_iter()
        .filter_map(|n| {
            let h = Fields::of(d, n, "Header match", keys)?;
            let name = required_name(d, &h, "Header")?;
            let value = condition(d, &h, "Header", conditions)?;
            Some(HeaderMatch {
                name,
                value,
                invert: h.flag(d, "Invert"),
                ignore_case: h.flag(d, "IgnoreCase"),
            })
        })
        .collect()
}

/// `QueryParam = [...]`: each needs a `Name` and exactly one of Present, Exact or Regex.
pub(crate) fn query_params(d: &mut Diag, f: &Fields<'_>) -> Vec<QueryParamMatch> {
    f.list(d, "QueryParam")
        .into_iter()
        .filter_map(|n| {
            let q = Fields::of(
                d,
                n,
                "QueryParam match",
                &["Name", "Present", "Exact", "Regex"],
            )?;
            let name = required_name(d, &q, "QueryParam")?;
            let value = condition(d, &q, "QueryParam", &["Present", "Exact", "Regex"])?;
            Some(QueryParamMatch { name, value })
        })
        .collect()
}

fn required_name(d: &mut Diag, f: &Fields<'_>, what: &str) -> Option<String> {
    let name = f.text(d, "Name");
    if name.is_empty() {
        d.err(f.at(), format!("{what}: Name is required"));
        return None;
    }
    Some(name)
}

/// Exactly one of `conditions` (an empty string or `Present = false` counts as unset).
fn condition(d: &mut Diag, f: &Fields<'_>, what: &str, conditions: &[&str]) -> Option<ValueMatch> {
    let mut set: Vec<(&str, ValueMatch)> = Vec::new();
    for &c in conditions {
        if c == "Present" {
            if f.flag(d, c) {
                set.push((c, ValueMatch::Present));
            }
            continue;
        }
        let Some(v) = f.string(d, c).filter(|s| !s.is_empty()) else {
            continue;
        };
        let m = match c {
            "Exact" => ValueMatch::Exact(v),
            "Prefix" => ValueMatch::Prefix(v),
            "Suffix" => ValueMatch::Suffix(v),
            "Contains" => ValueMatch::Contains(v),
            _ => {
                regex(d, &f.value_at(c), c, &v);
                ValueMatch::Regex(v)
            }
        };
        set.push((c, m));
    }
    if set.len() != 1 {
        let found = if set.is_empty() {
            "none is set".to_owned()
        } else {
            let names: Vec<&str> = set.iter().map(|(n, _)| *n).collect();
            format!("{} are set", names.join(" and "))
        };
        let name = f.text(d, "Name");
        d.err(
            f.at(),
            format!(
                "{what} {name:?}: exactly one of {} is required; {found}",
                conditions.join(", ")
            ),
        );
        return None;
    }
    set.pop().map(|(_, m)| m)
}

/// `Methods`: upper-cased as Consul does, each a known method, none twice.
pub(crate) fn methods(d: &mut Diag, f: &Fields<'_>) -> Vec<String> {
    let methods: Vec<String> = f
        .strings(d, "Methods")
        .into_iter()
        .map(|m| m.to_ascii_uppercase())
        .collect();
    let at = f.value_at("Methods");
    for (i, m) in methods.iter().enumerate() {
        if !HTTP_METHODS.contains(&m.as_str()) {
            d.err(
                &at,
                format!(
                    "Methods: {m:?} is not an HTTP method; expected one of {}",
                    HTTP_METHODS.join(", ")
                ),
            );
        } else if methods[..i].contains(m) {
            d.err(&at, format!("Methods: {m:?} is listed more than once"));
        }
    }
    methods
}

/// Fields of an `HTTP { … }` block node, for callers that decode it.
pub(crate) fn http_fields<'n>(
    d: &mut Diag,
    node: &'n Node,
    what: &str,
    site: Site,
) -> Option<Fields<'n>> {
    const ROUTE: &[&str] = &[
        "PathExact",
        "PathPrefix",
        "PathRegex",
        "CaseInsensitive",
        "Header",
        "QueryParam",
        "Methods",
    ];
    const PERMISSION: &[&str] = &["PathExact", "PathPrefix", "PathRegex", "Header", "Methods"];
    let keys = match site {
        Site::Route => ROUTE,
        Site::Permission => PERMISSION,
    };
    Fields::of(d, node, what, keys)
}
