//! SPIFFE identities for Rigging: IDs, the X.509-SVID rules, and rustls verifiers over a swappable trust bundle.
//!
//! Everything here is safe by default: there is no way to skip chain verification or the SVID
//! rules. `mesh/*` crates depend on no part; the proxy, Pilot and Citadel all build on this.

pub mod bundle;
pub mod config;
pub mod id;
pub mod svid;
#[cfg(feature = "test-pki")]
pub mod test_pki;
pub mod verifier;

pub use bundle::{BundleError, SharedBundle, TrustBundle};
pub use id::{IdError, SpiffeId, TrustDomain};
pub use svid::{Svid, SvidError, svid_id, verify_svid};
pub use verifier::{
    ExpectedPeer, PeerError, SvidClientVerifier, SvidServerVerifier, peer_spiffe_id,
};
