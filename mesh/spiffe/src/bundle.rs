//! Trust bundles: the set of roots an SVID chain may end in, swappable at runtime.
//!
//! A bundle holds several roots at once so that a root rotation is three steps (add the new
//! root, switch the signer, drop the old root) with no restart: verifiers read the current
//! bundle on every handshake through a [`SharedBundle`].

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, TrustAnchor};

/// An immutable set of trusted roots.
#[derive(Clone)]
pub struct TrustBundle {
    roots: Vec<CertificateDer<'static>>,
    anchors: Vec<TrustAnchor<'static>>,
}

/// A trust bundle that can be replaced while verifiers hold it; clones share the same slot.
#[derive(Clone)]
pub struct SharedBundle(Arc<ArcSwap<TrustBundle>>);

/// Why a set of certificates cannot be a trust bundle.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    #[error("trust bundle has no roots")]
    Empty,
    #[error("trust bundle root #{index} is not a usable trust anchor")]
    BadRoot {
        index: usize,
        #[source]
        source: webpki::Error,
    },
    #[error("trust bundle pem is not valid")]
    Pem(#[source] rustls_pki_types::pem::Error),
}

impl TrustBundle {
    /// A bundle of these roots (DER); at least one, each a parseable certificate.
    pub fn new(roots: Vec<CertificateDer<'static>>) -> Result<Self, BundleError> {
        if roots.is_empty() {
            return Err(BundleError::Empty);
        }
        let anchors = roots
            .iter()
            .enumerate()
            .map(|(index, root)| {
                webpki::anchor_from_trusted_cert(root)
                    .map(|a| a.to_owned())
                    .map_err(|source| BundleError::BadRoot { index, source })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { roots, anchors })
    }

    /// A bundle of every `CERTIFICATE` block in a PEM document.
    pub fn from_pem(pem: &[u8]) -> Result<Self, BundleError> {
        let roots = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(BundleError::Pem)?;
        Self::new(roots)
    }

    /// The roots, in DER, in the order given.
    pub fn roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    pub(crate) fn anchors(&self) -> &[TrustAnchor<'static>] {
        &self.anchors
    }
}

impl SharedBundle {
    /// A shared slot holding `bundle`.
    pub fn new(bundle: TrustBundle) -> Self {
        Self(Arc::new(ArcSwap::from_pointee(bundle)))
    }

    /// The current bundle; later swaps do not change what this returns.
    pub fn load(&self) -> Arc<TrustBundle> {
        self.0.load_full()
    }

    /// Replaces the bundle for every verifier sharing this slot; handshakes already past
    /// verification are not affected.
    pub fn store(&self, bundle: TrustBundle) {
        tracing::info!(roots = bundle.roots.len(), "trust bundle replaced");
        self.0.store(Arc::new(bundle));
    }
}

impl fmt::Debug for TrustBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustBundle")
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl fmt::Debug for SharedBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SharedBundle")
            .field(&*self.0.load())
            .finish()
    }
}
