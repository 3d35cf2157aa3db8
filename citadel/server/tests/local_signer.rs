//! `LocalSigner`: a component in Citadel's process gets its fixed identity from the running CA
//! through the ordinary `Renewer`, with the configured TTL, and follows root rotations.
#![allow(clippy::unwrap_used)]

#[path = "shared/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use harness::{FakeClock, TD, trust_domain, web_id};
use rigging_citadel_ca::{LeafTtl, RootId};
use rigging_citadel_client::{
    BundleSource, BundleWatcher, CertStore, IssueError, Issued, Refreshed, Renewer, SignRequest,
    Signed, Signer, SystemClock, WorkloadKey,
};
use rigging_citadel_server::{CitadelConfig, CitadelServer, LocalSignerError};
use rigging_mesh_spiffe::{SpiffeId, TrustBundle};
use rustls_pki_types::UnixTime;

const TTL: Duration = Duration::from_secs(3600);

fn pilot() -> SpiffeId {
    SpiffeId::parse(&web_id("rigging", "pilot")).unwrap()
}

/// A Citadel over a fresh state folder, not serving yet.
fn open(state: &tempfile::TempDir) -> CitadelServer {
    let config = CitadelConfig {
        state_dir: state.path().to_owned(),
        trust_domain: trust_domain(),
        datacenter: "dc1".to_owned(),
        leaf_ttl: LeafTtl::new(TTL).unwrap(),
        server_ips: Vec::new(),
    };
    CitadelServer::open(config, Arc::new(FakeClock::new()))
        .unwrap()
        .with_reload_interval(Duration::from_millis(100))
}

/// Serves `server` on loopback (so it follows the state folder) until the test ends.
async fn serve(server: CitadelServer) -> tokio::sync::oneshot::Sender<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    stop
}

#[tokio::test]
async fn the_renewer_gets_the_fixed_identity_with_the_configured_ttl_and_no_credential() {
    let state = tempfile::tempdir().unwrap();
    let server = open(&state);
    let bundle = TrustBundle::new(server.trust_bundle()).unwrap();
    let signer = Arc::new(server.local_signer(pilot()).unwrap());
    assert_eq!(signer.identity(), &pilot());
    let store = Arc::new(CertStore::new(bundle));
    let (renewer, mut status) = Renewer::new(store.clone(), signer, None, Arc::new(SystemClock));
    tokio::spawn(renewer.run());
    let ready = status.wait_for(|s| s.ready).await.unwrap().clone();
    assert_eq!(ready.identity, Some(pilot()));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let left = ready.not_after.unwrap() - now;
    assert!(
        (TTL.as_secs() - 5..=TTL.as_secs()).contains(&left),
        "{left} s left"
    );
}

#[tokio::test]
async fn it_follows_a_root_rotation_of_the_running_server() {
    let state = tempfile::tempdir().unwrap();
    let server = open(&state);
    let handle = server.authority_handle();
    let signer = server.local_signer(pilot()).unwrap();
    let _stop = serve(server).await;

    let store = rigging_citadel_ca::CaStore::new(state.path());
    let new = store.add_root(SystemTime::now()).unwrap();
    store.switch_signer(new).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while handle.current().signer_id() != new {
        assert!(tokio::time::Instant::now() < deadline, "no reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(signer.trust_bundle().await.unwrap().len(), 2);

    let key = WorkloadKey::generate().unwrap();
    let signed = signer
        .sign(SignRequest {
            csr_der: key.csr(None).unwrap(),
            credential: None,
        })
        .await
        .unwrap();
    assert_eq!(signed.trust_bundle, handle.trust_bundle());
    // The leaf chains to the new root alone, not to the first.
    let root = |id: RootId| {
        let ca = handle.current();
        ca.roots()
            .find(|r| r.id() == id)
            .unwrap()
            .trust_anchor()
            .clone()
    };
    let only = |id| Signed {
        chain: signed.chain.clone(),
        trust_bundle: vec![root(id)],
    };
    let old = Issued::verify(
        WorkloadKey::generate().unwrap(),
        only(RootId(1)),
        UnixTime::now(),
    );
    assert!(matches!(old, Err(IssueError::Chain(_))), "{old:?}");
    let issued = Issued::verify(key, only(new), UnixTime::now()).unwrap();
    assert_eq!(issued.svid().id, pilot());
}

#[tokio::test]
async fn a_bundle_watcher_on_it_sees_an_added_root() {
    let state = tempfile::tempdir().unwrap();
    let server = open(&state);
    let cert_store = Arc::new(CertStore::new(
        TrustBundle::new(server.trust_bundle()).unwrap(),
    ));
    let signer = Arc::new(server.local_signer(pilot()).unwrap());
    let handle = server.authority_handle();
    let _stop = serve(server).await;
    let watcher = BundleWatcher::new(cert_store.clone(), signer);
    assert_eq!(watcher.refresh_once().await.unwrap(), Refreshed::Unchanged);
    rigging_citadel_ca::CaStore::new(state.path())
        .add_root(SystemTime::now())
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while handle.current().roots().count() != 2 {
        assert!(tokio::time::Instant::now() < deadline, "no reload");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        watcher.refresh_once().await.unwrap(),
        Refreshed::Replaced { roots: 2 }
    );
}

#[tokio::test]
async fn an_identity_of_another_trust_domain_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let server = open(&state);
    let foreign = SpiffeId::parse("spiffe://elsewhere.test/ns/rigging/dc/dc1/svc/pilot").unwrap();
    assert_ne!(foreign.trust_domain().as_str(), TD);
    let err = server.local_signer(foreign).err();
    assert!(
        matches!(err, Some(LocalSignerError::ForeignTrustDomain { .. })),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_bad_csr_is_refused() {
    let state = tempfile::tempdir().unwrap();
    let signer = open(&state).local_signer(pilot()).unwrap();
    let err = signer
        .sign(SignRequest {
            csr_der: b"not a csr".to_vec(),
            credential: None,
        })
        .await
        .err();
    assert!(
        matches!(err, Some(rigging_citadel_client::SignError::Local(_))),
        "{err:?}"
    );
    assert!(!signer.needs_credential());
}
