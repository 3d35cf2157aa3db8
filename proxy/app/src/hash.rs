//! The request hash of a route's hash policies (for ring hash and Maglev clusters), and the
//! cookie the proxy sets when a cookie policy with a TTL finds none.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Uri};
use rigging_proxy_balance::RequestHash;
use rigging_proxy_config::{HashPolicy, HashPolicyKind};

/// The hash of one request, and the `set-cookie` value its response must carry when a cookie
/// policy generated the key.
#[derive(Debug, Default)]
pub(crate) struct Hashed {
    pub hash: Option<u64>,
    pub set_cookie: Option<HeaderValue>,
}

/// Computes the request hash from `policies` in order, as Envoy does: each policy that yields
/// a value is combined into the hash; a `terminal` one that yields a value ends the walk.
/// `uri` gives the raw query string (and the HTTP/2 authority); `source` is the downstream
/// connection's IP.
pub(crate) fn request_hash(
    policies: &[HashPolicy],
    headers: &HeaderMap,
    uri: &Uri,
    source: Option<IpAddr>,
) -> Hashed {
    let mut out = Hashed::default();
    if policies.is_empty() {
        return out;
    }
    let mut hash = RequestHash::new();
    for policy in policies {
        let produced = match &policy.kind {
            HashPolicyKind::Header(name) => header_value(headers, uri, name).map(|v| {
                hash.add(v);
            }),
            HashPolicyKind::Cookie { name, ttl, path } => match cookie(headers, name) {
                Some(v) => {
                    hash.add(v);
                    Some(())
                }
                None => ttl.map(|ttl| {
                    let value = new_cookie_value();
                    hash.add(&value);
                    out.set_cookie = set_cookie(name, &value, ttl, path.as_deref());
                }),
            },
            HashPolicyKind::QueryParameter(name) => query_value(uri.query(), name).map(|v| {
                hash.add(v);
            }),
            HashPolicyKind::SourceIp => source.map(|ip| {
                hash.add(ip.to_string());
            }),
        };
        if produced.is_some() && policy.terminal {
            break;
        }
    }
    out.hash = hash.finish();
    out
}

/// The first value of header `name` (a repeated header hashes by its first value). `host` and
/// `:authority` name the request's authority, from whichever of HTTP/1.1 and HTTP/2 carries it.
fn header_value<'a>(headers: &'a HeaderMap, uri: &'a Uri, name: &str) -> Option<&'a [u8]> {
    if name == ":authority" || name == "host" {
        return headers
            .get(header::HOST)
            .map(HeaderValue::as_bytes)
            .or_else(|| uri.authority().map(|a| a.as_str().as_bytes()));
    }
    headers.get(name).map(HeaderValue::as_bytes)
}

/// The value of cookie `name` in the request's `cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v.trim_matches('"')))
}

/// The raw value of the first query parameter `name` (Envoy does not percent-decode it).
fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// A fresh cookie value: 64 random bits in hex, so that new clients spread over the ring.
fn new_cookie_value() -> String {
    let mut s = String::with_capacity(16);
    let _ = write!(s, "{:016x}", fastrand::u64(..));
    s
}

/// `name=value; Max-Age=<secs>; Path=<path>; HttpOnly` (no `Max-Age` for a session cookie, a
/// TTL of 0), as Envoy writes it.
fn set_cookie(name: &str, value: &str, ttl: Duration, path: Option<&str>) -> Option<HeaderValue> {
    let mut s = format!("{name}={value}");
    if !ttl.is_zero() {
        let _ = write!(s, "; Max-Age={}", ttl.as_secs());
    }
    if let Some(p) = path.filter(|p| !p.is_empty()) {
        let _ = write!(s, "; Path={p}");
    }
    s.push_str("; HttpOnly");
    HeaderValue::from_str(&s).ok()
}

#[cfg(test)]
mod tests {
    use rigging_proxy_balance::hash_bytes;

    use super::*;

    fn policy(kind: HashPolicyKind, terminal: bool) -> HashPolicy {
        HashPolicy { kind, terminal }
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    header::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn policies_combine_until_a_terminal_one_yields() {
        let h = headers(&[("x-user", "alice"), ("cookie", "a=1; session=abc")]);
        let user = policy(HashPolicyKind::Header("x-user".into()), false);
        let missing = policy(HashPolicyKind::Header("x-none".into()), true);
        let session = policy(
            HashPolicyKind::Cookie {
                name: "session".into(),
                ttl: None,
                path: None,
            },
            true,
        );
        let ip = policy(HashPolicyKind::SourceIp, false);
        let src = Some(IpAddr::from([10, 0, 0, 1]));
        let root = Uri::from_static("/");

        let got = request_hash(std::slice::from_ref(&user), &h, &root, src);
        assert_eq!(got.hash, Some(hash_bytes("alice")));
        // A terminal policy that yields nothing does not stop the walk.
        let got = request_hash(
            &[missing, user.clone(), session.clone(), ip.clone()],
            &h,
            &root,
            src,
        );
        let mut want = RequestHash::new();
        want.add("alice").add("abc");
        assert_eq!(got.hash, want.finish());
        let got = request_hash(&[ip], &h, &root, src);
        assert_eq!(got.hash, Some(hash_bytes("10.0.0.1")));
        let q = policy(HashPolicyKind::QueryParameter("k".into()), false);
        let got = request_hash(&[q], &h, &Uri::from_static("/p?a=b&k=v1"), src);
        assert_eq!(got.hash, Some(hash_bytes("v1")));
        assert!(got.set_cookie.is_none());
        assert_eq!(request_hash(&[], &h, &root, src).hash, None);

        // The authority, from `Host` (HTTP/1.1) or the URI (HTTP/2), under either name.
        let authority = policy(HashPolicyKind::Header(":authority".into()), false);
        let host = policy(HashPolicyKind::Header("host".into()), false);
        let h2 = Uri::from_static("http://svc:8080/x");
        let got = request_hash(
            std::slice::from_ref(&authority),
            &HeaderMap::new(),
            &h2,
            src,
        );
        assert_eq!(got.hash, Some(hash_bytes("svc:8080")));
        let h1 = headers(&[("host", "svc:8080")]);
        let got = request_hash(&[host], &h1, &root, src);
        assert_eq!(got.hash, Some(hash_bytes("svc:8080")));
    }

    #[test]
    fn cookie_with_ttl_is_generated_when_missing() {
        let p = |ttl, path: Option<&str>| {
            policy(
                HashPolicyKind::Cookie {
                    name: "sticky".into(),
                    ttl,
                    path: path.map(str::to_owned),
                },
                false,
            )
        };
        let none = HeaderMap::new();
        let root = Uri::from_static("/");
        let got = request_hash(
            &[p(Some(Duration::from_secs(60)), Some("/"))],
            &none,
            &root,
            None,
        );
        let cookie = got.set_cookie.unwrap();
        let cookie = cookie.to_str().unwrap();
        let value = cookie
            .strip_prefix("sticky=")
            .and_then(|c| c.split(';').next())
            .unwrap();
        assert_eq!(
            cookie,
            format!("sticky={value}; Max-Age=60; Path=/; HttpOnly")
        );
        assert_eq!(got.hash, Some(hash_bytes(value)));

        let got = request_hash(&[p(Some(Duration::ZERO), None)], &none, &root, None);
        let cookie = got.set_cookie.unwrap();
        assert!(!cookie.to_str().unwrap().contains("Max-Age"), "{cookie:?}");

        let got = request_hash(&[p(None, None)], &none, &root, None);
        assert!(got.set_cookie.is_none() && got.hash.is_none());

        let with = headers(&[("cookie", "sticky=abc")]);
        let got = request_hash(
            &[p(Some(Duration::from_secs(60)), None)],
            &with,
            &root,
            None,
        );
        assert!(got.set_cookie.is_none());
        assert_eq!(got.hash, Some(hash_bytes("abc")));
    }
}
