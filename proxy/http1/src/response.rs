//! Response heads: the status line, the service's fields, and the framing fields this hop
//! decides (RFC 9112 §6), as hyper's server writes them.

use http::header::{self, HeaderMap, HeaderName};
use http::{Method, StatusCode, Version};

use crate::date;
use crate::head::{parse_content_length, tokens};
use crate::write::Encoder;

/// What the response head depends on in its request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestInfo {
    pub version: Version,
    pub head: bool,
    pub connect: bool,
    pub wants_upgrade: bool,
    /// The client allows another request on the connection, and the server is not draining.
    pub keep_alive: bool,
}

/// What the service's body says of its length before the first frame.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyHint {
    pub end_stream: bool,
    pub exact: Option<u64>,
}

/// How the head was written.
#[derive(Debug)]
pub(crate) struct Encoded {
    pub encoder: Encoder,
    pub keep_alive: bool,
    /// The response switches protocols: the connection goes to the service after the head.
    pub upgrade: bool,
}

impl RequestInfo {
    pub(crate) fn new(method: &Method, version: Version, wants_upgrade: bool) -> Self {
        Self {
            version,
            head: method == Method::HEAD,
            connect: method == Method::CONNECT,
            wants_upgrade,
            keep_alive: true,
        }
    }
}

/// Writes the head of a response to `req` into `dst`.
pub(crate) fn encode_head(
    status: StatusCode,
    headers: &HeaderMap,
    body: BodyHint,
    req: &RequestInfo,
    dst: &mut Vec<u8>,
) -> Encoded {
    let upgrade = (status == StatusCode::SWITCHING_PROTOCOLS && req.wants_upgrade)
        || (req.connect && status.is_success());
    let no_length = upgrade || status.is_informational() || status == StatusCode::NO_CONTENT;
    let no_body = no_length || req.head || status == StatusCode::NOT_MODIFIED;
    let declared = headers
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .find_map(|v| parse_content_length(v.as_bytes()));

    dst.reserve(64 + headers.len() * 32);
    status_line(status, req.version, dst);
    let (encoder, length) = if no_body {
        // A HEAD response tells the length the GET body would have, when it is known.
        let implied = body.exact.filter(|&n| req.head && n > 0);
        (Encoder::Empty, declared.or(implied).filter(|_| !no_length))
    } else if let Some(n) = declared {
        (Encoder::Length(n), Some(n))
    } else if body.end_stream {
        (Encoder::Length(0), Some(0))
    } else if let Some(n) = body.exact {
        (Encoder::Length(n), Some(n))
    } else if req.version == Version::HTTP_11 {
        dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
        (
            Encoder::Chunked {
                trailers: Vec::new(),
                ended: false,
            },
            None,
        )
    } else {
        (Encoder::Close, None)
    };
    if let Some(n) = length {
        dst.extend_from_slice(b"content-length: ");
        dst.extend_from_slice(itoa(n, &mut [0; 20]));
        dst.extend_from_slice(b"\r\n");
    }
    let mut encoder = encoder;
    let (mut close_token, mut keep_alive_token) = (false, false);
    for (name, value) in headers {
        match *name {
            header::CONTENT_LENGTH | header::TRANSFER_ENCODING => continue,
            header::CONNECTION => {
                for t in tokens(value.as_bytes()) {
                    close_token |= t.eq_ignore_ascii_case(b"close");
                    keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            header::TRAILER => {
                let Encoder::Chunked { trailers, .. } = &mut encoder else {
                    continue;
                };
                trailers.extend(
                    tokens(value.as_bytes()).filter_map(|t| HeaderName::from_bytes(t).ok()),
                );
            }
            _ => {}
        }
        dst.extend_from_slice(name.as_str().as_bytes());
        dst.extend_from_slice(b": ");
        dst.extend_from_slice(value.as_bytes());
        dst.extend_from_slice(b"\r\n");
    }
    if !headers.contains_key(header::DATE) {
        dst.extend_from_slice(b"date: ");
        date::extend(dst);
        dst.extend_from_slice(b"\r\n");
    }
    let keep_alive =
        req.keep_alive && !close_token && !upgrade && !matches!(encoder, Encoder::Close);
    if req.version == Version::HTTP_10 && keep_alive && !keep_alive_token {
        dst.extend_from_slice(b"connection: keep-alive\r\n");
    } else if req.version == Version::HTTP_11 && !keep_alive && !close_token && !upgrade {
        dst.extend_from_slice(b"connection: close\r\n");
    }
    dst.extend_from_slice(b"\r\n");
    Encoded {
        encoder,
        keep_alive,
        upgrade,
    }
}

/// The head of a response the connection makes itself (a refused request): no body, and the
/// connection closes after it.
pub(crate) fn encode_refusal(status: StatusCode, dst: &mut Vec<u8>) {
    status_line(status, Version::HTTP_11, dst);
    dst.extend_from_slice(b"content-length: 0\r\nconnection: close\r\ndate: ");
    date::extend(dst);
    dst.extend_from_slice(b"\r\n\r\n");
}

fn status_line(status: StatusCode, version: Version, dst: &mut Vec<u8>) {
    let http10 = version == Version::HTTP_10;
    if status == StatusCode::OK && !http10 {
        dst.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    dst.extend_from_slice(if http10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    dst.extend_from_slice(status.as_str().as_bytes());
    dst.push(b' ');
    // A reason must be written: many parsers expect one.
    dst.extend_from_slice(status.canonical_reason().unwrap_or("<none>").as_bytes());
    dst.extend_from_slice(b"\r\n");
}

fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn head(
        status: u16,
        fields: &[(&'static str, &'static str)],
        body: BodyHint,
        req: RequestInfo,
    ) -> (String, Encoded) {
        let mut headers = HeaderMap::new();
        for (k, v) in fields {
            headers.append(*k, HeaderValue::from_static(v));
        }
        headers.insert("date", HeaderValue::from_static("today"));
        let mut out = Vec::new();
        let e = encode_head(
            StatusCode::from_u16(status).unwrap(),
            &headers,
            body,
            &req,
            &mut out,
        );
        (String::from_utf8(out).unwrap(), e)
    }

    const UNKNOWN: BodyHint = BodyHint {
        end_stream: false,
        exact: None,
    };
    const EMPTY: BodyHint = BodyHint {
        end_stream: true,
        exact: Some(0),
    };

    fn req(method: Method, version: Version) -> RequestInfo {
        RequestInfo::new(&method, version, false)
    }

    #[test]
    fn frames_responses_like_hyper() {
        let get11 = req(Method::GET, Version::HTTP_11);
        let (text, e) = head(200, &[("content-length", "5")], UNKNOWN, get11);
        assert_eq!(
            text,
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\ndate: today\r\n\r\n"
        );
        assert_eq!((e.encoder, e.keep_alive), (Encoder::Length(5), true));

        let (text, e) = head(
            200,
            &[("trailer", "grpc-status"), ("transfer-encoding", "gzip")],
            UNKNOWN,
            get11,
        );
        assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
        assert!(!text.contains("gzip"), "{text}");
        assert_eq!(
            e.encoder,
            Encoder::Chunked {
                trailers: vec![HeaderName::from_static("grpc-status")],
                ended: false
            }
        );

        let (text, e) = head(404, &[], EMPTY, get11);
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n"));
        assert_eq!(e.encoder, Encoder::Length(0));

        // HEAD keeps the declared length but sends no body; 204 sends neither.
        let (text, e) = head(
            200,
            &[("content-length", "9")],
            EMPTY,
            req(Method::HEAD, Version::HTTP_11),
        );
        assert!(text.contains("content-length: 9\r\n"), "{text}");
        assert_eq!(e.encoder, Encoder::Empty);
        let (text, e) = head(204, &[("content-length", "0")], UNKNOWN, get11);
        assert!(!text.contains("content-length"), "{text}");
        assert_eq!(e.encoder, Encoder::Empty);
        let (_, e) = head(304, &[], UNKNOWN, get11);
        assert_eq!(e.encoder, Encoder::Empty);
    }

    #[test]
    fn keep_alive_and_versions() {
        let mut r10 = req(Method::GET, Version::HTTP_10);
        let (text, e) = head(200, &[], UNKNOWN, r10);
        assert!(text.starts_with("HTTP/1.0 200 OK\r\n"), "{text}");
        assert_eq!(e.encoder, Encoder::Close);
        assert!(!e.keep_alive);
        assert!(!text.contains("connection"), "{text}");

        let (text, e) = head(200, &[], EMPTY, r10);
        assert!(text.contains("connection: keep-alive\r\n"), "{text}");
        assert!(e.keep_alive);
        r10.keep_alive = false;
        let (text, e) = head(200, &[], EMPTY, r10);
        assert!(!text.contains("connection"), "{text}");
        assert!(!e.keep_alive);

        let mut r11 = req(Method::GET, Version::HTTP_11);
        let (_, e) = head(200, &[("connection", "close")], EMPTY, r11);
        assert!(!e.keep_alive);
        r11.keep_alive = false;
        let (text, _) = head(200, &[], EMPTY, r11);
        assert!(text.contains("connection: close\r\n"), "{text}");
    }

    #[test]
    fn upgrades_switch_only_when_asked() {
        let ws = RequestInfo::new(&Method::GET, Version::HTTP_11, true);
        let (text, e) = head(
            101,
            &[("connection", "upgrade"), ("upgrade", "websocket")],
            EMPTY,
            ws,
        );
        assert!(e.upgrade && !e.keep_alive);
        assert_eq!(e.encoder, Encoder::Empty);
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{text}"
        );
        assert!(!text.contains("content-length"), "{text}");
        assert!(!text.contains("connection: close"), "{text}");
        let (_, e) = head(200, &[], EMPTY, ws);
        assert!(!e.upgrade && e.keep_alive);
    }
}
