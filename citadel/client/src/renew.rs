//! The renewal loop: fetch a certificate at start, renew it at half its lifetime (with jitter),
//! back off while Citadel is away, and report each step on a `watch` channel.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_spiffe::{SpiffeId, Svid};
use rustls_pki_types::UnixTime;
use tokio::sync::watch;

use crate::key::{KeyError, WorkloadKey};
use crate::signer::{Credential, SignError, SignRequest, Signer};
use crate::store::{CertStore, IssueError, Issued};

/// Renew at half the lifetime: a renewal that fails still leaves half a TTL to retry in.
pub const RENEW_AT_FRACTION: f64 = 0.5;
/// ±10% around the renewal point, so proxies started together do not all renew together.
pub const RENEW_JITTER: f64 = 0.1;
/// First retry soon after a failure: most failures (a Citadel restart) are short.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Each consecutive failure doubles the wait, sparing a Citadel that is coming back.
pub const BACKOFF_FACTOR: u32 = 2;
/// Never wait longer than this between tries: small against a 24 h (or 60 s test) TTL's half.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Wall-clock time for certificate validity; injected so tests can move it with tokio's clock.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, as certificates count time.
    fn now(&self) -> UnixTime;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

/// What the workload's certificate is doing, for readiness and `rig status`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CertStatus {
    /// A certificate is held and not expired: the proxy may serve.
    pub ready: bool,
    /// The identity of the held certificate.
    pub identity: Option<SpiffeId>,
    /// The held certificate's notAfter, seconds since the Unix epoch.
    pub not_after: Option<u64>,
    /// The last failure to get a certificate, cleared by a success.
    pub last_error: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
}

/// Why one issuance failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RenewError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Sign(#[from] SignError),
    #[error(transparent)]
    Issue(#[from] IssueError),
}

/// Keeps a [`CertStore`] filled with a fresh certificate from a [`Signer`].
#[derive(Debug)]
pub struct Renewer {
    store: Arc<CertStore>,
    signer: Arc<dyn Signer>,
    credential: Option<Credential>,
    requested: Option<SpiffeId>,
    clock: Arc<dyn Clock>,
    status: watch::Sender<CertStatus>,
    rng: fastrand::Rng,
}

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

impl Renewer {
    /// A renewer for `store`; `credential` is used when no valid certificate is held (first
    /// issuance, or after expiry), renewal otherwise authenticates with the current certificate.
    pub fn new(
        store: Arc<CertStore>,
        signer: Arc<dyn Signer>,
        credential: Option<Credential>,
        clock: Arc<dyn Clock>,
    ) -> (Self, watch::Receiver<CertStatus>) {
        let (status, rx) = watch::channel(CertStatus::default());
        let renewer = Self {
            store,
            signer,
            credential,
            requested: None,
            clock,
            status,
            rng: fastrand::Rng::new(),
        };
        (renewer, rx)
    }

    /// Puts `id` in CSRs, for information only (Citadel decides the identity).
    pub fn requested_identity(mut self, id: SpiffeId) -> Self {
        self.requested = Some(id);
        self
    }

    /// Seeds the jitter, for reproducible tests.
    pub fn jitter_seed(mut self, seed: u64) -> Self {
        self.rng = fastrand::Rng::with_seed(seed);
        self
    }

    /// Runs forever: issue, sleep until the renewal point, renew; back off on failure.
    pub async fn run(mut self) {
        let mut failures: u32 = 0;
        loop {
            let wait = match self.renew_once().await {
                Ok(svid) => {
                    failures = 0;
                    let sample = self.rng.f64() * 2.0 - 1.0;
                    let wait =
                        renew_delay(svid.not_before, svid.not_after, self.clock.now(), sample);
                    tracing::info!(id = %svid.id, renew_in = ?wait, "workload certificate renewed");
                    wait
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let wait = backoff(failures);
                    tracing::warn!(error = %err, failures, retry_in = ?wait, "getting a workload certificate failed");
                    self.report(Some(err.to_string()), failures);
                    wait
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// One issuance: a new key, a CSR, `Sign`, checks, install.
    pub async fn renew_once(&mut self) -> Result<Svid, RenewError> {
        let key = WorkloadKey::generate()?;
        let csr_der = key.csr(self.requested.as_ref())?;
        let now = self.clock.now();
        let holds_valid = self
            .store
            .svid()
            .is_some_and(|svid| svid.not_after > now.as_secs());
        let credential = if holds_valid {
            None
        } else {
            Some(self.credential.clone().ok_or(SignError::NoCredential)?)
        };
        let signed = self
            .signer
            .sign(SignRequest {
                csr_der,
                credential,
            })
            .await?;
        let issued = Issued::verify(key, signed, self.clock.now())?;
        let svid = issued.svid().clone();
        self.store.install(issued);
        self.report(None, 0);
        Ok(svid)
    }

    fn report(&self, last_error: Option<String>, consecutive_failures: u32) {
        let svid = self.store.svid();
        let now = self.clock.now().as_secs();
        self.status.send_replace(CertStatus {
            ready: svid.as_ref().is_some_and(|s| s.not_after > now),
            identity: svid.as_ref().map(|s| s.id.clone()),
            not_after: svid.as_ref().map(|s| s.not_after),
            last_error,
            consecutive_failures,
        });
    }
}

/// How long from `now` until a certificate valid in `[not_before, not_after]` (Unix seconds)
/// should be renewed: at half its lifetime, moved by `sample` (in -1..=1) times the jitter.
pub fn renew_delay(not_before: u64, not_after: u64, now: UnixTime, sample: f64) -> Duration {
    let lifetime = not_after.saturating_sub(not_before) as f64;
    let fraction = RENEW_AT_FRACTION * (1.0 + RENEW_JITTER * sample.clamp(-1.0, 1.0));
    let at = not_before as f64 + lifetime * fraction;
    Duration::from_secs_f64((at - now.as_secs() as f64).max(0.0))
}

/// The wait after `failures` consecutive failures (1 or more).
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    INITIAL_BACKOFF
        .saturating_mul(BACKOFF_FACTOR.saturating_pow(doublings))
        .min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), INITIAL_BACKOFF);
        assert_eq!(backoff(2), INITIAL_BACKOFF * 2);
        assert_eq!(backoff(3), INITIAL_BACKOFF * 4);
        assert_eq!(backoff(100), MAX_BACKOFF);
        assert!((1..200).all(|n| backoff(n) <= backoff(n + 1)));
    }

    #[test]
    fn renewal_is_at_half_life_within_the_jitter() {
        let now = UnixTime::since_unix_epoch(Duration::from_secs(1_000));
        let at = |sample| renew_delay(1_000, 1_000 + 86_400, now, sample);
        assert_eq!(at(0.0), Duration::from_secs(43_200));
        assert_eq!(at(-1.0), Duration::from_secs(38_880));
        assert_eq!(at(1.0), Duration::from_secs(47_520));
        let late = UnixTime::since_unix_epoch(Duration::from_secs(1_000 + 50_000));
        assert_eq!(
            renew_delay(1_000, 1_000 + 86_400, late, 0.0),
            Duration::ZERO
        );
    }
}
