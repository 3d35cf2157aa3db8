//! The client's heads: the request head written (its framing decided from the body), and the
//! response head parsed out of the read buffer, its body framing decided as RFC 9112 §6.3 says.

use std::mem::MaybeUninit;

use bytes::BytesMut;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Version};
use smallvec::SmallVec;

use crate::MAX_HEADERS;
use crate::decode::Decoder;
use crate::head::{parse_content_length, tokens};
use crate::write::Encoder;

/// How the response body is framed.
#[derive(Debug)]
pub(crate) enum ResponseFraming {
    Empty,
    Decoded(Decoder),
    /// Until the upstream closes the connection.
    Close,
}

/// A parsed response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub framing: ResponseFraming,
    /// The upstream lets the connection carry another request.
    pub keep_alive: bool,
}

/// Why a response head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResponseHeadError {
    #[error("response head larger than {0} bytes or with more than {MAX_HEADERS} fields")]
    TooLarge(usize),
    #[error("malformed response head: {0}")]
    Malformed(&'static str),
}

/// Methods whose requests carry a body by convention: an empty one is said with
/// `content-length: 0` (as hyper's client does), so the upstream does not wait for one.
fn expects_body(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET
            | Method::HEAD
            | Method::DELETE
            | Method::OPTIONS
            | Method::CONNECT
            | Method::TRACE
    )
}

/// Writes the head of a request whose body is `body` into `dst` (origin form, HTTP/1.1).
pub(crate) fn encode_request<B: http_body::Body>(
    req: &http::Request<B>,
    dst: &mut Vec<u8>,
) -> Encoder {
    let body = req.body();
    dst.reserve(64 + req.headers().len() * 32);
    dst.extend_from_slice(req.method().as_str().as_bytes());
    dst.push(b' ');
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    dst.extend_from_slice(if target.is_empty() {
        b"/"
    } else {
        target.as_bytes()
    });
    dst.extend_from_slice(b" HTTP/1.1\r\n");
    let declared = req
        .headers()
        .get_all(header::CONTENT_LENGTH)
        .iter()
        .find_map(|v| parse_content_length(v.as_bytes()));
    // The framing fields are this hop's: written from what the body is, never copied.
    let mut encoder = if body.is_end_stream() {
        if declared.is_some() || expects_body(req.method()) {
            dst.extend_from_slice(b"content-length: 0\r\n");
        }
        Encoder::Empty
    } else if let Some(n) = declared.or(body.size_hint().exact()) {
        dst.extend_from_slice(b"content-length: ");
        dst.extend_from_slice(n.to_string().as_bytes());
        dst.extend_from_slice(b"\r\n");
        Encoder::Length(n)
    } else {
        dst.extend_from_slice(b"transfer-encoding: chunked\r\n");
        Encoder::Chunked {
            trailers: Vec::new(),
            ended: false,
        }
    };
    for (name, value) in req.headers() {
        match *name {
            header::TRANSFER_ENCODING | header::CONTENT_LENGTH => continue,
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
    dst.extend_from_slice(b"\r\n");
    encoder
}

/// Parses a complete response head off the front of `buf`; `Ok(None)` when more bytes are
/// needed. `head_request` says the request was HEAD (its response has no body).
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    max_head_bytes: usize,
    head_request: bool,
) -> Result<Option<ResponseHead>, ResponseHeadError> {
    let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let too_large = ResponseHeadError::TooLarge(max_head_bytes);
    let parsed = httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(len)) if len > max_head_bytes => return Err(too_large),
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > max_head_bytes => return Err(too_large),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(_) => {
            return Err(ResponseHeadError::Malformed(
                "invalid status line or header field",
            ));
        }
    };
    let status = StatusCode::from_u16(resp.code.unwrap_or_default())
        .map_err(|_| ResponseHeadError::Malformed("invalid status code"))?;
    let version = match resp.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let base = buf.as_ptr() as usize;
    // Drained below, not consumed: moving an array of 32 fields into an iterator copies all
    // of it (1.5 KB) for every response.
    let mut fields: SmallVec<[(HeaderName, usize, usize); 32]> = SmallVec::new();
    fields.reserve(resp.headers.len());
    let (mut length, mut chunked, mut te, mut close, mut keep_alive_token) =
        (None, false, false, false, false);
    for h in resp.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| ResponseHeadError::Malformed("invalid header name"))?;
        if name == header::CONTENT_LENGTH {
            let n = parse_content_length(h.value)
                .ok_or(ResponseHeadError::Malformed("invalid content-length"))?;
            if length.is_some_and(|prev| prev != n) {
                return Err(ResponseHeadError::Malformed(
                    "conflicting content-length values",
                ));
            }
            length = Some(n);
        } else if name == header::TRANSFER_ENCODING {
            te = true;
            chunked = tokens(h.value)
                .last()
                .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"));
        } else if name == header::CONNECTION {
            for t in tokens(h.value) {
                close |= t.eq_ignore_ascii_case(b"close");
                keep_alive_token |= t.eq_ignore_ascii_case(b"keep-alive");
            }
        }
        let at = h.value.as_ptr() as usize - base;
        fields.push((name, at, at + h.value.len()));
    }
    let head = buf.split_to(len).freeze();
    let mut headers = HeaderMap::with_capacity(fields.len());
    for (name, from, to) in fields.drain(..) {
        let value = HeaderValue::from_maybe_shared(head.slice(from..to))
            .map_err(|_| ResponseHeadError::Malformed("invalid header value"))?;
        headers.append(name, value);
    }
    let mut keep_alive = match version {
        Version::HTTP_11 => !close,
        _ => keep_alive_token && !close,
    };
    let no_body = head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED;
    let framing = if no_body {
        ResponseFraming::Empty
    } else if te && version == Version::HTTP_11 {
        if length.is_some() {
            // Both framings: trust the coding, and do not reuse a connection whose peer sent
            // something an intermediary could read two ways.
            headers.remove(header::CONTENT_LENGTH);
            keep_alive = false;
        }
        if chunked {
            ResponseFraming::Decoded(Decoder::chunked(max_head_bytes))
        } else {
            ResponseFraming::Close
        }
    } else {
        match length {
            Some(0) => ResponseFraming::Empty,
            Some(n) => ResponseFraming::Decoded(Decoder::Length(n)),
            None => ResponseFraming::Close,
        }
    };
    if matches!(framing, ResponseFraming::Close) {
        keep_alive = false;
    }
    Ok(Some(ResponseHead {
        status,
        version,
        headers,
        framing,
        keep_alive,
    }))
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::{Empty, Full};

    use super::*;

    fn request<B: http_body::Body>(req: http::Request<B>) -> (String, Encoder) {
        let mut out = Vec::new();
        let enc = encode_request(&req, &mut out);
        (String::from_utf8(out).unwrap(), enc)
    }

    #[test]
    fn writes_request_heads_with_their_framing() {
        let get = http::Request::get("/a?b")
            .header("host", "svc")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let (text, enc) = request(get);
        assert_eq!(text, "GET /a?b HTTP/1.1\r\nhost: svc\r\n\r\n");
        assert_eq!(enc, Encoder::Empty);

        let post = http::Request::post("/")
            .body(Full::new(Bytes::from_static(b"abc")))
            .unwrap();
        let (text, enc) = request(post);
        assert_eq!(text, "POST / HTTP/1.1\r\ncontent-length: 3\r\n\r\n");
        assert_eq!(enc, Encoder::Length(3));

        let empty_post = http::Request::post("/")
            .body(Empty::<Bytes>::new())
            .unwrap();
        let (text, _) = request(empty_post);
        assert!(text.contains("content-length: 0\r\n"), "{text}");

        let streamed = http::Request::put("/")
            .header("content-length", "10")
            .header("transfer-encoding", "chunked")
            .body(http_body_util::StreamBody::new(futures::stream::empty::<
                Result<http_body::Frame<Bytes>, std::convert::Infallible>,
            >()))
            .unwrap();
        let (text, enc) = request(streamed);
        assert_eq!(text, "PUT / HTTP/1.1\r\ncontent-length: 10\r\n\r\n");
        assert_eq!(enc, Encoder::Length(10));

        let chunked = http::Request::post("/")
            .header("trailer", "checksum")
            .body(http_body_util::StreamBody::new(futures::stream::empty::<
                Result<http_body::Frame<Bytes>, std::convert::Infallible>,
            >()))
            .unwrap();
        let (text, enc) = request(chunked);
        assert!(text.contains("transfer-encoding: chunked\r\n"), "{text}");
        assert_eq!(
            enc,
            Encoder::Chunked {
                trailers: vec![HeaderName::from_static("checksum")],
                ended: false
            }
        );
    }

    fn parse(s: &str, head: bool) -> Result<Option<ResponseHead>, ResponseHeadError> {
        let mut buf = BytesMut::from(s.as_bytes());
        parse_response(&mut buf, 1024, head)
    }

    #[test]
    fn parses_response_heads_and_their_framing() {
        // (response, HEAD request, framing, keep-alive)
        let cases: &[(&str, bool, &str, bool)] = &[
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                false,
                "length",
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
                false,
                "empty",
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                false,
                "chunked",
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n",
                false,
                "chunked",
                false,
            ),
            (
                "HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n",
                false,
                "close",
                false,
            ),
            ("HTTP/1.1 200 OK\r\n\r\n", false, "close", false),
            (
                "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 1\r\n\r\n",
                false,
                "length",
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n",
                false,
                "length",
                false,
            ),
            (
                "HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 1\r\n\r\n",
                false,
                "length",
                true,
            ),
            (
                "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n",
                true,
                "empty",
                true,
            ),
            ("HTTP/1.1 204 No Content\r\n\r\n", false, "empty", true),
            (
                "HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n",
                false,
                "empty",
                true,
            ),
            ("HTTP/1.1 100 Continue\r\n\r\n", false, "empty", true),
        ];
        for (input, head, framing, keep_alive) in cases {
            let parsed = parse(input, *head).unwrap().unwrap();
            let got = match parsed.framing {
                ResponseFraming::Empty => "empty",
                ResponseFraming::Close => "close",
                ResponseFraming::Decoded(Decoder::Length(_)) => "length",
                ResponseFraming::Decoded(Decoder::Chunked(_)) => "chunked",
            };
            assert_eq!(
                (got, parsed.keep_alive),
                (*framing, *keep_alive),
                "{input:?}"
            );
        }
        let head = parse(
            "HTTP/1.1 404 Not Found\r\nx-a: 1\r\nX-A: 2\r\n\r\nbody",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.status, StatusCode::NOT_FOUND);
        assert_eq!(head.headers.get_all("x-a").iter().count(), 2);
        assert!(parse("HTTP/1.1 200 OK\r\nx: y", false).unwrap().is_none());
    }

    #[test]
    fn refuses_malformed_response_heads() {
        for bad in [
            "HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
            "HTTP/1.1 2000 OK\r\n\r\n",
            "SSH-2.0-OpenSSH\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad, false), Err(ResponseHeadError::Malformed(_))),
                "{bad:?}"
            );
        }
        let big = format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(
            parse(&big, false).unwrap_err(),
            ResponseHeadError::TooLarge(1024)
        );
    }
}
