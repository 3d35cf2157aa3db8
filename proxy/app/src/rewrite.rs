//! Request and response rewriting a route asks for: header mutations and the path prefix.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::uri::PathAndQuery;
use rigging_proxy_config::{HeaderAppend, HeaderMutations};

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

/// Replaces `prefix` at the start of the path of `pq` with `replacement`, keeping the query
/// (Envoy's `prefix_rewrite`). `None` when the path does not start with `prefix` or the result
/// is not a valid path.
pub(crate) fn rewrite_prefix(
    pq: &PathAndQuery,
    prefix: &str,
    replacement: &str,
) -> Option<PathAndQuery> {
    let rest = pq.path().strip_prefix(prefix)?;
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
        let cases = [
            ("/api/v1/users?id=3", "/api/", "/", "/v1/users?id=3"),
            ("/api/v1/users", "/api", "/backend", "/backend/v1/users"),
            ("/api", "/api", "", "/"),
            ("/api?x", "/api", "/v2", "/v2?x"),
        ];
        for (path, prefix, with, want) in cases {
            let pq = PathAndQuery::try_from(path).unwrap();
            let got = rewrite_prefix(&pq, prefix, with).unwrap();
            assert_eq!(got.as_str(), want, "{path} {prefix} → {with}");
        }
        let pq = PathAndQuery::from_static("/other");
        assert!(rewrite_prefix(&pq, "/api", "/").is_none());
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
