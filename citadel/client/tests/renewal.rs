//! The renewal loop against a fake signer, on tokio's paused clock: readiness, renewal at half
//! life (also of leaves backdated as Citadel backdates them), renewal without a token, backoff
//! while Citadel is away, and signers that need no credential.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rigging_citadel_client::{
    CertStatus, CertStore, Clock, Credential, INITIAL_BACKOFF, Renewer, SignError, SignFuture,
    SignRequest, Signed, Signer,
};
use rigging_mesh_spiffe::TrustBundle;
use rigging_mesh_spiffe::test_pki::TestCa;
use rustls::client::ResolvesClientCert;
use rustls_pki_types::UnixTime;
use tokio::time::Instant;

const WEB: &str = "spiffe://rigging.local/ns/default/dc/dc1/svc/web";
/// A short TTL, as in the rotation-under-load tests of the issue.
const TTL: Duration = Duration::from_secs(60);
/// How far Citadel sets notBefore in the past (`CLOCK_SKEW_BACKDATE`).
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// Wall-clock time that moves with tokio's (paused) clock.
#[derive(Debug)]
struct TokioClock {
    wall: Duration,
    start: Instant,
}

/// A Citadel stand-in: signs every CSR as `WEB` for `TTL` (notBefore `backdate` before now),
/// after failing `fail_first` times.
#[derive(Debug)]
struct FakeSigner {
    ca: TestCa,
    clock: Arc<TokioClock>,
    backdate: Duration,
    needs_credential: bool,
    fail_first: AtomicU32,
    /// When each call came, since the start, and whether it carried a credential.
    calls: Mutex<Vec<(Duration, bool)>>,
}

impl Clock for TokioClock {
    fn now(&self) -> UnixTime {
        UnixTime::since_unix_epoch(self.wall + self.start.elapsed())
    }
}

impl FakeSigner {
    fn sign_now(&self, request: SignRequest) -> Result<Signed, SignError> {
        self.calls
            .lock()
            .map_err(|e| SignError::Other(e.to_string()))?
            .push((self.clock.start.elapsed(), request.credential.is_some()));
        let left = self.fail_first.load(Ordering::SeqCst);
        if left > 0 {
            self.fail_first.store(left - 1, Ordering::SeqCst);
            return Err(SignError::Unreachable {
                endpoint: "fake".into(),
                source: "connection refused".into(),
            });
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(self.clock.now().as_secs());
        let leaf = self
            .ca
            .sign_csr(&request.csr_der, WEB, now - self.backdate, now + TTL)
            .map_err(|e| SignError::Other(e.to_string()))?;
        Ok(Signed {
            chain: vec![leaf],
            trust_bundle: vec![self.ca.root()],
        })
    }

    fn calls(&self) -> Vec<(Duration, bool)> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

impl Signer for FakeSigner {
    fn sign(&self, request: SignRequest) -> SignFuture<'_> {
        let result = self.sign_now(request);
        Box::pin(async move { result })
    }

    fn needs_credential(&self) -> bool {
        self.needs_credential
    }
}

struct Setup {
    store: Arc<CertStore>,
    signer: Arc<FakeSigner>,
    status: tokio::sync::watch::Receiver<CertStatus>,
    early: Arc<tokio::sync::Notify>,
}

/// How the fake Citadel and the renewer are set up.
struct Options {
    fail_first: u32,
    backdate: Duration,
    credential: Option<Credential>,
    needs_credential: bool,
}

fn start(fail_first: u32) -> anyhow::Result<Setup> {
    start_with(Options {
        fail_first,
        backdate: Duration::ZERO,
        credential: Some(Credential::BootstrapToken("one-time".into())),
        needs_credential: true,
    })
}

fn start_with(options: Options) -> anyhow::Result<Setup> {
    let ca = TestCa::new("citadel root")?;
    let store = Arc::new(CertStore::new(TrustBundle::new(vec![ca.root()])?));
    let clock = Arc::new(TokioClock {
        wall: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?,
        start: Instant::now(),
    });
    let signer = Arc::new(FakeSigner {
        ca,
        clock: clock.clone(),
        backdate: options.backdate,
        needs_credential: options.needs_credential,
        fail_first: AtomicU32::new(options.fail_first),
        calls: Mutex::new(Vec::new()),
    });
    let (renewer, status) = Renewer::new(store.clone(), signer.clone(), options.credential, clock);
    let early = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(renewer.jitter_seed(7).renew_on(early.clone()).run());
    Ok(Setup {
        store,
        signer,
        status,
        early,
    })
}

/// Asserts every gap between Sign calls is half of `TTL` ±10% (in whole seconds).
fn assert_half_life_gaps(calls: &[(Duration, bool)]) {
    for pair in calls.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_secs(26) && gap <= Duration::from_secs(34),
            "renewal gap {gap:?} is not half of {TTL:?} ±10%: {calls:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn not_ready_before_the_first_certificate() -> anyhow::Result<()> {
    let mut s = start(u32::MAX)?;
    assert!(!s.status.borrow().ready);
    s.status.changed().await?;
    let status = s.status.borrow().clone();
    assert!(!status.ready);
    assert!(status.identity.is_none());
    assert!(status.last_error.is_some_and(|e| e.contains("unreachable")));
    assert!(s.store.certified_key().is_none());
    assert!(!ResolvesClientCert::has_certs(&*s.store));
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn first_certificate_makes_ready() -> anyhow::Result<()> {
    let mut s = start(0)?;
    let status = s.status.wait_for(|st| st.ready).await?.clone();
    assert_eq!(
        status.identity.map(|id| id.to_string()).as_deref(),
        Some(WEB)
    );
    assert!(status.last_error.is_none());
    assert!(s.store.certified_key().is_some());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn renews_at_half_life_with_jitter_and_without_a_token() -> anyhow::Result<()> {
    let s = start(0)?;
    tokio::time::sleep(TTL * 3).await;
    let calls = s.signer.calls();
    assert!(calls.len() >= 5, "{calls:?}");
    assert_eq!(
        calls[0],
        (Duration::ZERO, true),
        "first issuance uses the token"
    );
    assert_half_life_gaps(&calls);
    assert!(
        calls[1..].iter().all(|c| !c.1),
        "renewal must not send a token: {calls:?}"
    );
    assert!(s.status.borrow().ready);
    Ok(())
}

/// Asked to (an ingress gateway whose hosts changed), the renewer issues at once, then goes
/// back to renewing at half-life.
#[tokio::test(start_paused = true)]
async fn renews_early_when_asked() -> anyhow::Result<()> {
    let s = start(0)?;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(s.signer.calls().len(), 1);
    s.early.notify_one();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let calls = s.signer.calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[1].0, Duration::from_secs(5));
    tokio::time::sleep(TTL).await;
    let calls = s.signer.calls();
    assert!(calls.len() >= 3, "{calls:?}");
    assert_half_life_gaps(&calls[1..]);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_backdated_short_leaf_renews_at_half_its_remaining_life_not_in_a_loop()
-> anyhow::Result<()> {
    let s = start_with(Options {
        fail_first: 0,
        backdate: BACKDATE,
        credential: Some(Credential::BootstrapToken("one-time".into())),
        needs_credential: true,
    })?;
    tokio::time::sleep(TTL * 3).await;
    let calls = s.signer.calls();
    // t=0, then about every 30 s: 6 or 7 calls in 180 s, not thousands.
    assert!((5..=7).contains(&calls.len()), "{calls:?}");
    assert_half_life_gaps(&calls);
    assert!(s.status.borrow().ready);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn without_a_credential_a_signer_that_needs_one_is_not_called() -> anyhow::Result<()> {
    let mut s = start_with(Options {
        fail_first: 0,
        backdate: Duration::ZERO,
        credential: None,
        needs_credential: true,
    })?;
    let status = s
        .status
        .wait_for(|st| st.consecutive_failures > 0)
        .await?
        .clone();
    assert!(
        status
            .last_error
            .as_ref()
            .is_some_and(|e| e.contains("no credential")),
        "{status:?}"
    );
    assert!(s.signer.calls().is_empty());
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_signer_that_needs_no_credential_issues_and_renews_without_one() -> anyhow::Result<()> {
    let mut s = start_with(Options {
        fail_first: 0,
        backdate: BACKDATE,
        credential: None,
        needs_credential: false,
    })?;
    s.status.wait_for(|st| st.ready).await?;
    tokio::time::sleep(TTL * 2).await;
    let calls = s.signer.calls();
    assert!(calls.len() >= 4, "{calls:?}");
    assert!(calls.iter().all(|c| !c.1), "{calls:?}");
    assert_half_life_gaps(&calls);
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn backs_off_exponentially_while_the_signer_fails() -> anyhow::Result<()> {
    let mut s = start(5)?;
    let status = s.status.wait_for(|st| st.ready).await?.clone();
    assert_eq!(status.consecutive_failures, 0);
    let calls = s.signer.calls();
    assert_eq!(calls.len(), 6, "{calls:?}");
    let gaps: Vec<Duration> = calls.windows(2).map(|p| p[1].0 - p[0].0).collect();
    let want: Vec<Duration> = (0..5).map(|n| INITIAL_BACKOFF * 2u32.pow(n)).collect();
    assert_eq!(gaps, want);
    assert!(
        calls.iter().all(|c| c.1),
        "no cert yet: every try carries the token"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn failures_are_reported_and_cleared() -> anyhow::Result<()> {
    let mut s = start(2)?;
    let failing = s
        .status
        .wait_for(|st| st.consecutive_failures == 2)
        .await?
        .clone();
    assert!(!failing.ready && failing.last_error.is_some());
    let ok = s.status.wait_for(|st| st.ready).await?.clone();
    assert!(ok.last_error.is_none());
    Ok(())
}
