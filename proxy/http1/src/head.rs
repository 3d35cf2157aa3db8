//! Request heads: parsed with `httparse` out of the read buffer, header values kept as slices of
//! it (no copy), and the message framing decided as RFC 9112 §6 says.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri, Version};
use smallvec::SmallVec;

use crate::MAX_HEADERS;
use crate::decode::Decoder;

/// A parsed request head and what the connection needs to know about its message.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
    /// `None`: no body.
    pub body: Option<Decoder>,
    /// The client lets the connection carry another request after this one.
    pub keep_alive: bool,
    pub expect_continue: bool,
    /// An HTTP/1.1 `Upgrade` request, or `CONNECT`.
    pub wants_upgrade: bool,
}

/// Why a head was refused; the connection answers and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HeadError {
    #[error("request head larger than {0} bytes or with more than {MAX_HEADERS} fields")]
    TooLarge(usize),
    #[error("malformed request head: {0}")]
    Malformed(&'static str),
}

/// Where one field's name and value lie in the buffer.
struct Field {
    name: HeaderName,
    value: (usize, usize),
}

/// What the header fields say about the message.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    chunked: bool,
    transfer_encoding: bool,
    close: bool,
    keep_alive_token: bool,
    expect_continue: bool,
    upgrade: bool,
    host: bool,
}

impl HeadError {
    pub(crate) fn status(self) -> http::StatusCode {
        match self {
            Self::TooLarge(_) => http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::Malformed(_) => http::StatusCode::BAD_REQUEST,
        }
    }
}

/// Parses a complete head off the front of `buf`; `Ok(None)` when more bytes are needed.
pub(crate) fn parse(buf: &mut BytesMut, max_head_bytes: usize) -> Result<Option<Head>, HeadError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let too_large = HeadError::TooLarge(max_head_bytes);
    let parsed = httparse::ParserConfig::default()
        .parse_request_with_uninit_headers(&mut req, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len > max_head_bytes => return Err(too_large),
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_head_bytes => return Err(too_large),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(httparse::Error::Version) => return Err(HeadError::Malformed("unsupported version")),
        Err(_) => return Err(HeadError::Malformed("invalid request line or header field")),
    };
    let base = buf.as_ptr() as usize;
    let offset = |s: &[u8]| s.as_ptr() as usize - base;
    let method = Method::from_bytes(req.method.unwrap_or_default().as_bytes())
        .map_err(|_| HeadError::Malformed("invalid method"))?;
    let path = req.path.unwrap_or_default().as_bytes();
    let path_at = (offset(path), offset(path) + path.len());
    let version = match req.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let mut framing = Framing::default();
    // Drained below, not consumed: moving an array of 32 fields into an iterator copies all
    // of it (1.5 KB) for every request.
    let mut fields: SmallVec<[Field; 32]> = SmallVec::new();
    fields.reserve(req.headers.len());
    for h in req.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| HeadError::Malformed("invalid header name"))?;
        framing.note(&name, h.value)?;
        let at = offset(h.value);
        fields.push(Field {
            name,
            value: (at, at + h.value.len()),
        });
    }
    let head = buf.split_to(len).freeze();
    let uri = Uri::from_maybe_shared(head.slice(path_at.0..path_at.1))
        .map_err(|_| HeadError::Malformed("invalid request target"))?;
    let mut headers = HeaderMap::with_capacity(fields.len());
    for f in fields.drain(..) {
        let value = HeaderValue::from_maybe_shared(head.slice(f.value.0..f.value.1))
            .map_err(|_| HeadError::Malformed("invalid header value"))?;
        headers.append(f.name, value);
    }
    framing.into_head(method, uri, version, headers, max_head_bytes)
}

impl Framing {
    fn note(&mut self, name: &HeaderName, value: &[u8]) -> Result<(), HeadError> {
        if *name == header::CONTENT_LENGTH {
            let n = parse_content_length(value)
                .ok_or(HeadError::Malformed("invalid content-length"))?;
            if self.content_length.is_some_and(|prev| prev != n) {
                return Err(HeadError::Malformed("conflicting content-length values"));
            }
            self.content_length = Some(n);
        } else if *name == header::TRANSFER_ENCODING {
            self.transfer_encoding = true;
            // Only a final `chunked` frames the body (RFC 9112 §6.3); this field's last coding
            // decides, as a later field line would be appended after it.
            self.chunked = last_token(value).is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if *name == header::CONNECTION {
            for t in tokens(value) {
                self.close |= t.eq_ignore_ascii_case(b"close");
                self.keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if *name == header::EXPECT {
            self.expect_continue = value.eq_ignore_ascii_case(b"100-continue");
        } else if *name == header::UPGRADE {
            self.upgrade = true;
        } else if *name == header::HOST {
            // RFC 9112 §3.2: the proxy routes on one `Host` and the upstream might pick
            // another, so a request with two is refused.
            if self.host {
                return Err(HeadError::Malformed("more than one host field"));
            }
            self.host = true;
        }
        Ok(())
    }

    fn into_head(
        self,
        method: Method,
        uri: Uri,
        version: Version,
        mut headers: HeaderMap,
        max_head_bytes: usize,
    ) -> Result<Option<Head>, HeadError> {
        let http11 = version == Version::HTTP_11;
        let mut keep_alive = if http11 {
            !self.close
        } else {
            self.keep_alive_token && !self.close
        };
        let body = if self.transfer_encoding {
            if !http11 {
                return Err(HeadError::Malformed(
                    "transfer-encoding in an HTTP/1.0 request",
                ));
            }
            if !self.chunked {
                return Err(HeadError::Malformed(
                    "transfer-encoding not ending in chunked",
                ));
            }
            // Both framings: the length is ignored (and removed), and the connection is not
            // reused, so no intermediary can disagree on where the next request starts.
            if self.content_length.is_some() {
                headers.remove(header::CONTENT_LENGTH);
                keep_alive = false;
            }
            Some(Decoder::chunked(max_head_bytes))
        } else {
            match self.content_length {
                None | Some(0) => None,
                Some(n) => Some(Decoder::Length(n)),
            }
        };
        let wants_upgrade = (self.upgrade && http11) || method == Method::CONNECT;
        Ok(Some(Head {
            method,
            uri,
            version,
            headers,
            body,
            keep_alive,
            expect_continue: self.expect_continue && http11,
            wants_upgrade,
        }))
    }
}

/// A `Content-Length` value: digits, or a list of identical ones (RFC 9110 §8.6).
pub(crate) fn parse_content_length(value: &[u8]) -> Option<u64> {
    let mut found = None;
    for part in value.split(|&b| b == b',') {
        let digits = part.trim_ascii();
        if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return None;
        }
        found = Some(n);
    }
    found
}

/// The comma-separated tokens of a list field, trimmed.
pub(crate) fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

fn last_token(value: &[u8]) -> Option<&[u8]> {
    tokens(value).last()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Option<Head>, HeadError> {
        let mut buf = BytesMut::from(s.as_bytes());
        parse(&mut buf, 1024)
    }

    #[test]
    fn parses_a_head_and_leaves_what_follows() {
        let mut buf = BytesMut::from(
            &b"POST /a?b=c HTTP/1.1\r\nHost: svc\r\nContent-Length: 3\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\nabcGET"[..],
        );
        let head = parse(&mut buf, 1024).unwrap().unwrap();
        assert_eq!(head.method, Method::POST);
        assert_eq!(head.uri, "/a?b=c");
        assert_eq!(head.version, Version::HTTP_11);
        assert_eq!(head.headers["host"], "svc");
        assert_eq!(head.headers.get_all("x-multi").iter().count(), 2);
        assert!(matches!(head.body, Some(Decoder::Length(3))));
        assert!(head.keep_alive && !head.expect_continue && !head.wants_upgrade);
        assert_eq!(&buf[..], b"abcGET");
    }

    #[test]
    fn decides_framing_and_keep_alive() {
        // (request, keep-alive, body framing, expect 100-continue, upgrade)
        let cases: &[(&str, bool, &str, bool, bool)] = &[
            ("GET / HTTP/1.1\r\n\r\n", true, "none", false, false),
            (
                "GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
                false,
                "none",
                false,
                false,
            ),
            ("GET / HTTP/1.0\r\n\r\n", false, "none", false, false),
            (
                "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
                true,
                "none",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                true,
                "none",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n",
                true,
                "length",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                true,
                "chunked",
                false,
                false,
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                false,
                "chunked",
                false,
                false,
            ),
            (
                "PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n",
                true,
                "length",
                true,
                false,
            ),
            (
                "GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
                true,
                "none",
                false,
                true,
            ),
            (
                "GET / HTTP/1.0\r\nUpgrade: websocket\r\n\r\n",
                false,
                "none",
                false,
                false,
            ),
            (
                "CONNECT svc:443 HTTP/1.1\r\n\r\n",
                true,
                "none",
                false,
                true,
            ),
        ];
        for (input, keep_alive, framing, expect, upgrade) in cases {
            let head = parse_str(input).unwrap().unwrap();
            let got = match head.body {
                None => "none",
                Some(Decoder::Length(_)) => "length",
                Some(Decoder::Chunked(_)) => "chunked",
            };
            assert_eq!(
                (
                    head.keep_alive,
                    got,
                    head.expect_continue,
                    head.wants_upgrade
                ),
                (*keep_alive, *framing, *expect, *upgrade),
                "{input:?}"
            );
            if input.contains("Transfer-Encoding") {
                assert!(!head.headers.contains_key("content-length"), "{input:?}");
            }
        }
    }

    #[test]
    fn refuses_malformed_and_oversized_heads() {
        let malformed = [
            "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/2.0\r\n\r\n",
            "G(T / HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nbad header\r\n\r\n",
            "GET /\u{7f} HTTP/1.1\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n",
            // obs-fold (RFC 9112 §5.2): a server may refuse it, and a proxy must not pass it.
            "GET / HTTP/1.1\r\nX-A: 1\r\n 2\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length : 1\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\r\n",
            "GET / HTTP/1.1\r\nContent-Length: 1, 2\r\n\r\n",
        ];
        for input in malformed {
            assert!(
                matches!(parse_str(input), Err(HeadError::Malformed(_))),
                "{input:?}: {:?}",
                parse_str(input)
            );
        }
        let long = format!("GET / HTTP/1.1\r\nx-big: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(parse_str(&long).unwrap_err(), HeadError::TooLarge(1024));
        // Still incomplete but already over the limit.
        let partial = format!("GET / HTTP/1.1\r\nx-big: {}", "a".repeat(2000));
        assert_eq!(parse_str(&partial).unwrap_err(), HeadError::TooLarge(1024));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("x-{i}: 1\r\n")).collect();
        let mut buf = BytesMut::from(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes());
        assert!(matches!(
            parse(&mut buf, 1 << 20),
            Err(HeadError::TooLarge(_))
        ));
        assert!(parse_str("GET / HTTP/1.1\r\nHost: a").unwrap().is_none());
    }

    #[test]
    fn content_length_values() {
        for (input, want) in [
            (&b"0"[..], Some(0)),
            (b"42", Some(42)),
            (b" 7 ", Some(7)),
            (b"3,3", Some(3)),
            (b"3,4", None),
            (b"", None),
            (b"+1", None),
            (b"1e3", None),
            (b"18446744073709551615", None),
        ] {
            assert_eq!(parse_content_length(input), want, "{input:?}");
        }
    }
}
