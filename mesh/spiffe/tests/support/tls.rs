//! A loopback TLS harness: one server accept and one client connect over tokio-rustls.

use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_spiffe::{SpiffeId, peer_spiffe_id};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::ServerName;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ServerConfig, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// A handshake that has not finished by then is a hang, not a refusal.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// What the server application writes once it accepted a connection.
pub const GREETING: &[u8] = b"hello from the app";

/// Always presents the same certificate.
#[derive(Debug)]
pub struct Fixed(pub Arc<CertifiedKey>);

/// What one side saw of a finished handshake.
#[derive(Debug)]
pub struct Seen {
    pub peer: Option<SpiffeId>,
    pub alpn: Option<Vec<u8>>,
}

/// Both sides' view; an `Err` holds the failure's text.
#[derive(Debug)]
pub struct Outcome {
    pub client: Result<Seen, String>,
    pub server: Result<Seen, String>,
}

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl ResolvesClientCert for Fixed {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Runs one handshake on 127.0.0.1; the client reads the server app's greeting to the end, so a
/// client certificate the server refuses (known only after the client's Finished in TLS 1.3)
/// shows up on the client side too.
pub async fn handshake(client: ClientConfig, server: ServerConfig) -> anyhow::Result<Outcome> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let acceptor = TlsAcceptor::from(Arc::new(server));
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.map_err(|e| e.to_string())?;
        let mut tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let seen = Seen {
            peer: peer_spiffe_id(conn),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        };
        tls.write_all(GREETING).await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(seen)
    });
    let connector = TlsConnector::from(Arc::new(client));
    let client = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let name = ServerName::try_from("ignored.invalid").map_err(|e| e.to_string())?;
        let mut tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (_, conn) = tls.get_ref();
        let seen = Seen {
            peer: peer_spiffe_id(conn),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        };
        let mut got = Vec::new();
        tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.read_to_end(&mut got))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        if got != GREETING {
            return Err(format!("client read {got:?}, not the greeting"));
        }
        Ok(seen)
    }
    .await;
    let server = server.await?;
    Ok(Outcome { client, server })
}
