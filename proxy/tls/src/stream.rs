//! [`MeshStream`]: a TCP connection, plain or inside TLS, in either direction.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use rigging_mesh_spiffe::{SpiffeId, peer_spiffe_id};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::{client, server};

use crate::send::poll_send;

/// One connection of the proxy, whatever secures it. The TLS variants are boxed: their state
/// is large and plain connections should not pay for it.
#[derive(Debug)]
pub enum MeshStream {
    Plain(TcpStream),
    /// Outbound mTLS, which this proxy originated.
    Client(Box<client::TlsStream<TcpStream>>),
    /// Inbound mTLS, which this proxy terminated.
    Server(Box<server::TlsStream<TcpStream>>),
}

impl MeshStream {
    /// The verified SPIFFE ID of the other side, on a TLS connection.
    pub fn peer_id(&self) -> Option<SpiffeId> {
        match self {
            Self::Plain(_) => None,
            Self::Client(s) => peer_spiffe_id(s.get_ref().1),
            Self::Server(s) => peer_spiffe_id(s.get_ref().1),
        }
    }

    /// The ALPN protocol the handshake settled on.
    pub fn alpn(&self) -> Option<&[u8]> {
        match self {
            Self::Plain(_) => None,
            Self::Client(s) => s.get_ref().1.alpn_protocol(),
            Self::Server(s) => s.get_ref().1.alpn_protocol(),
        }
    }

    /// The server name (SNI) the client sent, on a connection we accepted.
    pub fn server_name(&self) -> Option<&str> {
        match self {
            Self::Server(s) => s.get_ref().1.server_name(),
            Self::Plain(_) | Self::Client(_) => None,
        }
    }

    /// Whether the connection is inside TLS.
    pub fn is_tls(&self) -> bool {
        !matches!(self, Self::Plain(_))
    }
}

impl AsyncRead for MeshStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Client(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Self::Server(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MeshStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => poll_send(s, cx, &[IoSlice::new(buf)]),
            Self::Client(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Self::Server(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(s) => poll_send(s, cx, bufs),
            Self::Client(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Self::Server(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            Self::Client(s) => s.is_write_vectored(),
            Self::Server(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Client(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Self::Server(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Client(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Self::Server(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
