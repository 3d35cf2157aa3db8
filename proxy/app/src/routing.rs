//! Route tables: virtual hosts matched by host, then routes matched by path, resolved to the
//! clusters of the same snapshot.

use std::sync::Arc;
use std::time::Duration;

use rigging_proxy_config::{PathMatch, RouteConfig};

use crate::cluster::ClusterState;

/// A compiled `RouteConfig`.
#[derive(Debug)]
pub(crate) struct RouteTable {
    virtual_hosts: Vec<VirtualHost>,
}

#[derive(Debug)]
struct VirtualHost {
    domains: Vec<Domain>,
    routes: Vec<RouteEntry>,
}

/// A domain pattern, lowercased at build time.
#[derive(Debug)]
enum Domain {
    Any,
    Exact(String),
    /// `*.example.com` → matches hosts ending in `.example.com`.
    Suffix(String),
    /// `example.*` → matches hosts starting with `example.`.
    Prefix(String),
}

/// One route, with its cluster looked up when the snapshot was built.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    path: PathMatch,
    pub cluster_name: String,
    /// `None` when the cluster is not (yet) configured.
    pub cluster: Option<Arc<ClusterState>>,
    pub timeout: Option<Duration>,
}

impl RouteTable {
    pub fn new(def: &RouteConfig, cluster: impl Fn(&str) -> Option<Arc<ClusterState>>) -> Self {
        let virtual_hosts = def
            .virtual_hosts
            .iter()
            .map(|vh| VirtualHost {
                domains: vh.domains.iter().map(|d| Domain::parse(d)).collect(),
                routes: vh
                    .routes
                    .iter()
                    .map(|r| RouteEntry {
                        path: r.path.clone(),
                        cluster_name: r.action.cluster.clone(),
                        cluster: cluster(&r.action.cluster),
                        timeout: r.action.timeout.filter(|t| !t.is_zero()),
                    })
                    .collect(),
            })
            .collect();
        Self { virtual_hosts }
    }

    /// The route for `host` (without port, any case) and `path`. Exact domains win over
    /// suffix and prefix patterns, which win over `*`, as in Envoy.
    pub fn find(&self, host: &str, path: &str) -> Option<&RouteEntry> {
        let vh = self.virtual_host(host)?;
        vh.routes.iter().find(|r| path_matches(&r.path, path))
    }

    fn virtual_host(&self, host: &str) -> Option<&VirtualHost> {
        let mut best: Option<(u8, &VirtualHost)> = None;
        for vh in &self.virtual_hosts {
            for d in &vh.domains {
                let rank = d.rank(host);
                if rank > best.map_or(0, |b| b.0) {
                    best = Some((rank, vh));
                    if rank == Domain::EXACT {
                        return Some(vh);
                    }
                }
            }
        }
        best.map(|b| b.1)
    }
}

impl Domain {
    const EXACT: u8 = 4;

    fn parse(d: &str) -> Self {
        let d = d.to_ascii_lowercase();
        if d == "*" {
            Self::Any
        } else if let Some(rest) = d.strip_prefix('*') {
            Self::Suffix(rest.to_owned())
        } else if let Some(rest) = d.strip_suffix('*') {
            Self::Prefix(rest.to_owned())
        } else {
            Self::Exact(d)
        }
    }

    /// 0 when `host` does not match, else higher for more specific patterns.
    fn rank(&self, host: &str) -> u8 {
        let m = |ok: bool, rank: u8| if ok { rank } else { 0 };
        match self {
            Self::Any => 1,
            Self::Exact(d) => m(d.eq_ignore_ascii_case(host), Self::EXACT),
            Self::Suffix(s) => m(host.len() > s.len() && ends_with_ignore_case(host, s), 3),
            Self::Prefix(p) => m(
                host.len() > p.len()
                    && host.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes()),
                2,
            ),
        }
    }
}

fn ends_with_ignore_case(host: &str, suffix: &str) -> bool {
    host.as_bytes()[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

fn path_matches(m: &PathMatch, path: &str) -> bool {
    match m {
        PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        PathMatch::Exact(p) => path == p,
    }
}

/// The host part of an authority or `Host` value: the port and IPv6 brackets' port removed.
pub(crate) fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    match host.rfind(':') {
        Some(i) if host[i + 1..].bytes().all(|b| b.is_ascii_digit()) => &host[..i],
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use rigging_proxy_config::{Route, RouteAction, VirtualHost as VhDef};

    use super::*;

    type HostSpec<'a> = (&'a str, &'a [&'a str], &'a [(PathMatch, &'a str)]);

    fn table(hosts: &[HostSpec<'_>]) -> RouteTable {
        let def = RouteConfig {
            name: "t".into(),
            virtual_hosts: hosts
                .iter()
                .map(|(name, domains, routes)| VhDef {
                    name: (*name).into(),
                    domains: domains.iter().map(|d| (*d).into()).collect(),
                    routes: routes
                        .iter()
                        .map(|(path, cluster)| Route {
                            name: (*cluster).into(),
                            path: path.clone(),
                            action: RouteAction {
                                cluster: (*cluster).into(),
                                timeout: None,
                            },
                        })
                        .collect(),
                })
                .collect(),
        };
        RouteTable::new(&def, |_| None)
    }

    #[test]
    fn matches_hosts_and_paths() {
        let prefix = |p: &str| PathMatch::Prefix(p.into());
        let exact = |p: &str| PathMatch::Exact(p.into());
        let t = table(&[
            ("any", &["*"], &[(prefix("/"), "default")]),
            (
                "api",
                &["api.example.com"],
                &[(exact("/v1"), "v1"), (prefix("/v"), "vx")],
            ),
            ("wild", &["*.example.com"], &[(prefix("/"), "wild")]),
            ("pre", &["web.*"], &[(prefix("/"), "pre")]),
        ]);
        let cases = [
            ("api.example.com", "/v1", Some("v1")),
            ("API.Example.com", "/v2", Some("vx")),
            ("api.example.com", "/x", None),
            ("x.example.com", "/", Some("wild")),
            ("web.local", "/", Some("pre")),
            ("other", "/anything", Some("default")),
            ("example.com", "/", Some("default")),
        ];
        for (host, path, want) in cases {
            let got = t.find(host, path).map(|r| r.cluster_name.as_str());
            assert_eq!(got, want, "{host}{path}");
        }
        assert!(table(&[("a", &["a"], &[])]).find("b", "/").is_none());
    }

    #[test]
    fn strips_ports() {
        for (input, want) in [
            ("a.b:8080", "a.b"),
            ("a.b", "a.b"),
            ("[::1]:80", "[::1]"),
            ("[::1]", "[::1]"),
            ("1.2.3.4:5", "1.2.3.4"),
        ] {
            assert_eq!(strip_port(input), want);
        }
    }
}
