//! Telling a TLS ClientHello from plaintext on a permissive port, without consuming a byte.

use std::io;
use std::time::Duration;

use tokio::net::TcpStream;

/// How long a permissive port waits for the client's first byte. Clients of the protocols the
/// mesh carries speak first (HTTP, gRPC, TLS, most databases); a client still silent by then
/// is taken as plaintext, so a server-first protocol still works in permissive mode, late.
pub const SNIFF_TIMEOUT: Duration = Duration::from_secs(1);

/// The first byte of a TLS record carrying a handshake message (RFC 8446 §5.1,
/// `ContentType.handshake`). No HTTP method or HTTP/2 preface starts with it.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// What a new connection starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    Tls,
    Plaintext,
    /// The client closed before sending anything.
    Closed,
}

/// Peeks at the first byte of `stream` (waiting up to `timeout`) and says whether it opens a
/// TLS handshake. The byte stays in the socket for whoever reads next.
pub async fn sniff(stream: &TcpStream, timeout: Duration) -> io::Result<Sniffed> {
    let mut first = [0u8; 1];
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Err(_) => Ok(Sniffed::Plaintext),
        Ok(Ok(0)) => Ok(Sniffed::Closed),
        Ok(Ok(_)) if first[0] == TLS_HANDSHAKE_RECORD => Ok(Sniffed::Tls),
        Ok(Ok(_)) => Ok(Sniffed::Plaintext),
        Ok(Err(e)) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    async fn pair() -> (TcpStream, TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let (client, accepted) = tokio::join!(TcpStream::connect(addr), l.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn tells_tls_from_http_and_keeps_the_byte() {
        let (mut c, s) = pair().await;
        c.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        assert_eq!(sniff(&s, SNIFF_TIMEOUT).await.unwrap(), Sniffed::Tls);
        let mut buf = [0u8; 3];
        s.peek(&mut buf).await.unwrap();
        assert_eq!(buf[0], 0x16, "the byte is still there");

        let (mut c, s) = pair().await;
        c.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert_eq!(sniff(&s, SNIFF_TIMEOUT).await.unwrap(), Sniffed::Plaintext);

        let (mut c, s) = pair().await;
        c.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        assert_eq!(sniff(&s, SNIFF_TIMEOUT).await.unwrap(), Sniffed::Plaintext);
    }

    #[tokio::test]
    async fn silence_is_plaintext_and_close_is_closed() {
        let (_c, s) = pair().await;
        let t = Duration::from_millis(50);
        assert_eq!(sniff(&s, t).await.unwrap(), Sniffed::Plaintext);
        let (c, s) = pair().await;
        drop(c);
        assert_eq!(sniff(&s, SNIFF_TIMEOUT).await.unwrap(), Sniffed::Closed);
    }
}
