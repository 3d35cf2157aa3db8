//! The workload side against a real Citadel on loopback: `GrpcSigner` issuance and renewal,
//! its refusals, the trust bundle through a root rotation, and the `Renewer` with a 10 s TTL.
#![allow(clippy::unwrap_used)]

#[path = "shared/harness.rs"]
mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use harness::{Harness, Options, start, start_with, web_id};
use rigging_citadel_ca::{LeafTtl, MIN_LEAF_TTL, RootId};
use rigging_citadel_client::{
    BundleWatcher, CertStore, Credential, GrpcSigner, Issued, Refreshed, Renewer, SignError,
    SignFuture, SignRequest, Signed, Signer, SystemClock, WorkloadKey,
};
use rigging_citadel_server::CITADEL_DNS_NAME;
use rigging_mesh_spiffe::{SpiffeId, Svid, TrustBundle};
use rustls_pki_types::{ServerName, UnixTime};

const HOUR: Duration = Duration::from_secs(3600);

/// A workload: its certificate store (starting with the server's bundle) and its signer.
fn workload(h: &Harness) -> (GrpcSigner, Arc<CertStore>) {
    let bundle = TrustBundle::new(h.bundle.clone()).unwrap();
    let store = Arc::new(CertStore::new(bundle.clone()));
    let signer = GrpcSigner::new(
        h.addr.to_string(),
        ServerName::try_from(CITADEL_DNS_NAME).unwrap(),
        &bundle,
        store.clone(),
    )
    .unwrap();
    (signer, store)
}

/// One issuance as the renewer does it, with a CSR asking to be someone else.
async fn issue(
    signer: &GrpcSigner,
    store: &CertStore,
    credential: Option<Credential>,
) -> Result<Svid, SignError> {
    let key = WorkloadKey::generate().unwrap();
    let admin = SpiffeId::parse(&web_id("default", "admin")).unwrap();
    let csr_der = key.csr(Some(&admin)).unwrap();
    let signed = signer
        .sign(SignRequest {
            csr_der,
            credential,
        })
        .await?;
    let issued = Issued::verify(key, signed, UnixTime::now()).unwrap();
    let svid = issued.svid().clone();
    store.install(issued);
    Ok(svid)
}

#[tokio::test]
async fn first_issuance_with_a_token_gets_the_tokens_identity_not_the_csrs() {
    let h = start(vec![]).await;
    let (signer, store) = workload(&h);
    let token = h.token("web", HOUR);
    let svid = issue(&signer, &store, Some(Credential::BootstrapToken(token)))
        .await
        .unwrap();
    assert_eq!(svid.id.to_string(), web_id("default", "web"));
    assert_eq!(
        store.identity().map(|id| id.to_string()),
        Some(web_id("default", "web"))
    );
}

#[tokio::test]
async fn renewal_without_a_credential_over_mtls_keeps_the_identity() {
    let h = start(vec![]).await;
    let (signer, store) = workload(&h);
    let token = h.token("api", HOUR);
    let first = issue(&signer, &store, Some(Credential::BootstrapToken(token)))
        .await
        .unwrap();
    let first_key = store.certified_key().unwrap();
    let renewed = issue(&signer, &store, None).await.unwrap();
    assert_eq!(renewed.id, first.id);
    assert_eq!(renewed.id.to_string(), web_id("default", "api"));
    let renewed_key = store.certified_key().unwrap();
    assert_ne!(renewed_key.cert[0], first_key.cert[0], "a new certificate");
}

#[tokio::test]
async fn a_reused_token_is_refused_as_unauthenticated() {
    let h = start(vec![]).await;
    let token = h.token("web", HOUR);
    let (signer, store) = workload(&h);
    issue(
        &signer,
        &store,
        Some(Credential::BootstrapToken(token.clone())),
    )
    .await
    .unwrap();
    // A second workload (no certificate) with the same token.
    let (signer, store) = workload(&h);
    let err = issue(&signer, &store, Some(Credential::BootstrapToken(token)))
        .await
        .err();
    assert!(
        matches!(
            err,
            Some(SignError::Refused {
                code: tonic::Code::Unauthenticated
            })
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn no_credential_and_no_certificate_is_no_credential() {
    let h = start(vec![]).await;
    let (signer, store) = workload(&h);
    let err = issue(&signer, &store, None).await.err();
    assert!(matches!(err, Some(SignError::NoCredential)), "{err:?}");
}

#[tokio::test]
async fn trust_bundle_returns_the_roots_and_an_added_root_within_a_reload() {
    let h = start_with(Options {
        reload_interval: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let (signer, store) = workload(&h);
    assert_eq!(signer.trust_bundle().await.unwrap(), h.bundle);

    // `rig citadel rotate-root add`, in the state folder, as another process would.
    let added = h.ca_store().add_root(std::time::SystemTime::now()).unwrap();
    h.wait_for_ca(|ca| ca.roots().count() == 2).await;
    let roots = signer.trust_bundle().await.unwrap();
    assert_eq!(roots.len(), 2);
    assert_eq!(roots[0], h.bundle[0]);

    // The watcher brings it to the workload without a Sign.
    let watcher = BundleWatcher::new(store.clone(), Arc::new(signer.clone()));
    assert_eq!(
        watcher.refresh_once().await.unwrap(),
        Refreshed::Replaced { roots: 2 }
    );
    assert_eq!(store.bundle().load().roots(), roots.as_slice());
    assert_eq!(added, RootId(2));
}

#[tokio::test]
async fn after_a_root_rotation_a_workload_still_renews_and_gets_the_new_root() {
    let h = start_with(Options {
        reload_interval: Duration::from_millis(100),
        ..Options::default()
    })
    .await;
    let (signer, store) = workload(&h);
    let token = h.token("web", HOUR);
    issue(&signer, &store, Some(Credential::BootstrapToken(token)))
        .await
        .unwrap();

    // Step 1: add a root; the workload learns it from the bundle.
    let new = h.ca_store().add_root(std::time::SystemTime::now()).unwrap();
    h.wait_for_ca(|ca| ca.roots().count() == 2).await;
    BundleWatcher::new(store.clone(), Arc::new(signer.clone()))
        .refresh_once()
        .await
        .unwrap();

    // Step 2: the new root signs, Citadel's own certificate included.
    h.ca_store().switch_signer(new).unwrap();
    h.wait_for_ca(|ca| ca.signer_id() == new).await;
    let svid = issue(&signer, &store, None).await.unwrap();
    assert_eq!(svid.id.to_string(), web_id("default", "web"));

    // The renewed leaf chains to the new root alone.
    let authority = h.authority.current();
    let new_root = authority.roots().find(|r| r.id() == new).unwrap();
    let key = store.certified_key().unwrap();
    let only_new = Signed {
        chain: key.cert.clone(),
        trust_bundle: vec![new_root.trust_anchor().clone()],
    };
    let check = Issued::verify(WorkloadKey::generate().unwrap(), only_new, UnixTime::now());
    // Verified up to the key check: the chain is the new root's, the key is not this one.
    assert!(
        matches!(
            check,
            Err(rigging_citadel_client::IssueError::KeyMismatch(_))
        ),
        "{check:?}"
    );
}

/// Counts the calls it passes on to the real signer.
#[derive(Debug)]
struct Counting {
    inner: GrpcSigner,
    calls: AtomicU32,
}

impl Signer for Counting {
    fn sign(&self, request: SignRequest) -> SignFuture<'_> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.sign(request)
    }
}

/// Takes about 12 s of wall time: a real Citadel issuing 10 s leaves, watched over more than
/// one TTL.
#[tokio::test]
async fn renewer_renews_a_10s_leaf_about_every_5s_not_in_a_loop() {
    assert_eq!(MIN_LEAF_TTL, Duration::from_secs(10));
    let h = start_with(Options {
        leaf_ttl: LeafTtl::new(MIN_LEAF_TTL).unwrap(),
        ..Options::default()
    })
    .await;
    let (signer, store) = workload(&h);
    let counting = Arc::new(Counting {
        inner: signer,
        calls: AtomicU32::new(0),
    });
    let token = h.token("web", HOUR);
    let (renewer, mut status) = Renewer::new(
        store.clone(),
        counting.clone(),
        Some(Credential::BootstrapToken(token)),
        Arc::new(SystemClock),
    );
    let task = tokio::spawn(renewer.run());
    status.wait_for(|s| s.ready).await.unwrap();
    tokio::time::sleep(Duration::from_secs(12)).await;
    task.abort();

    let calls = counting.calls.load(Ordering::SeqCst);
    // Issued at 0 s, renewed near 5 s and 10 s (±0.5 s jitter, whole-second certificates).
    assert!((2..=4).contains(&calls), "{calls} sign calls in 12 s");
    let last = status.borrow().clone();
    assert!(last.ready, "{last:?}");
    assert_eq!(last.consecutive_failures, 0, "{last:?}");
    assert!(last.last_error.is_none(), "{last:?}");
    assert_eq!(
        last.identity.map(|id| id.to_string()),
        Some(web_id("default", "web"))
    );
}
