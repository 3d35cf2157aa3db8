//! Route tables: virtual hosts matched by host, then routes matched by path, headers, method and
//! query parameters, resolved to the clusters of the same snapshot, with the actions the proxy
//! takes on the requests of each route.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Request};
use rigging_proxy_config::{
    BasisPoints, FaultInjection, HashPolicy, HeaderMatch, HeaderMatcher, PathMatch,
    QueryParameterMatch, QueryParameterMatcher, RetryPolicy, Route, RouteConfig, RouteDestination,
};

use crate::cluster::ClusterState;
use crate::rewrite::{HeaderOps, PrefixRewrite};

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

/// One route: its matchers, and its action with the clusters looked up when the snapshot was
/// built.
#[derive(Debug)]
pub(crate) struct RouteEntry {
    path: PathMatch,
    /// `false`: prefix and exact paths compared ignoring ASCII case.
    case_sensitive: bool,
    headers: Vec<HeaderMatcher>,
    query_parameters: Vec<QueryParameterMatcher>,
    /// Shared with the requests that took the route, which outlive the snapshot guard.
    pub action: Arc<Action>,
}

/// What the proxy does with a request of a route.
#[derive(Debug)]
pub(crate) struct Action {
    /// The route's name, for logs.
    pub route: String,
    /// Never empty: one cluster, or the weighted split.
    destinations: Vec<Destination>,
    /// The sum of the destinations' weights (at least 1).
    total_weight: u64,
    /// Time allowed for the response headers, all attempts included; `None` is no limit.
    pub timeout: Option<Duration>,
    /// How long the stream may stay without request or response bytes; `None` is no limit.
    pub idle_timeout: Option<Duration>,
    /// The route's prefix and its replacement (prefix routes only, as in Envoy).
    pub prefix_rewrite: Option<PrefixRewrite>,
    pub retry: Option<RetryPolicy>,
    pub hash_policies: Vec<HashPolicy>,
    pub mirrors: Vec<Mirror>,
    /// Applied after the destination's own.
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    pub fault: Option<FaultInjection>,
}

/// One cluster a route sends to, with its weight in the split and its own header mutations.
#[derive(Debug)]
pub(crate) struct Destination {
    pub name: String,
    /// `None` when the cluster is not (yet) configured.
    pub cluster: Option<Arc<ClusterState>>,
    weight: u64,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
}

/// A cluster sent a copy of a share of a route's requests.
#[derive(Debug)]
pub(crate) struct Mirror {
    pub name: String,
    pub cluster: Option<Arc<ClusterState>>,
    pub fraction: BasisPoints,
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
                        case_sensitive: r.case_sensitive,
                        headers: r.headers.clone(),
                        query_parameters: r.query_parameters.clone(),
                        action: Arc::new(Action::new(r, &cluster)),
                    })
                    .collect(),
            })
            .collect();
        Self { virtual_hosts }
    }

    /// The route for a request to `host` (without port, any case): the first route of the
    /// virtual host whose every matcher (path, headers with `:method`, query parameters)
    /// matches. Exact domains win over suffix and prefix patterns, which win over `*`, as in
    /// Envoy.
    pub fn find<B>(&self, host: &str, req: &Request<B>) -> Option<&RouteEntry> {
        let vh = self.virtual_host(host)?;
        vh.routes.iter().find(|r| r.matches(req))
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

impl Action {
    fn new(r: &Route, cluster: &impl Fn(&str) -> Option<Arc<ClusterState>>) -> Self {
        let owner = format!("route {:?}", r.name);
        let destinations: Vec<Destination> = match &r.action.destination {
            RouteDestination::Cluster(c) => vec![Destination {
                name: c.clone(),
                cluster: cluster(c),
                weight: 1,
                request_headers: HeaderOps::default(),
                response_headers: HeaderOps::default(),
            }],
            RouteDestination::Weighted(split) => split
                .iter()
                .map(|w| Destination {
                    name: w.name.clone(),
                    cluster: cluster(&w.name),
                    weight: u64::from(w.weight.get()),
                    request_headers: HeaderOps::new(&w.request_headers, &owner),
                    response_headers: HeaderOps::new(&w.response_headers, &owner),
                })
                .collect(),
        };
        let total_weight = destinations.iter().map(|d| d.weight).sum::<u64>().max(1);
        let prefix_rewrite = match (&r.path, &r.action.prefix_rewrite) {
            (PathMatch::Prefix(p), Some(with)) => Some(PrefixRewrite {
                prefix: p.clone(),
                replacement: with.clone(),
                case_sensitive: r.case_sensitive,
            }),
            _ => None,
        };
        Self {
            route: r.name.clone(),
            destinations,
            total_weight,
            timeout: r.action.timeout.filter(|t| !t.is_zero()),
            idle_timeout: r.action.idle_timeout.filter(|t| !t.is_zero()),
            prefix_rewrite,
            retry: r.action.retry.clone().filter(|p| p.num_retries > 0),
            hash_policies: r.action.hash_policies.clone(),
            mirrors: r
                .action
                .mirrors
                .iter()
                .map(|m| Mirror {
                    name: m.cluster.clone(),
                    cluster: cluster(&m.cluster),
                    fraction: m.fraction,
                })
                .collect(),
            request_headers: HeaderOps::new(&r.request_headers, &owner),
            response_headers: HeaderOps::new(&r.response_headers, &owner),
            fault: r.fault.clone(),
        }
    }

    /// The destination of one request: a weighted draw over the split (the only one
    /// otherwise).
    pub fn destination(&self) -> &Destination {
        if self.destinations.len() > 1 {
            let mut draw = fastrand::u64(..self.total_weight);
            for d in &self.destinations {
                if draw < d.weight {
                    return d;
                }
                draw -= d.weight;
            }
        }
        &self.destinations[0]
    }

    /// Every destination, in configuration order.
    #[cfg(test)]
    pub fn destinations(&self) -> &[Destination] {
        &self.destinations
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

impl RouteEntry {
    fn matches<B>(&self, req: &Request<B>) -> bool {
        let uri = req.uri();
        path_matches(&self.path, self.case_sensitive, uri.path())
            && self
                .headers
                .iter()
                .all(|h| header_matches(h, req.method().as_str(), req.headers()))
            && self
                .query_parameters
                .iter()
                .all(|q| query_matches(q, uri.query().unwrap_or("")))
    }
}

/// `path` is the request's path without the query string. `case_sensitive` applies to prefix
/// and exact paths; a regex ignores it, as in Envoy.
fn path_matches(m: &PathMatch, case_sensitive: bool, path: &str) -> bool {
    match m {
        PathMatch::Prefix(p) => strip_path_prefix(path, p, case_sensitive).is_some(),
        PathMatch::Exact(p) if case_sensitive => path == p,
        PathMatch::Exact(p) => path.eq_ignore_ascii_case(p),
        PathMatch::Regex(r) => r.is_match(path),
    }
}

/// The rest of `path` after `prefix`, compared ignoring ASCII case unless `case_sensitive`
/// (so the rest starts where the matched prefix ends, whatever its case).
pub(crate) fn strip_path_prefix<'a>(
    path: &'a str,
    prefix: &str,
    case_sensitive: bool,
) -> Option<&'a str> {
    if case_sensitive {
        return path.strip_prefix(prefix);
    }
    let head = path.as_bytes().get(..prefix.len())?;
    // Non-ASCII bytes compare exactly, so the cut falls on a character boundary.
    head.eq_ignore_ascii_case(prefix.as_bytes())
        .then(|| path.get(prefix.len()..))
        .flatten()
}

/// Envoy's header matching: the values of a repeated header joined with `,`; a missing header
/// matches only an inverted `present` matcher.
fn header_matches(m: &HeaderMatcher, method: &str, headers: &HeaderMap) -> bool {
    let value = if m.name == ":method" {
        Some(std::borrow::Cow::Borrowed(method))
    } else {
        joined_values(headers, &m.name)
    };
    let Some(value) = value else {
        return m.invert && m.kind == HeaderMatch::Present;
    };
    let matched = match &m.kind {
        HeaderMatch::Present => true,
        HeaderMatch::Exact(v) => *value == **v,
        HeaderMatch::Prefix(p) => value.starts_with(p.as_str()),
        HeaderMatch::Suffix(s) => value.ends_with(s.as_str()),
        HeaderMatch::Regex(r) => r.is_match(&value),
    };
    matched != m.invert
}

/// Every value of header `name`, joined with `,`; `None` when absent. A value that is not
/// UTF-8 is compared lossily (it can match only `present`, or a regex on the replacement char).
fn joined_values<'a>(headers: &'a HeaderMap, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let mut values = headers.get_all(name).iter();
    let first = values.next()?;
    let rest: Vec<_> = values.collect();
    if rest.is_empty() {
        return Some(String::from_utf8_lossy(first.as_bytes()));
    }
    let mut joined = String::from_utf8_lossy(first.as_bytes()).into_owned();
    for v in rest {
        joined.push(',');
        joined.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
    Some(std::borrow::Cow::Owned(joined))
}

/// Envoy's query parameter matching: the first parameter named `m.name` in the raw query
/// string (names and values compared without percent-decoding); `a` alone has the value "".
fn query_matches(m: &QueryParameterMatcher, query: &str) -> bool {
    let value = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .find_map(|(k, v)| (k == m.name).then_some(v));
    let Some(value) = value else {
        return false;
    };
    match &m.kind {
        QueryParameterMatch::Present => true,
        QueryParameterMatch::Exact(v) => value == v,
        QueryParameterMatch::Regex(r) => r.is_match(value),
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
mod tests;
