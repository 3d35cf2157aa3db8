//! A TLS accept loop for tonic servers: handshakes run apart from accepting, each under a
//! timeout, and every request carries its peer's address and verified certificate chain.
//!
//! Pilot's xDS listener and Citadel share it; what they trust and which certificate they
//! present stays in the [`ServerConfig`] each of them builds.

use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A client that has not finished its handshake by then is dropped: a client on the same host
/// or one hop away needs milliseconds, and a stalled handshake holds a socket.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for tonic to take them; beyond this, accepting pauses. Enough
/// for a burst of proxies reconnecting at once after a restart.
pub const DEFAULT_BACKLOG: NonZeroUsize = NonZeroUsize::new(128).expect("128 is not zero");
/// Pause after a failed `accept` (out of file descriptors, usually), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// How [`accept`] runs: a label for its logs, the handshake timeout and the backlog.
#[derive(Debug, Clone)]
pub struct AcceptOptions {
    label: &'static str,
    handshake_timeout: Duration,
    backlog: NonZeroUsize,
}

/// What a request knows about its TLS connection; tonic puts it in the request's extensions.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The client's address, if the socket still knows it.
    pub remote: Option<SocketAddr>,
    /// The client certificate chain rustls verified, leaf first; `None` when the client sent
    /// none (which only a config with optional client authentication lets through).
    pub chain: Option<Vec<CertificateDer<'static>>>,
}

/// A finished TLS connection for tonic, carrying its [`PeerInfo`].
#[derive(Debug)]
pub struct TlsConn(TlsStream<TcpStream>);

impl AcceptOptions {
    /// The defaults, logging under `label` (say `"xDS"` or `"citadel"`).
    pub fn new(label: &'static str) -> Self {
        Self {
            label,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            backlog: DEFAULT_BACKLOG,
        }
    }

    /// How long a client has to finish its handshake before it is dropped.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How many finished connections may wait for the server to take them.
    pub fn backlog(mut self, backlog: NonZeroUsize) -> Self {
        self.backlog = backlog;
        self
    }
}

impl TlsConn {
    /// The peer's address and verified certificate chain, as requests see them.
    pub fn peer_info(&self) -> PeerInfo {
        let (tcp, session) = self.0.get_ref();
        PeerInfo {
            remote: tcp.peer_addr().ok(),
            chain: session
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.clone().into_owned()).collect()),
        }
    }
}

impl tonic::transport::server::Connected for TlsConn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.peer_info()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// Accepts TCP connections on `listener`, runs each handshake with `config` in its own task (a
/// slow client holds up no one), and yields the finished connections, for tonic's
/// `serve_with_incoming`. Failed and timed-out handshakes are logged and dropped; the loop ends,
/// closing the listener, as soon as the receiver is dropped (the server stopped).
///
/// # Panics
///
/// Outside a Tokio runtime, as [`tokio::spawn`] does.
pub fn accept(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    options: AcceptOptions,
) -> mpsc::Receiver<io::Result<TlsConn>> {
    let (tx, rx) = mpsc::channel(options.backlog.get());
    let acceptor = TlsAcceptor::from(config);
    let AcceptOptions {
        label,
        handshake_timeout,
        ..
    } = options;
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = tx.closed() => return,
            };
            let (tcp, remote) = match accepted {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(listener = label, error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            };
            // gRPC messages here are small and latency matters more than packet count.
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = tx.send(Ok(TlsConn(tls))).await;
                    }
                    Ok(Err(e)) => log_refusal(label, remote, &e),
                    Err(_) => {
                        tracing::debug!(listener = label, %remote, "tls handshake timed out");
                    }
                }
            });
        }
    });
    rx
}

/// A refused certificate is worth a warning (a misconfigured or foreign client); anything else
/// (a port scan, a client that hung up) only a debug line.
fn log_refusal(label: &'static str, remote: SocketAddr, e: &io::Error) {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(
            err @ (rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::AlertReceived(_)),
        ) => {
            tracing::warn!(listener = label, %remote, error = %err, "tls handshake refused");
        }
        _ => tracing::debug!(listener = label, %remote, error = %e, "tls handshake failed"),
    }
}
