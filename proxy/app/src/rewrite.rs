//! Request and response rewriting a route asks for: header mutations and the path prefix.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use rigging_proxy_config::{HeaderAppend, HeaderMutations};

use crate::routing::strip_path_prefix;

/// A route's (or weighted cluster's) header mutations with names and values parsed once, when
/// the snapshot is built.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderOps {
    remove: Vec<HeaderName>,
    add: Vec<(HeaderName, HeaderValue, HeaderAppend)>,
}

impl HeaderOps {
    /// Parses `def`. A name or value that is not a valid header (the config decoder refuses
    /// them, so only a bug gets here) is skipped with a warning naming `owner`; `host` is never
    /// touched, as the config refuses it too.
    pub fn new(def: &HeaderMutations, owner: &str) -> Self {
        let name = |n: &str| match HeaderName::from_bytes(n.as_bytes()) {
            Ok(name) if name != http::header::HOST => Some(name),
            _ => {
                tracing::warn!(%owner, header = n, "header mutation skipped: invalid name");
                None
            }
        };
        let remove = def.remove.iter().filter_map(|n| name(n)).collect();
        let add = def
            .add
            .iter()
            .filter_map(|a| {
                let value = HeaderValue::from_str(&a.value)
                    .inspect_err(|_| {
                        tracing::warn!(%owner, header = %a.name, "header mutation skipped: invalid value");
                    })
                    .ok()?;
                Some((name(&a.name)?, value, a.action))
            })
            .collect();
        Self { remove, add }
    }

    /// Removes, then adds, as Envoy's header parser does (so a route can replace a header by
    /// removing and adding it).
    pub fn apply(&self, headers: &mut HeaderMap) {
        for name in &self.remove {
            headers.remove(name);
        }
        for (name, value, action) in &self.add {
            match action {
                HeaderAppend::Append => {
                    headers.append(name.clone(), value.clone());
                }
                HeaderAppend::Overwrite => {
                    headers.insert(name.clone(), value.clone());
                }
            }
        }
    }
}

/// A prefix route's `prefix_rewrite`: its matched prefix replaced, as it was matched (with or
/// without regard to ASCII case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PrefixRewrite {
    pub prefix: String,
    pub replacement: String,
    pub case_sensitive: bool,
}

impl PrefixRewrite {
    /// Replaces the prefix at the start of the path of `pq`, keeping the query (Envoy's
    /// `prefix_rewrite`). `None` when the path does not start with the prefix or the result
    /// is not a valid path.
    pub fn apply(&self, pq: &PathAndQuery) -> Option<PathAndQuery> {
        let rest = strip_path_prefix(pq.path(), &self.prefix, self.case_sensitive)?;
        rewrite_rest(pq, &self.replacement, rest)
    }
}

/// `replacement` followed by `rest` of the path, then the query of `pq`.
fn rewrite_rest(pq: &PathAndQuery, replacement: &str, rest: &str) -> Option<PathAndQuery> {
    let mut out = String::with_capacity(replacement.len() + rest.len() + 1);
    out.push_str(replacement);
    out.push_str(rest);
    if out.is_empty() {
        out.push('/');
    }
    if let Some(q) = pq.query() {
        out.push('?');
        out.push_str(q);
    }
    PathAndQuery::try_from(out).ok()
}

#[cfg(test)]
mod tests {
    use rigging_proxy_config::HeaderAdd;

    use super::*;

    #[test]
    fn prefix_rewrite_keeps_the_query() {
        let rewrite = |prefix: &str, with: &str, case_sensitive| PrefixRewrite {
            prefix: prefix.into(),
            replacement: with.into(),
            case_sensitive,
        };
        let cases = [
            ("/api/v1/users?id=3", "/api/", "/", true, "/v1/users?id=3"),
            (
                "/api/v1/users",
                "/api",
                "/backend",
                true,
                "/backend/v1/users",
            ),
            ("/api", "/api", "", true, "/"),
            ("/api?x", "/api", "/v2", true, "/v2?x"),
            ("/API/Users?x", "/api", "/v2", false, "/v2/Users?x"),
            ("/Api", "/aPI", "", false, "/"),
        ];
        for (path, prefix, with, sensitive, want) in cases {
            let pq = PathAndQuery::try_from(path).unwrap();
            let got = rewrite(prefix, with, sensitive).apply(&pq).unwrap();
            assert_eq!(got.as_str(), want, "{path} {prefix} → {with}");
        }
        let pq = PathAndQuery::from_static("/other");
        assert!(rewrite("/api", "/", false).apply(&pq).is_none());
        let pq = PathAndQuery::from_static("/API/x");
        assert!(rewrite("/api", "/", true).apply(&pq).is_none());
    }

    #[test]
    fn removes_then_appends_or_overwrites() {
        let ops = HeaderOps::new(
            &HeaderMutations {
                add: vec![
                    HeaderAdd {
                        name: "x-a".into(),
                        value: "2".into(),
                        action: HeaderAppend::Append,
                    },
                    HeaderAdd {
                        name: "x-b".into(),
                        value: "new".into(),
                        action: HeaderAppend::Overwrite,
                    },
                    HeaderAdd {
                        name: "host".into(),
                        value: "evil".into(),
                        action: HeaderAppend::Overwrite,
                    },
                ],
                remove: vec!["x-gone".into(), "x-a".into()],
            },
            "test",
        );
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        h.append("x-b", HeaderValue::from_static("old1"));
        h.append("x-b", HeaderValue::from_static("old2"));
        h.insert("x-gone", HeaderValue::from_static("1"));
        h.insert("host", HeaderValue::from_static("svc"));
        ops.apply(&mut h);
        assert_eq!(h.get_all("x-a").iter().collect::<Vec<_>>(), ["2"]);
        assert_eq!(h.get_all("x-b").iter().collect::<Vec<_>>(), ["new"]);
        assert!(!h.contains_key("x-gone"));
        assert_eq!(h["host"], "svc");

        let append = HeaderOps::new(
            &HeaderMutations {
                add: vec![HeaderAdd {
                    name: "x-a".into(),
                    value: "2".into(),
                    action: HeaderAppend::Append,
                }],
                remove: vec![],
            },
            "test",
        );
        let mut h = HeaderMap::new();
        h.insert("x-a", HeaderValue::from_static("1"));
        append.apply(&mut h);
        assert_eq!(h.get_all("x-a").iter().collect::<Vec<_>>(), ["1", "2"]);
    }
}
