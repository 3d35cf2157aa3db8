//! The renewal loop: fetch a certificate at start, renew it at half its remaining lifetime
//! (with jitter), back off while Citadel is away, and report each step on a `watch` channel.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_spiffe::{SpiffeId, Svid};
use rustls_pki_types::UnixTime;
use tokio::sync::{Notify, watch};

use crate::key::{KeyError, WorkloadKey};
use crate::schedule::{renew_delay, retry_delay};
use crate::signer::{Credential, CredentialSource, SignError, SignRequest, Signer};
use crate::store::{CertStore, IssueError, Issued};

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
    credential: Option<Arc<dyn CredentialSource>>,
    requested: Option<SpiffeId>,
    clock: Arc<dyn Clock>,
    status: watch::Sender<CertStatus>,
    rng: fastrand::Rng,
    early: Option<Arc<Notify>>,
}

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        UnixTime::now()
    }
}

impl Renewer {
    /// A renewer for `store`; `credential` is used when no valid certificate is held (first
    /// issuance, or after expiry), renewal otherwise authenticates with the current certificate.
    /// Without a credential, first issuance fails with [`SignError::NoCredential`] unless the
    /// signer [needs none](Signer::needs_credential).
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
            credential: credential.map(|c| Arc::new(c) as Arc<dyn CredentialSource>),
            requested: None,
            clock,
            status,
            rng: fastrand::Rng::new(),
            early: None,
        };
        (renewer, rx)
    }

    /// Reads the credential from `source` at each issuance that needs one, instead of the fixed
    /// credential given to [`Renewer::new`]: Nomad and Kubernetes rotate their tokens in
    /// place, and after an expiry an operator may leave a new bootstrap token.
    #[must_use]
    pub fn credential_source(mut self, source: Arc<dyn CredentialSource>) -> Self {
        self.credential = Some(source);
        self
    }

    /// Puts `id` in CSRs, for information only (Citadel decides the identity).
    pub fn requested_identity(mut self, id: SpiffeId) -> Self {
        self.requested = Some(id);
        self
    }

    /// Renews at once whenever `early` is notified, besides the schedule: an ingress gateway
    /// asks when the hosts its certificate must name change.
    #[must_use]
    pub fn renew_on(mut self, early: Arc<Notify>) -> Self {
        self.early = Some(early);
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
                    // Just installed: now is when the certificate was received.
                    let now = self.clock.now();
                    let wait = renew_delay(svid.not_before, svid.not_after, now, now, sample);
                    tracing::info!(id = %svid.id, renew_in = ?wait, "workload certificate renewed");
                    wait
                }
                Err(err) => {
                    failures = failures.saturating_add(1);
                    let wait = retry_delay(failures, self.remaining());
                    tracing::warn!(error = %err, failures, retry_in = ?wait, "getting a workload certificate failed");
                    self.report(Some(err.to_string()), failures);
                    wait
                }
            };
            match &self.early {
                None => tokio::time::sleep(wait).await,
                Some(early) => {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = early.notified() => {
                            tracing::info!("renewing the workload certificate early, as asked");
                        }
                    }
                }
            }
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
        let credential = match (&self.credential, holds_valid) {
            (_, true) => None,
            (Some(source), false) => Some(source.credential()?),
            // A signer inside Citadel's process knows its caller; any other needs a credential.
            (None, false) if !self.signer.needs_credential() => None,
            (None, false) => return Err(SignError::NoCredential.into()),
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

    /// How long the held certificate stays valid, if one is held and valid.
    fn remaining(&self) -> Option<Duration> {
        let now = self.clock.now().as_secs();
        self.store
            .svid()
            .map(|svid| Duration::from_secs(svid.not_after.saturating_sub(now)))
            .filter(|left| !left.is_zero())
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
