//! The TCP echo server (the demo's `db`) and its client helper.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tracing::debug;

use crate::error::with_timeout;
use crate::{AppError, AppIdentity};

/// The longest banner line the client reads, so a peer that never sends a
/// newline cannot make it buffer without end.
const MAX_BANNER_LEN: u64 = 1024;

/// Serves TCP on `listener` until dropped: on connect writes
/// `{service} {version} ({instance}) ready\n`, then echoes every byte back
/// until the client closes its side, then closes too. Errors as
/// [`crate::serve_http`].
pub async fn serve_tcp_echo(listener: TcpListener, id: AppIdentity) -> io::Result<()> {
    let banner = format!("{id} ready\n");
    crate::listen::accept_loop(listener, "tcp", move |stream, _peer, _shutdown| {
        let banner = banner.clone();
        async move {
            if let Err(error) = echo(stream, &banner).await {
                debug!(%error, "tcp echo ended with an error");
            }
        }
    })
    .await
}

async fn echo(mut stream: TcpStream, banner: &str) -> io::Result<()> {
    stream.write_all(banner.as_bytes()).await?;
    let (mut reader, mut writer) = stream.split();
    let echoed = tokio::io::copy(&mut reader, &mut writer).await?;
    writer.shutdown().await?;
    debug!(echoed, "tcp echo done");
    Ok(())
}

/// Connects to a TCP echo server, reads its banner line, sends `payload` and
/// reads as many bytes back. Returns the banner without its line ending, and
/// the echoed bytes.
pub async fn tcp_echo(addr: SocketAddr, payload: &[u8]) -> Result<(String, Vec<u8>), AppError> {
    with_timeout(addr, async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| AppError::Connect { addr, source })?;
        let io_error = |source| AppError::Io { addr, source };
        let mut stream = BufReader::new(stream);
        let mut banner = Vec::new();
        (&mut stream)
            .take(MAX_BANNER_LEN)
            .read_until(b'\n', &mut banner)
            .await
            .map_err(io_error)?;
        if banner.pop() != Some(b'\n') {
            return Err(AppError::unexpected(addr, "no banner line"));
        }
        if banner.last() == Some(&b'\r') {
            banner.pop();
        }
        stream
            .get_mut()
            .write_all(payload)
            .await
            .map_err(io_error)?;
        // Read exactly the payload back rather than half-closing, so the
        // helper works through proxies that do not forward a half-close.
        let mut echoed = vec![0; payload.len()];
        stream.read_exact(&mut echoed).await.map_err(io_error)?;
        Ok((String::from_utf8_lossy(&banner).into_owned(), echoed))
    })
    .await
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::tcp_echo;
    use crate::AppIdentity;
    use crate::testing::tcp;

    fn db() -> AppIdentity {
        AppIdentity::new("db", "v1", "db-1")
    }

    #[tokio::test]
    async fn banner_then_echo() {
        let (addr, _server) = tcp(db()).await;
        let payload: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        let (banner, echoed) = tcp_echo(addr, &payload).await.expect("echo");
        assert_eq!(banner, "db v1 (db-1) ready");
        assert_eq!(echoed, payload);
    }

    #[tokio::test]
    async fn server_closes_after_client_half_close() {
        let (addr, _server) = tcp(db()).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"abc").await.expect("write");
        stream.shutdown().await.expect("shutdown");
        let mut all = String::new();
        stream.read_to_string(&mut all).await.expect("read");
        assert_eq!(all, "db v1 (db-1) ready\nabc");
    }

    #[tokio::test]
    async fn dropping_the_server_closes_its_connections() {
        let (addr, server) = tcp(db()).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut banner = [0; 19];
        stream.read_exact(&mut banner).await.expect("banner");
        drop(server);
        let mut rest = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            stream.read_to_end(&mut rest),
        )
        .await
        .expect("closed in time");
        assert!(matches!(read, Ok(0)), "{read:?}");
    }

    #[tokio::test]
    async fn client_rejects_a_peer_without_banner() {
        let (listener, addr) = crate::testing::listener().await;
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.write_all(b"no newline").await.expect("write");
        });
        let error = tcp_echo(addr, b"x").await.expect_err("no banner");
        assert!(
            matches!(error, crate::AppError::Unexpected { .. }),
            "{error:?}"
        );
    }
}
