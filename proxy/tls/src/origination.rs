//! TLS to services outside the mesh, as a terminating gateway originates it: the server's
//! chain checked against a CA file, its name against the configured DNS names (or none,
//! as Consul does without `SNI`), and optionally a client certificate from files.

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use crate::TlsError;

/// What an origination config is built from: file paths, as the gateway's entry names them.
#[derive(Debug, Clone, Copy)]
pub struct OriginationFiles<'a> {
    pub ca_file: &'a Path,
    /// `(certificate chain, private key)`.
    pub client_certificate: Option<(&'a Path, &'a Path)>,
    /// DNS names one of which the server's certificate must be valid for; empty checks the
    /// chain alone.
    pub verify_names: &'a [String],
    pub alpn: &'a [String],
}

/// Builds the client config of TLS to an external service (TLS 1.2 or 1.3, the `ring`
/// provider). The files are read now, once: a missing or malformed file is an error, so a
/// configuration naming it is refused rather than failing every connection later.
pub fn origination_config(files: OriginationFiles<'_>) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = rigging_mesh_spiffe::config::provider();
    let mut roots = RootCertStore::empty();
    for cert in read_certs(files.ca_file)? {
        roots.add(cert).map_err(|e| TlsError::File {
            path: files.ca_file.display().to_string(),
            reason: format!("not a usable CA certificate: {e}"),
        })?;
    }
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| TlsError::File {
            path: files.ca_file.display().to_string(),
            reason: e.to_string(),
        })?;
    let names = files
        .verify_names
        .iter()
        .map(|n| ServerName::try_from(n.clone()).map_err(|_| TlsError::BadSni(n.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    let verifier = Arc::new(NamesVerifier { inner, names });
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match files.client_certificate {
        Some((chain, key)) => {
            let certs = read_certs(chain)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::File {
                path: key.display().to_string(),
                reason: format!("no PEM private key: {e}"),
            })?;
            builder.with_client_auth_cert(certs, key)?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = files.alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Ok(Arc::new(config))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let file_error = |reason: String| TlsError::File {
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(file_error("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// WebPKI verification of the chain, with the name checked against the configured names
/// instead of the connection's server name (an endpoint's address, when no SNI is set).
#[derive(Debug)]
struct NamesVerifier {
    inner: Arc<WebPkiServerVerifier>,
    names: Vec<ServerName<'static>>,
}

impl ServerCertVerifier for NamesVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verify = |name: &ServerName<'_>| {
            self.inner
                .verify_server_cert(end_entity, intermediates, name, ocsp, now)
        };
        if self.names.is_empty() {
            return match verify(server_name) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            };
        }
        let mut last = None;
        for name in &self.names {
            match verify(name) {
                Ok(v) => return Ok(v),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName,
        )))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
