//! A lean pooled connection's stream with its circuit-breaker permit: the connection has no
//! task of its own, so the `max_connections` permit lives in the stream and goes when the
//! socket closes, wherever that happens (the pool, a response body, a failed exchange).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use rigging_proxy_http1::Io;
use rigging_proxy_resilience::Permit;
use rigging_proxy_tls::MeshStream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// An upstream stream counted in the cluster's `max_connections`.
#[derive(Debug)]
pub(crate) struct Counted {
    stream: MeshStream,
    /// Kept for its drop.
    _permit: Permit,
}

impl Counted {
    pub fn new(stream: MeshStream, permit: Permit) -> Self {
        Self {
            stream,
            _permit: permit,
        }
    }
}

impl Io for Counted {
    fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.stream.poll_read_ready(cx)
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
