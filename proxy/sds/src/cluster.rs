//! The SDS servers the proxy knows, by the cluster name a gateway's config entry uses.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use http::Uri;

use crate::SdsError;

/// The scheme of a plaintext gRPC server; the only one SDS servers are reached with for now.
const HTTP_SCHEME: &str = "http://";

/// Where one SDS server listens: a plaintext HTTP/2 (gRPC) address, `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdsEndpoint(Uri);

/// The SDS servers by cluster name (`ClusterName` in an ingress gateway's `TLS { SDS { … } }`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdsClusters(BTreeMap<String, SdsEndpoint>);

/// Parses a `--sds-cluster` value, `NAME=ADDR`, where ADDR is `host:port` or
/// `http://host:port`.
pub fn parse_sds_cluster(s: &str) -> Result<(String, SdsEndpoint), SdsError> {
    let bad = |reason: &str| SdsError::BadCluster {
        input: s.to_owned(),
        reason: reason.to_owned(),
    };
    let (name, addr) = s.split_once('=').ok_or_else(|| bad("expected NAME=ADDR"))?;
    if name.is_empty() {
        return Err(bad("empty cluster name"));
    }
    if !name.chars().all(|c| c.is_ascii_graphic()) {
        return Err(bad("the cluster name has a space or a non-ASCII character"));
    }
    let endpoint = addr.parse().map_err(|reason: String| bad(&reason))?;
    Ok((name.to_owned(), endpoint))
}

impl SdsEndpoint {
    /// `http://host:port`.
    pub fn uri(&self) -> &Uri {
        &self.0
    }
}

impl FromStr for SdsEndpoint {
    type Err = String;

    /// `host:port` or `http://host:port` (a trailing `/` is allowed) on the loopback
    /// interface; the error is the reason.
    fn from_str(addr: &str) -> Result<Self, String> {
        let authority = match addr.strip_prefix(HTTP_SCHEME) {
            Some(rest) => rest,
            None if addr.contains("://") => {
                return Err("only plaintext http:// SDS servers are supported".to_owned());
            }
            None => addr,
        };
        let authority = authority.strip_suffix('/').unwrap_or(authority);
        if authority.is_empty() {
            return Err("empty address".to_owned());
        }
        if authority.contains(['/', '?', '#', '@']) {
            return Err("the address must be host:port, without a path or user".to_owned());
        }
        // After the last `:` unless that is inside an IPv6 literal's brackets.
        let port = match authority.rsplit_once(':') {
            Some((_, port)) if !port.contains(']') => port,
            _ => return Err("the address has no port".to_owned()),
        };
        if port.parse::<u16>().is_err() {
            return Err(format!("bad port {port:?}"));
        }
        let uri: Uri = format!("{HTTP_SCHEME}{authority}")
            .parse()
            .map_err(|e| format!("bad address: {e}"))?;
        let host = uri.host().unwrap_or_default();
        if host.is_empty() {
            return Err("the address has no host".to_owned());
        }
        // Private keys travel in the clear: only over the loopback interface, where the SDS
        // server is a process of this host (an agent beside the gateway).
        let ip = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = host.eq_ignore_ascii_case("localhost")
            || ip
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if !loopback {
            return Err(format!(
                "{host} is not a loopback address: plaintext gRPC would carry private keys across the network; run the SDS server beside the gateway"
            ));
        }
        Ok(Self(uri))
    }
}

impl fmt::Display for SdsEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `Uri` prints an authority-only URI with a trailing `/`; the address is clearer without.
        let uri = self.0.to_string();
        f.write_str(uri.strip_suffix('/').unwrap_or(&uri))
    }
}

impl SdsClusters {
    /// The clusters given; a name given twice is an error rather than a silent override.
    pub fn new(
        clusters: impl IntoIterator<Item = (String, SdsEndpoint)>,
    ) -> Result<Self, SdsError> {
        let mut map = BTreeMap::new();
        for (name, endpoint) in clusters {
            if map.contains_key(&name) {
                return Err(SdsError::DuplicateCluster(name));
            }
            map.insert(name, endpoint);
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&SdsEndpoint> {
        self.0.get(name)
    }

    /// The cluster names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &SdsEndpoint)> {
        self.0.iter().map(|(n, e)| (n.as_str(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_name_and_address() {
        let cases = [
            ("sds=127.0.0.1:8500", "sds", "http://127.0.0.1:8500"),
            (
                "sds-cluster=http://localhost:9000",
                "sds-cluster",
                "http://localhost:9000",
            ),
            ("sds=http://127.0.0.2:9000/", "sds", "http://127.0.0.2:9000"),
            ("a_b.c=[::1]:10", "a_b.c", "http://[::1]:10"),
        ];
        for (input, name, addr) in cases {
            let (n, e) = parse_sds_cluster(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(
                (n.as_str(), e.to_string().as_str()),
                (name, addr),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_bad_values() {
        let cases = [
            ("sds", "expected NAME=ADDR"),
            ("=127.0.0.1:1", "empty cluster name"),
            ("my sds=127.0.0.1:1", "space"),
            ("sds=", "empty address"),
            ("sds=http://", "empty address"),
            ("sds=https://sds:443", "only plaintext"),
            ("sds=unix:///run/sds.sock", "only plaintext"),
            ("sds=127.0.0.1", "no port"),
            ("sds=[::1]", "no port"),
            ("sds=:8080", "no host"),
            ("sds=host:8080/secrets", "without a path"),
            ("sds=user@host:8080", "without a path or user"),
            ("sds=host:port", r#"bad port "port""#),
            ("sds=host:99999", "bad port"),
            ("sds=sds.local:9000", "not a loopback address"),
            ("sds=10.0.0.5:9000", "not a loopback address"),
            ("sds=ho st:1", "bad address"),
        ];
        for (input, want) in cases {
            match parse_sds_cluster(input) {
                Err(e @ SdsError::BadCluster { .. }) => {
                    assert!(e.to_string().contains(want), "{input}: {e}")
                }
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_cluster_given_twice_is_refused() {
        let flags = ["a=127.0.0.1:1", "b=127.0.0.1:2", "a=127.0.0.1:3"];
        let parsed = flags.map(|f| parse_sds_cluster(f).unwrap());
        assert!(matches!(
            SdsClusters::new(parsed),
            Err(SdsError::DuplicateCluster(n)) if n == "a"
        ));
        let ok =
            SdsClusters::new(flags[..2].iter().map(|f| parse_sds_cluster(f).unwrap())).unwrap();
        assert_eq!(ok.names(), ["a", "b"]);
    }
}
