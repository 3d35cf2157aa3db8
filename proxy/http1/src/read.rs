//! The read buffer: taken when bytes arrive, given back when the connection goes idle.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncRead;

/// The first buffer of a request, as nginx's `client_header_buffer_size`: most request heads
/// fit, a larger one grows the buffer, and a burst of requests on many connections does not
/// add up to much (an allocation this small is also the allocator's fastest kind).
const INITIAL_READ: usize = 1024;
/// The largest read a body grows to when every read fills the buffer: bulk uploads move in
/// big pieces, small requests never get there.
const MAX_READ: usize = 64 * 1024;
/// Below this much free space, the next read gets a fresh (or reclaimed) buffer instead of a
/// sliver.
const MIN_READ_SPACE: usize = 512;

/// Bytes read from the connection and not consumed yet; no allocation while idle.
#[derive(Debug)]
pub(crate) struct ReadBuffer {
    buf: Option<BytesMut>,
    /// The size of the next allocation: doubles while reads fill the buffer.
    next: usize,
}

impl Default for ReadBuffer {
    fn default() -> Self {
        Self {
            buf: None,
            next: INITIAL_READ,
        }
    }
}

impl ReadBuffer {
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.as_ref().is_none_or(|b| b.is_empty())
    }

    /// The buffered bytes, when there are any.
    pub(crate) fn filled(&mut self) -> Option<&mut BytesMut> {
        self.buf.as_mut().filter(|b| !b.is_empty())
    }

    /// The buffer, allocated empty if needed; for decoders, which only take from it.
    pub(crate) fn get_mut(&mut self) -> &mut BytesMut {
        self.buf.get_or_insert_with(BytesMut::new)
    }

    /// Reads once into the buffer; `Ok(0)` at end of stream. When the read would block and
    /// nothing is buffered, the buffer is given back.
    pub(crate) fn poll_fill<R: AsyncRead + Unpin>(
        &mut self,
        io: &mut R,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        let next = self.next;
        let buf = self
            .buf
            .get_or_insert_with(|| BytesMut::with_capacity(next));
        if buf.capacity() - buf.len() < MIN_READ_SPACE {
            buf.reserve(next);
        }
        let space = buf.capacity() - buf.len();
        match tokio_util::io::poll_read_buf(Pin::new(io), cx, buf) {
            Poll::Pending => {
                self.release_if_empty();
                Poll::Pending
            }
            Poll::Ready(Ok(n)) => {
                if n == space {
                    self.next = (self.next * 2).min(MAX_READ);
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        }
    }

    /// Drops the buffer when it holds nothing, so an idle connection costs no buffer.
    pub(crate) fn release_if_empty(&mut self) {
        if self.is_empty() {
            self.buf = None;
            self.next = INITIAL_READ;
        }
    }

    /// Everything buffered, leaving nothing.
    pub(crate) fn take(&mut self) -> Bytes {
        self.next = INITIAL_READ;
        self.buf.take().map(BytesMut::freeze).unwrap_or_default()
    }

    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.buf.is_some()
    }
}
