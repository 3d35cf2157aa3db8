//! The proxy's side of mesh mTLS: rustls configs built over the workload certificate that
//! Citadel issued (and renews in place), telling TLS from plaintext on a permissive port, the
//! stream type both directions share, and the caller's identity as a request header.
//!
//! Every mesh config here is TLS 1.3 only with SVID verifiers from `rigging-mesh-spiffe`; TLS
//! to services outside the mesh (a terminating gateway's) checks the server's chain against
//! the configured CA file. There is no way to build a config that skips verification.

mod mesh;
mod origination;
mod public;
mod send;
mod sniff;
mod stream;
mod xfcc;

pub use mesh::{HANDSHAKE_TIMEOUT, MeshTls, TlsError};
pub use origination::{OriginationFiles, origination_config};
pub use public::{PublicParams, SniCertificates, public_server_config};
pub use rigging_mesh_spiffe::SpiffeId;
pub use sniff::{SNIFF_TIMEOUT, Sniffed, sniff};
pub use stream::MeshStream;
pub use xfcc::{XFCC, xfcc_value};
