//! Request body framing: a `Content-Length` count, or the chunked coding (RFC 9112 §7.1)
//! decoded incrementally out of the connection's read buffer.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::MAX_HEADERS;

/// The longest chunk-size line beyond its digits (whitespace and extensions, which are
/// ignored); longer is malformed. Extensions are rare, and a bound keeps a hostile client from
/// making the proxy scan forever.
const MAX_CHUNK_LINE_EXTRA: usize = 4096;
/// Hex digits of a chunk size: 16 fill a u64.
const MAX_CHUNK_SIZE_DIGITS: u8 = 16;

/// How the rest of a request body is framed.
#[derive(Debug)]
pub(crate) enum Decoder {
    Length(u64),
    Chunked(Chunked),
}

/// What the decoder took out of the buffer.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    Data(Bytes),
    Trailers(HeaderMap),
    /// The body ended; the buffer holds what follows it.
    End,
    /// The buffer holds no complete piece: read more.
    NeedMore,
}

/// Why a chunked body is malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct DecodeError(pub &'static str);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Chunked {
    state: ChunkState,
    max_trailer_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    Size {
        size: u64,
        digits: u8,
    },
    /// Whitespace after the size, before `;` or CR; `extra` counts the line's bytes so far.
    SizeLws {
        size: u64,
        extra: usize,
    },
    /// A chunk extension (ignored), up to CR.
    Extension {
        size: u64,
        extra: usize,
    },
    SizeLf {
        size: u64,
    },
    Data {
        remaining: u64,
    },
    DataCr,
    DataLf,
    Trailers,
    End,
}

impl Decoder {
    pub(crate) fn chunked(max_trailer_bytes: usize) -> Self {
        Self::Chunked(Chunked {
            state: ChunkState::Size { size: 0, digits: 0 },
            max_trailer_bytes,
        })
    }

    /// Takes the next piece of the body out of `buf`.
    pub(crate) fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        match self {
            Self::Length(0) => Ok(Decoded::End),
            Self::Length(remaining) => {
                if buf.is_empty() {
                    return Ok(Decoded::NeedMore);
                }
                let n = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
                *remaining -= n as u64;
                Ok(Decoded::Data(buf.split_to(n).freeze()))
            }
            Self::Chunked(c) => c.decode(buf),
        }
    }
}

impl Chunked {
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        use ChunkState::*;
        loop {
            match self.state {
                Data { remaining } => {
                    if buf.is_empty() {
                        return Ok(Decoded::NeedMore);
                    }
                    let n = usize::try_from(remaining).map_or(buf.len(), |r| r.min(buf.len()));
                    let left = remaining - n as u64;
                    self.state = if left == 0 {
                        DataCr
                    } else {
                        Data { remaining: left }
                    };
                    return Ok(Decoded::Data(buf.split_to(n).freeze()));
                }
                Trailers => return self.trailers(buf),
                End => return Ok(Decoded::End),
                framing => {
                    let Some(&b) = buf.first() else {
                        return Ok(Decoded::NeedMore);
                    };
                    buf.advance(1);
                    self.state = framing_step(framing, b)?;
                }
            }
        }
    }

    /// The trailer section after the last chunk, up to its empty line.
    fn trailers(&mut self, buf: &mut BytesMut) -> Result<Decoded, DecodeError> {
        if buf.starts_with(b"\r\n") {
            buf.advance(2);
            self.state = ChunkState::End;
            return Ok(Decoded::End);
        }
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match httparse::parse_headers(buf, &mut slots) {
            Ok(httparse::Status::Complete((n, fields))) => {
                let mut trailers = HeaderMap::with_capacity(fields.len());
                for f in fields.iter() {
                    let name = HeaderName::from_bytes(f.name.as_bytes())
                        .map_err(|_| DecodeError("invalid trailer name"))?;
                    let value = HeaderValue::from_bytes(f.value)
                        .map_err(|_| DecodeError("invalid trailer value"))?;
                    trailers.append(name, value);
                }
                buf.advance(n);
                self.state = ChunkState::End;
                Ok(Decoded::Trailers(trailers))
            }
            Ok(httparse::Status::Partial) if buf.len() > self.max_trailer_bytes => {
                Err(DecodeError("trailer section too large"))
            }
            Ok(httparse::Status::Partial) => Ok(Decoded::NeedMore),
            Err(httparse::Error::TooManyHeaders) => Err(DecodeError("too many trailer fields")),
            Err(_) => Err(DecodeError("malformed trailer section")),
        }
    }
}

/// One byte of the framing around chunk data: the size line and the CRLF after the data.
fn framing_step(state: ChunkState, b: u8) -> Result<ChunkState, DecodeError> {
    use ChunkState::*;
    let more = |extra: usize| {
        if extra >= MAX_CHUNK_LINE_EXTRA {
            Err(DecodeError("chunk extension too long"))
        } else {
            Ok(extra + 1)
        }
    };
    match (state, b) {
        (Size { size, digits }, _) if b.is_ascii_hexdigit() => {
            if digits == MAX_CHUNK_SIZE_DIGITS {
                return Err(DecodeError("chunk size too large"));
            }
            let d = u64::from((b as char).to_digit(16).unwrap_or(0));
            Ok(Size {
                size: size << 4 | d,
                digits: digits + 1,
            })
        }
        (Size { digits: 0, .. }, _) => Err(DecodeError("chunk size is not hex")),
        (Size { size, .. } | SizeLws { size, .. } | Extension { size, .. }, b'\r') => {
            Ok(SizeLf { size })
        }
        (Size { size, .. }, b' ' | b'\t') => Ok(SizeLws {
            size,
            extra: more(0)?,
        }),
        (Size { size, .. }, b';') => Ok(Extension {
            size,
            extra: more(0)?,
        }),
        (SizeLws { size, extra }, b' ' | b'\t') => Ok(SizeLws {
            size,
            extra: more(extra)?,
        }),
        (SizeLws { size, extra }, b';') | (Extension { size, extra }, _) if b != b'\n' => {
            Ok(Extension {
                size,
                extra: more(extra)?,
            })
        }
        (Extension { .. }, _) => Err(DecodeError("chunk extension holds a bare LF")),
        (Size { .. } | SizeLws { .. }, _) => Err(DecodeError("chunk size is not hex")),
        (SizeLf { size: 0 }, b'\n') => Ok(Trailers),
        (SizeLf { size }, b'\n') => Ok(Data { remaining: size }),
        (SizeLf { .. }, _) => Err(DecodeError("chunk size line without LF")),
        (DataCr, b'\r') => Ok(DataLf),
        (DataCr, _) => Err(DecodeError("chunk data longer than its size")),
        (DataLf, b'\n') => Ok(Size { size: 0, digits: 0 }),
        (DataLf, _) => Err(DecodeError("chunk data without CRLF")),
        (Data { .. } | Trailers | End, _) => Err(DecodeError("not a framing state")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a body decoded to: its data, its trailers, and what followed it.
    type Run = (Vec<u8>, Option<HeaderMap>, Vec<u8>);

    /// A chunked body, the data it holds, its trailers, and what follows it.
    type Case<'a> = (&'a [u8], &'a [u8], &'a [(&'a str, &'a str)], &'a [u8]);

    /// Feeds `input` in pieces of `step` bytes and collects what comes out.
    fn run(input: &[u8], step: usize) -> Result<Run, DecodeError> {
        let mut d = Decoder::chunked(1024);
        let mut buf = BytesMut::new();
        let (mut data, mut trailers) = (Vec::new(), None);
        let mut fed = 0;
        loop {
            match d.decode(&mut buf)? {
                Decoded::Data(b) => data.extend_from_slice(&b),
                Decoded::Trailers(t) => trailers = Some(t),
                Decoded::End => {
                    let mut rest = buf.to_vec();
                    rest.extend_from_slice(&input[fed..]);
                    return Ok((data, trailers, rest));
                }
                Decoded::NeedMore => {
                    if fed == input.len() {
                        return Err(DecodeError("incomplete"));
                    }
                    let end = (fed + step).min(input.len());
                    buf.extend_from_slice(&input[fed..end]);
                    fed = end;
                }
            }
        }
    }

    #[test]
    fn decodes_chunked_bodies_in_any_split() {
        let cases: &[Case<'_>] = &[
            (b"5\r\nhello\r\n0\r\n\r\n", b"hello", &[], b""),
            (
                b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET /",
                b"abcde",
                &[],
                b"GET /",
            ),
            (b"A\r\n0123456789\r\n0\r\n\r\n", b"0123456789", &[], b""),
            (
                b"a ; name=value\r\n0123456789\r\n0;x\r\n\r\n",
                b"0123456789",
                &[],
                b"",
            ),
            (
                b"2\r\nok\r\n0\r\nchecksum: abc\r\nx-more: 1\r\n\r\nnext",
                b"ok",
                &[("checksum", "abc"), ("x-more", "1")],
                b"next",
            ),
            (b"0\r\n\r\n", b"", &[], b""),
        ];
        for (input, want, trailers, rest) in cases {
            for step in [1, 2, 7, input.len()] {
                let (data, got_trailers, left) = run(input, step).unwrap();
                assert_eq!(
                    data,
                    *want,
                    "{:?} by {step}",
                    String::from_utf8_lossy(input)
                );
                assert_eq!(left, *rest);
                let got: Vec<(String, String)> = got_trailers
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                    .collect();
                let want_t: Vec<(String, String)> = trailers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                assert_eq!(got, want_t);
            }
        }
    }

    #[test]
    fn rejects_malformed_chunked_bodies() {
        let cases: &[&[u8]] = &[
            b"x\r\n",
            b"\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\rX",
            b"11111111111111111\r\n",
            b"-1\r\n",
            b" 5\r\n",
            b"0\r\nbad header\r\n\r\n",
        ];
        for input in cases {
            assert!(
                run(input, input.len()).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(input)
            );
        }
        let long_ext = [b"1;".as_slice(), &[b'x'; MAX_CHUNK_LINE_EXTRA + 1]].concat();
        assert!(run(&long_ext, long_ext.len()).is_err());
        let big_trailer = [b"0\r\nx: ".as_slice(), &[b'y'; 2000]].concat();
        assert_eq!(
            run(&big_trailer, big_trailer.len()).unwrap_err(),
            DecodeError("trailer section too large")
        );
    }

    #[test]
    fn counts_a_content_length() {
        let mut d = Decoder::Length(4);
        let mut buf = BytesMut::from(&b"abcdefg"[..]);
        assert_eq!(
            d.decode(&mut buf).unwrap(),
            Decoded::Data(Bytes::from_static(b"abcd"))
        );
        assert_eq!(d.decode(&mut buf).unwrap(), Decoded::End);
        assert_eq!(&buf[..], b"efg");
        let mut d = Decoder::Length(4);
        let mut empty = BytesMut::new();
        assert_eq!(d.decode(&mut empty).unwrap(), Decoded::NeedMore);
    }
}
