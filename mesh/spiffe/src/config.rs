//! rustls configs for mesh mTLS: TLS 1.3 only, the `ring` provider, SVID verifiers, ALPN h2
//! and http/1.1.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::server::ResolvesServerCert;
use rustls::{ClientConfig, ServerConfig};

use crate::verifier::{SvidClientVerifier, SvidServerVerifier};

/// ALPN offered and accepted between proxies, most preferred first: h2 lets gRPC and HTTP/2
/// through unchanged, http/1.1 carries the rest.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The crypto provider of the mesh: `ring` (not aws-lc), the one tonic's `tls-ring` uses too.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// An outbound mTLS config: presents the resolver's SVID, accepts what `verifier` accepts.
pub fn client_config(
    verifier: Arc<SvidServerVerifier>,
    certs: Arc<dyn ResolvesClientCert>,
) -> Result<ClientConfig, rustls::Error> {
    // `dangerous()` is rustls' door for any verifier other than its WebPKI one; ours still
    // verifies the chain with webpki, and the SVID rules on top.
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(certs);
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// An inbound mTLS config: presents the resolver's SVID and requires a client SVID.
pub fn server_config(
    verifier: Arc<SvidClientVerifier>,
    certs: Arc<dyn ResolvesServerCert>,
) -> Result<ServerConfig, rustls::Error> {
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(certs);
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
