//! Trust bundle refresh: a workload asks Citadel for the current roots every so often, so the
//! first step of a root rotation (a new root joins the bundle) reaches it well before the
//! second (the new root starts signing), instead of only at its next renewal.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use rigging_mesh_spiffe::{BundleError, TrustBundle};
use rustls_pki_types::CertificateDer;
use tokio::time::MissedTickBehavior;

use crate::signer::SignError;
use crate::store::CertStore;

/// How often the bundle is fetched by default: a rotation's first step reaches every workload
/// within half a minute, at one small unauthenticated call per workload per interval.
pub const DEFAULT_BUNDLE_REFRESH: Duration = Duration::from_secs(30);

/// The boxed future a [`BundleSource`] returns: every root of the trust bundle, DER.
pub type BundleFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Vec<CertificateDer<'static>>, SignError>> + Send + 'a>>;

/// Something that knows the current trust bundle: Citadel's `TrustBundle` over gRPC, Citadel
/// in the same process, or a fake in tests.
pub trait BundleSource: Send + Sync + fmt::Debug {
    /// The roots as the source has them now; checked by the caller before use.
    fn trust_bundle(&self) -> BundleFuture<'_>;
}

/// Why a refresh left the bundle as it was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    #[error("fetching the trust bundle failed")]
    Fetch(#[source] SignError),
    #[error("the fetched trust bundle is unusable")]
    Invalid(#[source] BundleError),
}

/// What a successful refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refreshed {
    /// The fetched roots differ from the held ones and replaced them.
    Replaced { roots: usize },
    /// The fetched roots are the held ones.
    Unchanged,
}

/// Keeps a [`CertStore`]'s trust bundle current by polling a [`BundleSource`].
#[derive(Debug)]
pub struct BundleWatcher {
    store: Arc<CertStore>,
    source: Arc<dyn BundleSource>,
    interval: Duration,
}

impl BundleWatcher {
    /// A watcher that refreshes `store`'s bundle from `source` every
    /// [`DEFAULT_BUNDLE_REFRESH`].
    pub fn new(store: Arc<CertStore>, source: Arc<dyn BundleSource>) -> Self {
        Self {
            store,
            source,
            interval: DEFAULT_BUNDLE_REFRESH,
        }
    }

    /// Refreshes every `every` instead; a zero interval is taken as one millisecond.
    #[must_use]
    pub fn interval(mut self, every: Duration) -> Self {
        // tokio's interval panics on a zero period.
        self.interval = every.max(Duration::from_millis(1));
        self
    }

    /// Fetches the bundle once and installs it if it parses, is not empty and differs from
    /// the held one. On any failure the held bundle stays.
    pub async fn refresh_once(&self) -> Result<Refreshed, RefreshError> {
        let roots = self
            .source
            .trust_bundle()
            .await
            .map_err(RefreshError::Fetch)?;
        let bundle = TrustBundle::new(roots).map_err(RefreshError::Invalid)?;
        if self.store.bundle().load().roots() == bundle.roots() {
            return Ok(Refreshed::Unchanged);
        }
        let roots = bundle.roots().len();
        self.store.bundle().store(bundle);
        Ok(Refreshed::Replaced { roots })
    }

    /// Runs forever: one refresh per interval, the first one interval after the start (the
    /// renewer's first `Sign` brings a bundle too). Failures are logged and retried at the
    /// next tick.
    pub async fn run(self) {
        let start = tokio::time::Instant::now() + self.interval;
        let mut ticker = tokio::time::interval_at(start, self.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.refresh_once().await {
                Ok(Refreshed::Replaced { roots }) => {
                    tracing::info!(roots, "trust bundle refreshed from citadel");
                }
                Ok(Refreshed::Unchanged) => {
                    tracing::debug!("trust bundle unchanged");
                }
                Err(error) => {
                    tracing::warn!(error = %chain(&error), "refreshing the trust bundle failed; keeping the held one");
                }
            }
        }
    }
}

/// An error and its causes, one line, for the log.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}
