//! `BundleWatcher` against a fake source: a new root reaches the store between renewals, and
//! an empty, unparsable or unreachable bundle leaves the held one in place.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rigging_citadel_client::{
    BundleFuture, BundleSource, BundleWatcher, CertStore, DEFAULT_BUNDLE_REFRESH, RefreshError,
    Refreshed, SignError,
};
use rigging_mesh_spiffe::test_pki::TestCa;
use rigging_mesh_spiffe::{BundleError, TrustBundle};
use rustls_pki_types::CertificateDer;

/// What the fake Citadel answers next.
#[derive(Debug, Clone)]
enum Answer {
    Roots(Vec<CertificateDer<'static>>),
    Down,
}

#[derive(Debug)]
struct FakeSource(Mutex<Answer>);

impl FakeSource {
    fn set(&self, answer: Answer) {
        if let Ok(mut a) = self.0.lock() {
            *a = answer;
        }
    }
}

impl BundleSource for FakeSource {
    fn trust_bundle(&self) -> BundleFuture<'_> {
        let answer = self.0.lock().map(|a| a.clone()).unwrap_or(Answer::Down);
        Box::pin(async move {
            match answer {
                Answer::Roots(roots) => Ok(roots),
                Answer::Down => Err(SignError::Unreachable {
                    endpoint: "fake".into(),
                    source: "connection refused".into(),
                }),
            }
        })
    }
}

struct Setup {
    old: TestCa,
    new: TestCa,
    store: Arc<CertStore>,
    source: Arc<FakeSource>,
}

fn setup() -> anyhow::Result<Setup> {
    let old = TestCa::new("root 1")?;
    let new = TestCa::new("root 2")?;
    let store = Arc::new(CertStore::new(TrustBundle::new(vec![old.root()])?));
    let source = Arc::new(FakeSource(Mutex::new(Answer::Roots(vec![old.root()]))));
    Ok(Setup {
        old,
        new,
        store,
        source,
    })
}

fn held(store: &CertStore) -> Vec<CertificateDer<'static>> {
    store.bundle().load().roots().to_vec()
}

#[tokio::test]
async fn a_new_root_is_installed_and_the_same_bundle_is_left_alone() -> anyhow::Result<()> {
    let s = setup()?;
    let watcher = BundleWatcher::new(s.store.clone(), s.source.clone());
    assert_eq!(watcher.refresh_once().await?, Refreshed::Unchanged);
    let both = vec![s.old.root(), s.new.root()];
    s.source.set(Answer::Roots(both.clone()));
    assert_eq!(
        watcher.refresh_once().await?,
        Refreshed::Replaced { roots: 2 }
    );
    assert_eq!(held(&s.store), both);
    Ok(())
}

#[tokio::test]
async fn unusable_bundles_keep_the_held_one() -> anyhow::Result<()> {
    let s = setup()?;
    let watcher = BundleWatcher::new(s.store.clone(), s.source.clone());
    let before = held(&s.store);

    s.source.set(Answer::Roots(Vec::new()));
    let err = watcher.refresh_once().await.err();
    assert!(
        matches!(err, Some(RefreshError::Invalid(BundleError::Empty))),
        "{err:?}"
    );

    s.source.set(Answer::Roots(vec![CertificateDer::from(
        b"not a certificate".to_vec(),
    )]));
    let err = watcher.refresh_once().await.err();
    assert!(
        matches!(
            err,
            Some(RefreshError::Invalid(BundleError::BadRoot { .. }))
        ),
        "{err:?}"
    );

    s.source.set(Answer::Down);
    let err = watcher.refresh_once().await.err();
    assert!(
        matches!(
            err,
            Some(RefreshError::Fetch(SignError::Unreachable { .. }))
        ),
        "{err:?}"
    );

    assert_eq!(held(&s.store), before);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_watcher_refreshes_every_interval() -> anyhow::Result<()> {
    let s = setup()?;
    tokio::spawn(BundleWatcher::new(s.store.clone(), s.source.clone()).run());
    let both = vec![s.old.root(), s.new.root()];
    s.source.set(Answer::Roots(both.clone()));
    tokio::time::sleep(DEFAULT_BUNDLE_REFRESH - Duration::from_secs(1)).await;
    assert_eq!(held(&s.store).len(), 1, "not before the first interval");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(held(&s.store), both);

    // A failure in between keeps the bundle; the next good answer is taken.
    s.source.set(Answer::Roots(Vec::new()));
    tokio::time::sleep(DEFAULT_BUNDLE_REFRESH).await;
    assert_eq!(held(&s.store), both);
    s.source.set(Answer::Roots(vec![s.new.root()]));
    tokio::time::sleep(DEFAULT_BUNDLE_REFRESH).await;
    assert_eq!(held(&s.store), vec![s.new.root()]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn the_interval_is_configurable() -> anyhow::Result<()> {
    let s = setup()?;
    let every = Duration::from_secs(2);
    tokio::spawn(
        BundleWatcher::new(s.store.clone(), s.source.clone())
            .interval(every)
            .run(),
    );
    s.source
        .set(Answer::Roots(vec![s.old.root(), s.new.root()]));
    tokio::time::sleep(every + Duration::from_millis(100)).await;
    assert_eq!(held(&s.store).len(), 2);
    Ok(())
}
