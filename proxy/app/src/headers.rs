//! Header rewriting between downstream and upstream: hop-by-hop headers stay on their hop.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Connection-scoped headers (RFC 9110 §7.6.1) plus `proxy-connection`, which old clients send.
const HOP_BY_HOP: [HeaderName; 4] = [
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Removes hop-by-hop headers, including those the `Connection` header names. With
/// `upgrading`, `Upgrade` and `Connection: upgrade` stay so the next hop switches protocols.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap, upgrading: bool) {
    // Most messages carry none of them: one pass over the few names present costs less than a
    // lookup of each name the function removes (twice per proxied request).
    // `te: trailers` as gRPC sends it crosses as it is.
    let concerned = |(name, value): (&HeaderName, &HeaderValue)| {
        name == header::CONNECTION
            || (name == header::TE && value != "trailers")
            || HOP_BY_HOP.contains(name)
    };
    if !upgrading && !headers.iter().any(concerned) {
        return;
    }
    if let Some(connection) = headers.remove(header::CONNECTION) {
        // Headers named in `Connection` are hop-by-hop too; rare, so parsing costs nothing on
        // the common path.
        if let Ok(list) = connection.to_str() {
            for token in list.split(',').map(str::trim) {
                if upgrading && token.eq_ignore_ascii_case("upgrade") {
                    continue;
                }
                if let Ok(name) = HeaderName::from_bytes(token.as_bytes()) {
                    headers.remove(name);
                }
            }
        }
    }
    for name in &HOP_BY_HOP {
        if upgrading && name == header::UPGRADE {
            continue;
        }
        headers.remove(name);
    }
    if upgrading {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
    if let Some(te) = headers.get(header::TE) {
        // Only `te: trailers` may cross (gRPC needs it on HTTP/2).
        let trailers = te.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
        if trailers {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        } else {
            headers.remove(header::TE);
        }
    }
}

/// Whether the `Upgrade` header asks for WebSocket (RFC 6455 section 4.1, case-insensitive).
pub(crate) fn is_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("websocket"))
        })
}

/// Whether an HTTP/1.1 request asks to switch protocols (WebSocket and others).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE)
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn strips_hop_by_hop() {
        let mut h = map(&[
            ("connection", "keep-alive, x-private"),
            ("keep-alive", "timeout=5"),
            ("x-private", "1"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip, trailers"),
            ("upgrade", "websocket"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, map(&[("te", "trailers"), ("x-kept", "yes")]));

        let mut h = map(&[("te", "gzip")]);
        strip_hop_by_hop(&mut h, false);
        assert!(h.is_empty());

        // Each alone is found by the pass that decides whether there is anything to strip.
        for name in [
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ] {
            let mut h = map(&[("x-kept", "yes"), (name, "x")]);
            strip_hop_by_hop(&mut h, false);
            assert_eq!(h, map(&[("x-kept", "yes")]), "{name}");
        }
        // gRPC's `te: trailers` crosses; another spelling of it crosses as `trailers`.
        let grpc = map(&[("te", "trailers"), ("x-kept", "yes")]);
        let mut h = grpc.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, grpc);
        let mut h = map(&[("te", "Trailers"), ("x-kept", "yes")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, grpc);
        let plain = map(&[("host", "api"), ("x-kept", "yes")]);
        let mut h = plain.clone();
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h, plain);
    }

    #[test]
    fn keeps_upgrade_when_upgrading() {
        let mut h = map(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(
            h,
            map(&[("upgrade", "websocket"), ("connection", "upgrade")])
        );
        assert!(!is_upgrade(&map(&[("upgrade", "websocket")])));
    }
}
