//! The HTTP client: Nomad's CA as the only root when given, a client identity, and a fixed
//! server name checked against that CA (`NOMAD_TLS_SERVER_NAME`).

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::ConfigError;
use crate::config::{CONNECT_TIMEOUT, TlsConfig};

/// Builds the pooled HTTP client for `tls`.
///
/// Without a CA file reqwest's own rustls setup (the webpki roots) is used; with one, a rustls
/// config that trusts that CA only, so a public CA cannot vouch for a Nomad server.
pub(crate) fn http_client(tls: &TlsConfig) -> Result<reqwest::Client, ConfigError> {
    tls.check()?;
    let mut builder = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("rigging/", env!("CARGO_PKG_VERSION")));
    match &tls.ca_file {
        Some(ca) => builder = builder.use_preconfigured_tls(rustls_config(tls, ca)?),
        None => {
            if let (Some(cert), Some(key)) = (&tls.client_cert, &tls.client_key) {
                let mut pem = read_identity_file(cert)?;
                pem.push(b'\n');
                pem.extend(read_identity_file(key)?);
                let identity =
                    reqwest::Identity::from_pem(&pem).map_err(|e| ConfigError::ClientIdentity {
                        cert: cert.clone(),
                        reason: e.to_string(),
                    })?;
                builder = builder.identity(identity);
            }
        }
    }
    builder.build().map_err(ConfigError::Client)
}

fn rustls_config(tls: &TlsConfig, ca: &Path) -> Result<rustls::ClientConfig, ConfigError> {
    let pem = std::fs::read(ca).map_err(|source| ConfigError::CaFile {
        path: ca.to_owned(),
        source,
    })?;
    let bad_ca = |reason: String| ConfigError::CaCertificate {
        path: ca.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad_ca(e.to_string()))?;
        roots.add(cert).map_err(|e| bad_ca(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ConfigError::EmptyCaFile {
            path: ca.to_owned(),
        });
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki =
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
            .build()
            .map_err(|e| ConfigError::Tls(e.to_string()))?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ConfigError::Tls(e.to_string()))?;
    let builder = match &tls.server_name {
        Some(name) => {
            let name = ServerName::try_from(name.clone())
                .map_err(|_| ConfigError::ServerName(name.clone()))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(FixedName { webpki, name }))
        }
        None => builder.with_webpki_verifier(webpki),
    };
    match (&tls.client_cert, &tls.client_key) {
        (Some(cert), Some(key)) => {
            let bad = |reason: String| ConfigError::ClientIdentity {
                cert: cert.clone(),
                reason,
            };
            let certs = CertificateDer::pem_slice_iter(&read_identity_file(cert)?)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(e.to_string()))?;
            let key = PrivateKeyDer::from_pem_slice(&read_identity_file(key)?)
                .map_err(|e| bad(e.to_string()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| bad(e.to_string()))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_identity_file(path: &Path) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(path).map_err(|source| ConfigError::ClientIdentityFile {
        path: path.to_owned(),
        source,
    })
}

/// Full WebPKI verification against the configured CA, of the configured name instead of the
/// address's host: what Go's `tls.Config.ServerName` does for the `nomad` CLI. Nothing is
/// skipped; only the name compared changes.
#[derive(Debug)]
struct FixedName {
    webpki: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for FixedName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.webpki
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}
