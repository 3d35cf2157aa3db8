//! The accept loop shared by every server, and the signal that ends the
//! connections of a server whose future was dropped.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{Instrument, debug, debug_span, warn};

/// How long to wait after an accept error that is not about one connection
/// (e.g. out of file descriptors) before trying again, so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Resolves when the server that accepted a connection is dropped.
#[derive(Clone, Debug)]
pub(crate) struct Shutdown(watch::Receiver<()>);

impl Shutdown {
    /// Waits until the server's future is dropped. Nothing is ever sent on
    /// the channel, so `changed` only returns when the sender goes away.
    pub(crate) async fn wait(mut self) {
        let _closed = self.0.changed().await;
    }

    /// Runs `task` until it ends or the server is dropped, whichever is first.
    pub(crate) async fn run_until(self, task: impl Future<Output = ()>) {
        tokio::select! {
            () = task => {}
            () = self.wait() => debug!("server dropped, closing connection"),
        }
    }
}

/// Accepts connections forever, handing each to `on_conn` in its own task.
/// Returns only if the listener cannot tell its own address; accept errors
/// are logged and retried.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    kind: &'static str,
    mut on_conn: F,
) -> io::Result<()>
where
    F: FnMut(TcpStream, SocketAddr, Shutdown) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let local = listener.local_addr()?;
    // Dropping `_alive` (with this future) ends every connection task.
    let (_alive, signal) = watch::channel(());
    debug!(%local, kind, "listening");
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) if is_connection_error(&error) => {
                debug!(%local, %error, "connection failed before accept");
                continue;
            }
            Err(error) => {
                warn!(%local, %error, "accept failed; retrying");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let shutdown = Shutdown(signal.clone());
        let task = on_conn(stream, peer, shutdown.clone());
        let span = debug_span!("conn", kind, %local, %peer);
        tokio::spawn(shutdown.run_until(task).instrument(span));
    }
}

/// Errors that concern one incoming connection, not the listener.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
