//! The write side: what is queued for the socket (a staging buffer for heads and chunk framing,
//! then one body frame, zero-copy), written with vectored writes, and the body encoders.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http::{HeaderMap, HeaderName};
use tokio::io::AsyncWrite;

/// End of the last chunk and of a chunked body without trailers.
const CHUNK_END: &[u8] = b"\r\n";
const LAST_CHUNK_END: &[u8] = b"\r\n0\r\n\r\n";
const EMPTY_CHUNKED_END: &[u8] = b"0\r\n\r\n";
/// The largest body frame copied next to the bytes staged before it (see `WriteBuf::queue`):
/// copying a kilobyte costs less than a second buffer in the write.
const INLINE_FRAME_MAX: usize = 1024;

/// Bytes waiting for the socket, written in order: `staging`, then `data`, then `suffix`.
#[derive(Debug, Default)]
pub(crate) struct WriteBuf {
    staging: Vec<u8>,
    written: usize,
    data: Bytes,
    suffix: &'static [u8],
    /// Bytes went out since the last flush.
    unflushed: bool,
}

/// How a response body is framed on the wire.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Encoder {
    /// No body is sent (HEAD, 204, 304, a switch of protocols).
    Empty,
    Length(u64),
    /// Trailers are sent when the response's `Trailer` field named them (as hyper does).
    Chunked {
        trailers: Vec<HeaderName>,
        ended: bool,
    },
    /// Until the connection closes (an HTTP/1.0 client and a body of unknown length).
    Close,
}

/// The service's body does not match its own framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LengthError {
    #[error("response body longer than its content-length")]
    TooLong,
    #[error("response body ended {0} bytes short of its content-length")]
    TooShort(u64),
}

impl WriteBuf {
    pub(crate) fn is_empty(&self) -> bool {
        self.written == self.staging.len() && self.data.is_empty() && self.suffix.is_empty()
    }

    /// Where more bytes may be staged: only while no body frame is queued, so the order holds.
    pub(crate) fn staging(&mut self) -> Option<&mut Vec<u8>> {
        if !(self.data.is_empty() && self.suffix.is_empty()) {
            return None;
        }
        if self.written == self.staging.len() {
            self.staging.clear();
            self.written = 0;
        }
        Some(&mut self.staging)
    }

    /// Nothing was written yet.
    pub(crate) fn untouched(&self) -> bool {
        self.written == 0 && !self.unflushed
    }

    pub(crate) fn can_stage(&self) -> bool {
        self.data.is_empty() && self.suffix.is_empty()
    }

    /// Queues a body frame and what follows it. A small frame behind staged bytes (a head, a
    /// chunk line) is copied next to them, so the whole goes out as one buffer (`send`, not
    /// `sendmsg`, on a plain socket); a larger one is queued as is, without a copy.
    fn queue(&mut self, data: Bytes, suffix: &'static [u8]) {
        let pending = self.staging.len() - self.written;
        if pending > 0 && data.len() <= INLINE_FRAME_MAX && self.can_stage() {
            self.staging.extend_from_slice(&data);
            self.staging.extend_from_slice(suffix);
        } else {
            self.data = data;
            self.suffix = suffix;
        }
    }

    /// The queued buffers that are not empty, in order.
    fn slices(&self) -> ([IoSlice<'_>; 3], usize) {
        let mut out = [IoSlice::new(&[]); 3];
        let mut n = 0;
        for s in [&self.staging[self.written..], &self.data[..], self.suffix] {
            if !s.is_empty() {
                out[n] = IoSlice::new(s);
                n += 1;
            }
        }
        (out, n)
    }

    /// Writes everything queued, with one vectored write per readiness when the stream takes
    /// them.
    pub(crate) fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while !self.is_empty() {
            let n = if io.is_write_vectored() {
                let (slices, n) = self.slices();
                ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n]))?
            } else {
                let next: &[u8] = if self.written < self.staging.len() {
                    &self.staging[self.written..]
                } else if !self.data.is_empty() {
                    &self.data
                } else {
                    self.suffix
                };
                ready!(Pin::new(&mut *io).poll_write(cx, next))?
            };
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.unflushed = true;
            self.advance(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Flushes the stream when bytes went out since the last flush (TLS buffers records).
    pub(crate) fn poll_flush<W: AsyncWrite + Unpin>(
        &mut self,
        io: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.unflushed {
            ready!(Pin::new(io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    fn advance(&mut self, mut n: usize) {
        let staged = self.staging.len() - self.written;
        let take = n.min(staged);
        self.written += take;
        n -= take;
        let take = n.min(self.data.len());
        self.data.advance(take);
        n -= take;
        self.suffix = &self.suffix[n.min(self.suffix.len())..];
    }
}

impl Encoder {
    /// Queues one data frame; `last` says the body has nothing after it, so the end of a
    /// chunked body goes out in the same write.
    pub(crate) fn data(
        &mut self,
        mut data: Bytes,
        last: bool,
        w: &mut WriteBuf,
    ) -> Result<(), LengthError> {
        if data.is_empty() {
            if last {
                return self.finish(w);
            }
            return Ok(());
        }
        let mut suffix: &'static [u8] = &[];
        match self {
            Self::Empty => return Ok(()),
            Self::Length(remaining) => {
                if data.len() as u64 > *remaining {
                    data.truncate(*remaining as usize);
                    w.data = data;
                    *remaining = 0;
                    return Err(LengthError::TooLong);
                }
                *remaining -= data.len() as u64;
            }
            Self::Chunked { ended, .. } => {
                let Some(staging) = w.staging() else {
                    debug_assert!(false, "a frame was queued before the last one went out");
                    return Ok(());
                };
                let mut line = [0u8; 18];
                staging.extend_from_slice(hex_line(data.len(), &mut line));
                suffix = if last {
                    *ended = true;
                    LAST_CHUNK_END
                } else {
                    CHUNK_END
                };
            }
            Self::Close => {}
        }
        w.queue(data, suffix);
        if last {
            return self.finish(w);
        }
        Ok(())
    }

    /// Queues the trailers of a chunked body (those its `Trailer` field named), ending it.
    pub(crate) fn trailers(&mut self, trailers: &HeaderMap, w: &mut WriteBuf) {
        let Self::Chunked {
            trailers: allowed,
            ended,
        } = self
        else {
            return;
        };
        if *ended {
            return;
        }
        let Some(staging) = w.staging() else {
            return;
        };
        *ended = true;
        staging.extend_from_slice(b"0\r\n");
        for (name, value) in trailers {
            if allowed.contains(name) {
                staging.extend_from_slice(name.as_str().as_bytes());
                staging.extend_from_slice(b": ");
                staging.extend_from_slice(value.as_bytes());
                staging.extend_from_slice(b"\r\n");
            }
        }
        staging.extend_from_slice(b"\r\n");
    }

    /// The body ended: queues the end of a chunked body; a short `Content-Length` body is an
    /// error (the connection must close, so the client sees the truncation).
    pub(crate) fn finish(&mut self, w: &mut WriteBuf) -> Result<(), LengthError> {
        match self {
            Self::Length(remaining) if *remaining > 0 => Err(LengthError::TooShort(*remaining)),
            Self::Chunked { ended, .. } if !*ended => {
                *ended = true;
                match w.staging() {
                    Some(staging) => staging.extend_from_slice(EMPTY_CHUNKED_END),
                    None => w.suffix = LAST_CHUNK_END,
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// `{len:x}\r\n` into `buf`, without formatting machinery.
fn hex_line(len: usize, buf: &mut [u8; 18]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut i = 16;
    let mut n = len;
    loop {
        i -= 1;
        buf[i] = HEX[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    buf[16] = b'\r';
    buf[17] = b'\n';
    &buf[i..]
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    /// Writes everything queued into a Vec (which takes every write whole).
    fn drain(w: &mut WriteBuf, out: &mut Vec<u8>) {
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(w.poll_write(out, &mut cx).is_ready());
        assert!(w.is_empty());
    }

    #[test]
    fn chunked_frames_trailers_and_end() {
        let mut w = WriteBuf::default();
        let mut out = Vec::new();
        let mut enc = Encoder::Chunked {
            trailers: vec![HeaderName::from_static("checksum")],
            ended: false,
        };
        w.staging().unwrap().extend_from_slice(b"HEAD\r\n\r\n");
        enc.data(Bytes::from_static(b"hello"), false, &mut w)
            .unwrap();
        // A small frame behind the head is copied next to it: one buffer to write.
        assert!(w.can_stage());
        assert_eq!(w.slices().1, 1);
        drain(&mut w, &mut out);
        enc.data(Bytes::from(vec![b'x'; 26]), false, &mut w)
            .unwrap();
        drain(&mut w, &mut out);
        let mut t = HeaderMap::new();
        t.insert("checksum", HeaderValue::from_static("abc"));
        t.insert("x-secret", HeaderValue::from_static("dropped"));
        enc.trailers(&t, &mut w);
        enc.finish(&mut w).unwrap();
        drain(&mut w, &mut out);
        let want = format!(
            "HEAD\r\n\r\n5\r\nhello\r\n1a\r\n{}\r\n0\r\nchecksum: abc\r\n\r\n",
            "x".repeat(26)
        );
        assert_eq!(String::from_utf8(out).unwrap(), want);

        let (mut w, mut out) = (WriteBuf::default(), Vec::new());
        let mut enc = Encoder::Chunked {
            trailers: Vec::new(),
            ended: false,
        };
        enc.data(Bytes::from_static(b"end"), true, &mut w).unwrap();
        enc.finish(&mut w).unwrap();
        drain(&mut w, &mut out);
        assert_eq!(out, b"3\r\nend\r\n0\r\n\r\n");
        let (mut w, mut out) = (WriteBuf::default(), Vec::new());
        let mut enc = Encoder::Chunked {
            trailers: Vec::new(),
            ended: false,
        };
        enc.finish(&mut w).unwrap();
        drain(&mut w, &mut out);
        assert_eq!(out, b"0\r\n\r\n");
    }

    #[test]
    fn content_length_is_enforced() {
        let mut w = WriteBuf::default();
        let mut enc = Encoder::Length(4);
        enc.data(Bytes::from_static(b"ab"), false, &mut w).unwrap();
        w.data = Bytes::new();
        assert_eq!(enc.finish(&mut w), Err(LengthError::TooShort(2)));
        assert_eq!(
            enc.data(Bytes::from_static(b"cde"), false, &mut w),
            Err(LengthError::TooLong)
        );
        assert_eq!(&w.data[..], b"cd", "the body is cut at its length");
    }

    #[test]
    fn small_frames_join_the_head_and_large_ones_are_not_copied() {
        let mut w = WriteBuf::default();
        w.staging().unwrap().extend_from_slice(b"HEAD\r\n\r\n");
        let mut enc = Encoder::Length(6);
        enc.data(Bytes::from_static(b"small!"), true, &mut w)
            .unwrap();
        assert_eq!((w.slices().1, w.data.len()), (1, 0));

        let large = Bytes::from(vec![b'x'; INLINE_FRAME_MAX + 1]);
        let mut w = WriteBuf::default();
        w.staging().unwrap().extend_from_slice(b"HEAD\r\n\r\n");
        let mut enc = Encoder::Length(large.len() as u64);
        enc.data(large.clone(), true, &mut w).unwrap();
        assert_eq!(w.slices().1, 2);
        assert_eq!(w.data.as_ptr(), large.as_ptr(), "queued without a copy");
        let mut out = Vec::new();
        drain(&mut w, &mut out);
        assert_eq!(out.len(), b"HEAD\r\n\r\n".len() + large.len());

        // Nothing staged before it: the frame is queued as is.
        let mut w = WriteBuf::default();
        let mut enc = Encoder::Close;
        enc.data(Bytes::from_static(b"tail"), false, &mut w)
            .unwrap();
        assert_eq!((w.slices().1, &w.data[..]), (1, &b"tail"[..]));
    }

    #[test]
    fn hex_lines() {
        let mut buf = [0u8; 18];
        assert_eq!(hex_line(0, &mut buf), b"0\r\n");
        assert_eq!(hex_line(255, &mut buf), b"ff\r\n");
        assert_eq!(hex_line(0x1234abcd, &mut buf), b"1234abcd\r\n");
    }

    /// A stream that takes at most 3 bytes per write, without vectored writes.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            let n = buf.len().min(3);
            self.get_mut().0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn partial_writes_keep_the_order() {
        let mut w = WriteBuf::default();
        w.staging().unwrap().extend_from_slice(b"head;");
        let mut enc = Encoder::Chunked {
            trailers: Vec::new(),
            ended: false,
        };
        enc.data(Bytes::from_static(b"body"), true, &mut w).unwrap();
        let mut io = Trickle(Vec::new());
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(w.poll_write(&mut io, &mut cx).is_ready());
        assert_eq!(io.0, b"head;4\r\nbody\r\n0\r\n\r\n");
    }
}
