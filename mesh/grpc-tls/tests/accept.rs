//! Real TLS 1.3 handshakes on loopback against [`accept`]: clients with and without a
//! certificate come through with their [`PeerInfo`], refused and silent ones are dropped without
//! holding up the rest, and dropping the receiver closes the listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rigging_mesh_grpc_tls::{AcceptOptions, PeerInfo, TlsConn, accept};
use rigging_mesh_spiffe::config::provider;
use rigging_mesh_spiffe::test_pki::{LeafSpec, TestCa, TestLeaf};
use rigging_mesh_spiffe::{ExpectedPeer, SharedBundle, SpiffeId, SvidServerVerifier, TrustBundle};
use rustls::pki_types::ServerName;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tonic::transport::server::Connected;

/// Long enough for a loaded CI machine, short enough to fail a hang quickly.
const WAIT: Duration = Duration::from_secs(5);
/// A handshake timeout the silent client outlasts quickly.
const SHORT_TIMEOUT: Duration = Duration::from_millis(300);
const SERVER_ID: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/server";
const CLIENT_ID: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/client";

/// One root, the server's leaf and a client leaf; client certificates are optional, as
/// Citadel has them.
struct Pki {
    bundle: SharedBundle,
    server: TestLeaf,
    client: TestLeaf,
}

impl Pki {
    fn new() -> anyhow::Result<Self> {
        let ca = TestCa::new("grpc-tls test root")?;
        let bundle = SharedBundle::new(TrustBundle::new(vec![ca.root()])?);
        let server = ca.leaf(&LeafSpec::svid(SERVER_ID))?;
        let client = ca.leaf(&LeafSpec::svid(CLIENT_ID))?;
        Ok(Self {
            bundle,
            server,
            client,
        })
    }

    fn server_config(&self) -> anyhow::Result<Arc<ServerConfig>> {
        let mut roots = RootCertStore::empty();
        for root in self.bundle.load().roots() {
            roots.add(root.clone())?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
            .allow_unauthenticated()
            .build()?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.server.chain.clone(), self.server.key.clone_key())?;
        Ok(Arc::new(config))
    }

    /// A client presenting `leaf`, or no certificate with `None`.
    fn client_config(&self, leaf: Option<&TestLeaf>) -> anyhow::Result<Arc<ClientConfig>> {
        let verifier = SvidServerVerifier::new(
            self.bundle.clone(),
            ExpectedPeer::Id(SpiffeId::parse(SERVER_ID)?),
        );
        let builder = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let config = match leaf {
            Some(leaf) => {
                builder.with_client_auth_cert(leaf.chain.clone(), leaf.key.clone_key())?
            }
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }
}

/// `accept` on a fresh loopback listener.
async fn listen(
    config: Arc<ServerConfig>,
    options: AcceptOptions,
) -> anyhow::Result<(SocketAddr, mpsc::Receiver<std::io::Result<TlsConn>>)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((addr, accept(listener, config, options)))
}

async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("server.rigging")?;
    let tls = tokio::time::timeout(WAIT, TlsConnector::from(config).connect(name, tcp))
        .await
        .context("client handshake timed out")??;
    Ok(tls)
}

/// The next finished connection, failing a hang after [`WAIT`].
async fn next(rx: &mut mpsc::Receiver<std::io::Result<TlsConn>>) -> anyhow::Result<TlsConn> {
    let conn = tokio::time::timeout(WAIT, rx.recv())
        .await
        .context("no connection came through")?
        .context("the accept loop ended")??;
    Ok(conn)
}

/// Bytes written by the client reach the server's side of the connection.
async fn echo_once(client: &mut TlsStream<TcpStream>, server: &mut TlsConn) -> anyhow::Result<()> {
    client.write_all(b"ping").await?;
    client.flush().await?;
    let mut buf = [0u8; 4];
    tokio::time::timeout(WAIT, server.read_exact(&mut buf)).await??;
    anyhow::ensure!(&buf == b"ping", "server read {buf:?}");
    Ok(())
}

#[tokio::test]
async fn client_certificate_chain_reaches_peer_info() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let (addr, mut rx) = listen(pki.server_config()?, AcceptOptions::new("test")).await?;
    let mut client = connect(addr, pki.client_config(Some(&pki.client))?).await?;
    let mut server = next(&mut rx).await?;

    let info: PeerInfo = server.connect_info();
    assert_eq!(info.chain.as_deref(), Some(pki.client.chain.as_slice()));
    assert_eq!(info.remote, Some(client.get_ref().0.local_addr()?));
    echo_once(&mut client, &mut server).await
}

#[tokio::test]
async fn client_without_certificate_has_no_chain() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let (addr, mut rx) = listen(pki.server_config()?, AcceptOptions::new("test")).await?;
    let mut client = connect(addr, pki.client_config(None)?).await?;
    let mut server = next(&mut rx).await?;

    let info = server.peer_info();
    assert!(info.chain.is_none(), "chain without a client certificate");
    assert_eq!(info.remote, Some(client.get_ref().0.local_addr()?));
    echo_once(&mut client, &mut server).await
}

#[tokio::test]
async fn refused_certificate_is_dropped_and_accepting_goes_on() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let foreign = TestCa::new("foreign root")?.leaf(&LeafSpec::svid(CLIENT_ID))?;
    let (addr, mut rx) = listen(pki.server_config()?, AcceptOptions::new("test")).await?;

    // In TLS 1.3 the client finishes before the server has checked its certificate: the
    // refusal shows on the client's first read.
    let mut refused = connect(addr, pki.client_config(Some(&foreign))?).await?;
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(WAIT, refused.read(&mut buf)).await?;
    assert!(
        matches!(read, Err(_) | Ok(0)),
        "foreign client read {read:?}"
    );

    let _client = connect(addr, pki.client_config(Some(&pki.client))?).await?;
    let server = next(&mut rx).await?;
    assert_eq!(
        server.peer_info().chain.as_deref(),
        Some(pki.client.chain.as_slice()),
        "the first connection through is the trusted one"
    );
    assert!(rx.try_recv().is_err(), "the refused client came through");
    Ok(())
}

#[tokio::test]
async fn silent_client_is_dropped_after_the_handshake_timeout() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let options = AcceptOptions::new("test").handshake_timeout(SHORT_TIMEOUT);
    let (addr, mut rx) = listen(pki.server_config()?, options).await?;

    let started = Instant::now();
    let mut silent = TcpStream::connect(addr).await?;

    // The silent client holds up no one.
    let _client = connect(addr, pki.client_config(Some(&pki.client))?).await?;
    next(&mut rx).await?;

    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(WAIT, silent.read(&mut buf))
        .await
        .context("the silent client was never dropped")?;
    assert!(
        matches!(read, Err(_) | Ok(0)),
        "silent client read {read:?}"
    );
    assert!(
        started.elapsed() >= SHORT_TIMEOUT,
        "dropped after {:?}, before the timeout",
        started.elapsed()
    );
    assert!(rx.try_recv().is_err(), "the silent client came through");
    Ok(())
}

#[tokio::test]
async fn dropping_the_receiver_closes_the_listener() -> anyhow::Result<()> {
    let pki = Pki::new()?;
    let (addr, rx) = listen(pki.server_config()?, AcceptOptions::new("test")).await?;
    drop(rx);

    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(addr).await.is_ok() {
        anyhow::ensure!(Instant::now() < deadline, "the listener is still open");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}
