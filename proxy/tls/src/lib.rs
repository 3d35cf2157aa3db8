//! The proxy's side of mesh mTLS: rustls configs built over the workload certificate that
//! Citadel issued (and renews in place), telling TLS from plaintext on a permissive port, the
//! stream type both directions share, and the caller's identity as a request header.
//!
//! Every config here is TLS 1.3 only with SVID verifiers from `rigging-mesh-spiffe`; there is
//! no way to build one that skips verification.

mod mesh;
mod sniff;
mod stream;
mod xfcc;

pub use mesh::{HANDSHAKE_TIMEOUT, MeshTls, TlsError};
pub use rigging_mesh_spiffe::SpiffeId;
pub use sniff::{SNIFF_TIMEOUT, Sniffed, sniff};
pub use stream::MeshStream;
pub use xfcc::{XFCC, xfcc_value};
