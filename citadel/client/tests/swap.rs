//! The `CertStore` resolvers under real TLS: after a renewal a new handshake sees the new
//! certificate, on both sides, while a connection made before keeps working.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rigging_citadel_client::{CertStore, Issued, Signed, WorkloadKey};
use rigging_mesh_spiffe::config::{client_config, server_config};
use rigging_mesh_spiffe::test_pki::TestCa;
use rigging_mesh_spiffe::{
    ExpectedPeer, SpiffeId, SvidClientVerifier, SvidServerVerifier, TrustBundle, TrustDomain,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

const WEB: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/web";
const API: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/api";

/// Has `ca` issue a fresh key's certificate for `id` and installs it in `store`.
fn issue(store: &CertStore, ca: &TestCa, id: &str) -> anyhow::Result<CertificateDer<'static>> {
    let key = WorkloadKey::generate()?;
    let now = SystemTime::now();
    let leaf = ca.sign_csr(
        &key.csr(None)?,
        id,
        now - Duration::from_secs(60),
        now + Duration::from_secs(3600),
    )?;
    let signed = Signed {
        chain: vec![leaf.clone()],
        trust_bundle: vec![ca.root()],
    };
    store.install(Issued::verify(key, signed, UnixTime::now())?);
    Ok(leaf)
}

/// An echo server on loopback that reports each client's leaf certificate.
async fn serve(
    store: Arc<CertStore>,
) -> anyhow::Result<(String, mpsc::UnboundedReceiver<Vec<u8>>)> {
    let verifier =
        SvidClientVerifier::new(store.bundle().clone(), TrustDomain::new("rigging.local")?);
    let acceptor = TlsAcceptor::from(Arc::new(server_config(Arc::new(verifier), store)?));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, tx) = (acceptor.clone(), tx.clone());
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let peer = tls
                    .get_ref()
                    .1
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                let _ = tx.send(peer.unwrap_or_default());
                let (r, mut w) = tokio::io::split(tls);
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if w.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((addr, rx))
}

async fn connect(addr: &str, store: Arc<CertStore>) -> anyhow::Result<TlsStream<TcpStream>> {
    let verifier = SvidServerVerifier::new(
        store.bundle().clone(),
        ExpectedPeer::Id(SpiffeId::parse(API)?),
    );
    let connector = TlsConnector::from(Arc::new(client_config(Arc::new(verifier), store)?));
    let tcp = TcpStream::connect(addr).await?;
    Ok(connector
        .connect(ServerName::try_from("api.invalid")?, tcp)
        .await?)
}

async fn echo(tls: &mut TlsStream<TcpStream>, msg: &str) -> anyhow::Result<String> {
    tls.write_all(format!("{msg}\n").as_bytes()).await?;
    let mut line = String::new();
    BufReader::new(tls).read_line(&mut line).await?;
    Ok(line.trim_end().to_owned())
}

fn server_leaf(tls: &TlsStream<TcpStream>) -> Option<Vec<u8>> {
    tls.get_ref()
        .1
        .peer_certificates()?
        .first()
        .map(|c| c.to_vec())
}

#[tokio::test]
async fn renewal_swaps_certificates_for_new_handshakes_only() -> anyhow::Result<()> {
    let ca = TestCa::new("rigging root")?;
    let bundle = || TrustBundle::new(vec![ca.root()]);
    let (api_store, web_store) = (
        Arc::new(CertStore::new(bundle()?)),
        Arc::new(CertStore::new(bundle()?)),
    );
    let api_old = issue(&api_store, &ca, API)?;
    let web_old = issue(&web_store, &ca, WEB)?;
    let (addr, mut client_leaves) = serve(api_store.clone()).await?;

    let mut before = connect(&addr, web_store.clone()).await?;
    assert_eq!(echo(&mut before, "one").await?, "one");
    assert_eq!(server_leaf(&before).as_deref(), Some(api_old.as_ref()));
    assert_eq!(
        client_leaves.recv().await.as_deref(),
        Some(web_old.as_ref())
    );

    // Both sides renew, with new keys; no config is rebuilt.
    let api_new = issue(&api_store, &ca, API)?;
    let web_new = issue(&web_store, &ca, WEB)?;
    assert_ne!(api_new, api_old);

    let mut after = connect(&addr, web_store.clone()).await?;
    assert_eq!(echo(&mut after, "two").await?, "two");
    assert_eq!(server_leaf(&after).as_deref(), Some(api_new.as_ref()));
    assert_eq!(
        client_leaves.recv().await.as_deref(),
        Some(web_new.as_ref())
    );

    // The connection made before the renewal is untouched.
    assert_eq!(echo(&mut before, "three").await?, "three");
    Ok(())
}

#[tokio::test]
async fn a_store_without_a_certificate_cannot_complete_mtls() -> anyhow::Result<()> {
    let ca = TestCa::new("rigging root")?;
    let api_store = Arc::new(CertStore::new(TrustBundle::new(vec![ca.root()])?));
    issue(&api_store, &ca, API)?;
    let (addr, _leaves) = serve(api_store).await?;
    let empty = Arc::new(CertStore::new(TrustBundle::new(vec![ca.root()])?));
    let refused = match connect(&addr, empty).await {
        Ok(mut tls) => echo(&mut tls, "hi").await.is_err(),
        Err(_) => true,
    };
    assert!(refused, "a client without a certificate must be refused");
    Ok(())
}
