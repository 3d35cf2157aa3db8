//! Citadel's server: the `rigging.citadel.v1.Citadel` gRPC service over TLS, and the
//! authenticators that turn a workload's credential into the one SPIFFE ID it may receive.
//!
//! The identity always comes from the credential — a one-time bootstrap token, a Nomad
//! workload identity JWT, a Kubernetes service-account token, or (for renewal) the caller's
//! still-valid mTLS certificate — and never from the CSR. Every refusal answers
//! `UNAUTHENTICATED` with no detail and logs the real reason. Likewise any DNS names a
//! certificate carries (an ingress gateway's TLS hosts) come from a [`DnsNames`] hook given
//! to [`CitadelServer::with_dns_names`], never from the CSR.
//!
//! A component in Citadel's own process gets its certificate from a [`LocalSigner`] instead,
//! bound to one identity by the code that builds it from [`CitadelServer::local_signer`].

mod auth;
mod bootstrap;
mod dns;
mod handle;
mod jwks;
mod jwt;
mod local;
mod renewal;
mod server;
mod service;
mod tls;

pub use auth::{
    AuthError, Authenticator, Clock, Credential, CredentialKind, DEFAULT_NAMESPACE, IdentityLayout,
    SystemClock,
};
pub use bootstrap::{BootstrapAuthenticator, TokenError, TokenStore};
pub use dns::DnsNames;
pub use handle::AuthorityHandle;
pub use jwks::{JwksError, JwksOptions, JwksSource};
pub use jwt::{ClaimsMapping, DEFAULT_JWT_LEEWAY, JwtAuthenticator, JwtConfig};
pub use local::{LocalSigner, LocalSignerError};
pub use renewal::RenewalAuthenticator;
pub use server::{
    CITADEL_DNS_NAME, CitadelConfig, CitadelServer, DEFAULT_RELOAD_INTERVAL, ServeError,
};
