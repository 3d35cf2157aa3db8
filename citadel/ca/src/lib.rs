//! Citadel's certificate authority: issues SPIFFE X.509-SVIDs for identities an authenticator
//! has already proven, and keeps its roots in a state folder so they can be rotated.
//!
//! Issuing is pure: time comes in as a parameter and nothing here reads the clock or the
//! network. The only I/O is the explicit [`CaStore`] over a state folder.

mod authority;
mod csr;
mod dns;
mod store;

pub use authority::{
    Authority, CLOCK_SKEW_BACKDATE, DEFAULT_LEAF_TTL, IssueError, IssuedCert, LeafTtl,
    MAX_LEAF_TTL, MIN_LEAF_TTL, ROOT_TTL, RootError, RootId, SigningRoot,
};
pub use csr::{CsrError, check_csr};
pub use dns::{DnsNameError, MAX_DNS_LABEL_LEN, MAX_DNS_NAME_LEN, RESERVED_DOMAIN, check_dns_name};
pub use rigging_mesh_spiffe::{SpiffeId, TrustDomain};
pub use store::{CaStore, StoreError};
