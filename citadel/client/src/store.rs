//! The certificate a workload holds right now, read by rustls on every handshake: a renewal
//! swaps it without rebuilding configs or touching established connections.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use rigging_mesh_spiffe::{
    ExpectedPeer, SharedBundle, SpiffeId, Svid, SvidServerVerifier, TrustBundle, verify_svid,
};
use rustls::SignatureScheme;
use rustls::client::ResolvesClientCert;
use rustls::client::danger::ServerCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::{ServerName, UnixTime};

use crate::key::WorkloadKey;
use crate::signer::Signed;

/// The current SVID and key (none before the first issuance) and the trust bundle.
///
/// Share it as `Arc<CertStore>`: it is the `ResolvesClientCert` and `ResolvesServerCert` of
/// every mesh rustls config, and its [`bundle`](Self::bundle) feeds the SVID verifiers.
pub struct CertStore {
    current: ArcSwapOption<Held>,
    bundle: SharedBundle,
}

/// A certificate Citadel issued for our key, checked and ready to install.
pub struct Issued {
    held: Held,
    bundle: TrustBundle,
}

struct Held {
    key: Arc<CertifiedKey>,
    svid: Svid,
}

/// Why an issued certificate is not installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssueError {
    #[error("issued chain is empty")]
    EmptyChain,
    #[error("issued trust bundle is unusable")]
    Bundle(#[from] rigging_mesh_spiffe::BundleError),
    #[error("issued leaf breaks the svid rules")]
    Svid(#[from] rigging_mesh_spiffe::SvidError),
    #[error("issued chain does not verify against the issued trust bundle")]
    Chain(#[source] rustls::Error),
    #[error("issued leaf is not for our key")]
    KeyMismatch(#[source] rustls::Error),
}

impl Issued {
    /// Checks Citadel's answer for `key` at `now`: the leaf is a valid SVID, the chain leads to a
    /// root of the returned bundle, and the certificate carries our public key.
    pub fn verify(key: WorkloadKey, signed: Signed, now: UnixTime) -> Result<Self, IssueError> {
        let leaf = signed.chain.first().ok_or(IssueError::EmptyChain)?;
        let svid = verify_svid(leaf, now)?;
        let bundle = TrustBundle::new(signed.trust_bundle)?;
        let verifier = SvidServerVerifier::new(
            SharedBundle::new(bundle.clone()),
            ExpectedPeer::TrustDomain(svid.id.trust_domain()),
        );
        // The name is ignored by the SVID verifier; it needs one to have the trait's shape.
        let name = ServerName::try_from("svid.invalid").map_err(|_| {
            IssueError::Chain(rustls::Error::General("bad placeholder name".into()))
        })?;
        verifier
            .verify_server_cert(leaf, &signed.chain[1..], &name, &[], now)
            .map_err(IssueError::Chain)?;
        let certified = CertifiedKey::new(signed.chain, key.signer());
        certified.keys_match().map_err(IssueError::KeyMismatch)?;
        Ok(Self {
            held: Held {
                key: Arc::new(certified),
                svid,
            },
            bundle,
        })
    }

    /// What the issued certificate says.
    pub fn svid(&self) -> &Svid {
        &self.held.svid
    }
}

impl CertStore {
    /// An empty store whose bundle starts as `bundle` (the roots Citadel is trusted by).
    pub fn new(bundle: TrustBundle) -> Self {
        Self {
            current: ArcSwapOption::empty(),
            bundle: SharedBundle::new(bundle),
        }
    }

    /// Installs an issued certificate and its trust bundle; new handshakes use them.
    pub fn install(&self, issued: Issued) {
        tracing::info!(
            id = %issued.held.svid.id,
            not_after = issued.held.svid.not_after,
            "workload certificate installed"
        );
        self.bundle.store(issued.bundle);
        self.current.store(Some(Arc::new(issued.held)));
    }

    /// The current certificate and key, as rustls serves them.
    pub fn certified_key(&self) -> Option<Arc<CertifiedKey>> {
        self.current.load().as_ref().map(|h| h.key.clone())
    }

    /// The current SVID's facts.
    pub fn svid(&self) -> Option<Svid> {
        self.current.load().as_ref().map(|h| h.svid.clone())
    }

    /// The current identity.
    pub fn identity(&self) -> Option<SpiffeId> {
        self.current.load().as_ref().map(|h| h.svid.id.clone())
    }

    /// The trust bundle the mesh verifiers should read.
    pub fn bundle(&self) -> &SharedBundle {
        &self.bundle
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.certified_key()
    }
}

impl ResolvesClientCert for CertStore {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        self.certified_key()
    }

    fn has_certs(&self) -> bool {
        self.current.load().is_some()
    }
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("identity", &self.identity())
            .field("bundle", &self.bundle)
            .finish()
    }
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("svid", &self.held.svid)
            .finish_non_exhaustive()
    }
}
