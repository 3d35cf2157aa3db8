//! How jobspec blocks and attributes map to Nomad API fields, read from the `hcl:` tags and
//! field names of Nomad's `api` package (jobs.go, tasks.go, services.go, consul.go,
//! resources.go). Names not listed map generically: `snake_case` ↔ `CamelCase`.

/// How one field converts.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    /// Any value, kept as it is.
    Any,
    /// A string (numbers and booleans spelled out).
    Str,
    /// A whole number (strings spelling one are converted).
    Int,
    /// A boolean.
    Bool,
    /// A Go duration: `"10s"` in HCL, nanoseconds in JSON.
    Dur,
    /// A free-form map (`config`): keys verbatim, values as they are.
    Map,
    /// A string map (`env`, `meta`): keys verbatim, values as strings.
    StrMap,
    /// One nested block → one object.
    One(&'static Schema),
    /// A repeated block → a list of objects.
    Many(&'static Schema),
    /// A repeated labeled block → a map keyed by the label.
    Keyed(&'static Schema),
    /// `network.port` → `DynamicPorts` / `ReservedPorts`.
    Ports,
    /// `task.identity` → `Identity` (the default one) and `Identities`.
    Identities,
}

/// One field: its jobspec name, its API name and how it converts.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) hcl: &'static str,
    pub(crate) api: &'static str,
    pub(crate) kind: Kind,
}

/// An API object: which field the block's label fills, and its fields.
#[derive(Debug)]
pub(crate) struct Schema {
    pub(crate) label: Option<&'static str>,
    pub(crate) fields: &'static [Field],
}

impl Schema {
    pub(crate) fn by_hcl(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.hcl == name)
    }

    pub(crate) fn by_api(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.api == name)
    }
}

macro_rules! schema {
    ($name:ident, $label:expr, [$(($hcl:literal, $api:literal, $kind:expr)),* $(,)?]) => {
        pub(crate) static $name: Schema = Schema {
            label: $label,
            fields: &[$(Field { hcl: $hcl, api: $api, kind: $kind }),*],
        };
    };
}

mod jobs;
mod services;
mod tasks;

pub(crate) use jobs::*;
pub(crate) use services::*;
pub(crate) use tasks::*;

/// Words written all in capitals in API names.
const ACRONYMS: &[&str] = &[
    "id", "ip", "cpu", "dns", "tls", "sni", "uid", "ttl", "url", "http", "tcp", "grpc", "cidr",
    "mb", "iops", "numa", "csi", "cni", "json", "acl", "api", "ui",
];

/// `snake_case` → `CamelCase`, with known acronyms in capitals (`parent_id` → `ParentID`).
pub(crate) fn camel(s: &str) -> String {
    s.split('_')
        .map(|w| {
            if ACRONYMS.contains(&w) {
                w.to_ascii_uppercase()
            } else {
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            }
        })
        .collect()
}

/// `CamelCase` → `snake_case`, runs of capitals kept as one word (`TLSMinVersion` → `tls_min_version`).
pub(crate) fn snake(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}
