//! The error of the client helpers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

/// A boxed error, as hyper and tower carry them.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a call from a client helper (or from the `web` front end to its
/// backends) failed. Every variant names the address that was called.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The TCP connection could not be opened.
    #[error("connect to {addr}")]
    Connect {
        /// The address called.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Reading or writing an open TCP connection failed.
    #[error("i/o with {addr}")]
    Io {
        /// The address called.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The HTTP exchange failed (handshake, request or body).
    #[error("http exchange with {addr}")]
    Http {
        /// The address called.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The gRPC channel could not be set up.
    #[error("grpc connection to {addr}")]
    GrpcConnect {
        /// The address called.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: tonic::transport::Error,
    },
    /// The gRPC call ended with a status other than OK.
    #[error("grpc call to {addr}")]
    Grpc {
        /// The address called.
        addr: SocketAddr,
        /// The status the client saw; boxed because it is large.
        #[source]
        source: Box<tonic::Status>,
    },
    /// The WebSocket handshake or a message exchange failed.
    #[error("websocket with {addr}")]
    WebSocket {
        /// The address called.
        addr: SocketAddr,
        /// The cause; boxed because it is large.
        #[source]
        source: Box<tokio_tungstenite::tungstenite::Error>,
    },
    /// The peer answered, but not as the protocol or the caller expected.
    #[error("unexpected answer from {addr}: {detail}")]
    Unexpected {
        /// The address called.
        addr: SocketAddr,
        /// What was wrong.
        detail: String,
    },
    /// The whole call took longer than allowed.
    #[error("no answer from {addr} within {after:?}")]
    Timeout {
        /// The address called.
        addr: SocketAddr,
        /// The limit that passed.
        after: Duration,
    },
}

impl AppError {
    pub(crate) fn unexpected(addr: SocketAddr, detail: impl Into<String>) -> Self {
        Self::Unexpected {
            addr,
            detail: detail.into(),
        }
    }
}

/// Runs a client call under [`crate::client::CLIENT_TIMEOUT`], so a lost
/// answer fails a test instead of hanging it.
pub(crate) async fn with_timeout<T>(
    addr: SocketAddr,
    call: impl Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let after = crate::client::CLIENT_TIMEOUT;
    tokio::time::timeout(after, call)
        .await
        .unwrap_or(Err(AppError::Timeout { addr, after }))
}
