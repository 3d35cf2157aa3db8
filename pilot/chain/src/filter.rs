//! Evaluating a subset `Filter` (go-bexpr over Consul's health entries) on one instance.

use std::collections::BTreeMap;

use rigging_mesh_config_entries::{Filter, MatchExpr, MatchOp};

/// What a filter can see of one instance. Selectors read: `Service.Service` (and
/// `Service.Name`), `Service.ID`, `Service.Tags`, `Service.Meta.<key>`; any other selector
/// (node fields, checks) is unknown to the model and evaluates as a missing value.
#[derive(Debug, Clone, Copy)]
pub struct Instance<'a> {
    pub service: &'a str,
    pub id: &'a str,
    pub tags: &'a [String],
    pub meta: &'a BTreeMap<String, String>,
}

enum Value<'a> {
    Missing,
    Str(&'a str),
    List(&'a [String]),
}

/// Whether `instance` is in the subset `filter` selects.
///
/// As go-bexpr: `==`/`!=` compare strings; `in`/`contains` look for an element of a list
/// (or a substring of a string); `is empty` holds for a missing value, `""` or `[]`. A
/// missing value matches no positive comparison (so every negated one). `matches` (a
/// regular expression) is not evaluated here and selects nothing.
pub fn filter_matches(filter: &Filter, instance: &Instance<'_>) -> bool {
    match filter {
        Filter::And(a, b) => filter_matches(a, instance) && filter_matches(b, instance),
        Filter::Or(a, b) => filter_matches(a, instance) || filter_matches(b, instance),
        Filter::Not(f) => !filter_matches(f, instance),
        Filter::Match(m) => comparison(m, instance),
    }
}

fn select<'a>(selector: &[String], i: &Instance<'a>) -> Value<'a> {
    let parts: Vec<&str> = selector.iter().map(String::as_str).collect();
    match parts.as_slice() {
        ["Service", "Service" | "Name"] | ["ServiceName"] => Value::Str(i.service),
        ["Service", "ID"] | ["ServiceID"] => Value::Str(i.id),
        ["Service", "Tags"] | ["ServiceTags"] => Value::List(i.tags),
        ["Service", "Meta", key] | ["ServiceMeta", key] => {
            i.meta.get(*key).map_or(Value::Missing, |v| Value::Str(v))
        }
        _ => Value::Missing,
    }
}

fn comparison(m: &MatchExpr, i: &Instance<'_>) -> bool {
    let value = select(&m.selector, i);
    let want = m.value.as_deref().unwrap_or("");
    let contains = || match &value {
        Value::Missing => false,
        Value::Str(s) => s.contains(want),
        Value::List(l) => l.iter().any(|t| t == want),
    };
    let empty = || match &value {
        Value::Missing => true,
        Value::Str(s) => s.is_empty(),
        Value::List(l) => l.is_empty(),
    };
    let equal = || matches!(&value, Value::Str(s) if *s == want);
    match m.op {
        MatchOp::Equal => equal(),
        MatchOp::NotEqual => !equal(),
        MatchOp::IsEmpty => empty(),
        MatchOp::IsNotEmpty => !empty(),
        MatchOp::In | MatchOp::Contains => contains(),
        MatchOp::NotIn | MatchOp::NotContains => !contains(),
        MatchOp::Matches => false,
        MatchOp::NotMatches => true,
    }
}

#[cfg(test)]
mod tests {
    use rigging_mesh_config_entries::parse_filter;

    use super::*;

    #[test]
    fn filters_table() {
        let meta: BTreeMap<String, String> = [("version".to_owned(), "v1".to_owned())].into();
        let tags = vec!["canary".to_owned(), "blue".to_owned()];
        let i = Instance {
            service: "api",
            id: "api-1",
            tags: &tags,
            meta: &meta,
        };
        let table = [
            ("Service.Meta.version == v1", true),
            ("Service.Meta.version == \"v2\"", false),
            ("Service.Meta.version != v2", true),
            ("Service.Meta.missing == v1", false),
            ("Service.Meta.missing != v1", true),
            ("Service.Meta.missing is empty", true),
            ("canary in Service.Tags", true),
            ("green in Service.Tags", false),
            ("green not in Service.Tags", true),
            ("Service.Tags contains blue", true),
            ("Service.Tags is not empty", true),
            (
                "Service.ID == api-1 and not (canary not in Service.Tags)",
                true,
            ),
            ("Service.Service == web or Service.Meta.version == v1", true),
            ("Node.Meta.rack == r1", false),
        ];
        for (text, want) in table {
            let f = parse_filter(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(filter_matches(&f, &i), want, "{text}");
        }
    }
}
