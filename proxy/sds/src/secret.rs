//! The boundary: an SDS response's `Secret` turned into a rustls [`CertifiedKey`], or the reason
//! it cannot be, which the stream NACKs with.
//!
//! A `TlsCertificate` secret carries its certificate chain and private key as Envoy
//! `DataSource`s; inline bytes, inline strings and file names are understood, and every field
//! the proxy cannot honour (PKCS#12, private key providers, passwords, OCSP staples, SCTs,
//! watched directories) is refused rather than ignored.

use std::io;
use std::path::PathBuf;

use envoy_types::pb::envoy::config::core::v3::DataSource;
use envoy_types::pb::envoy::config::core::v3::data_source::Specifier;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    Secret, TlsCertificate, secret,
};
use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use tokio::io::AsyncReadExt;

/// The type URL of `envoy.extensions.transport_sockets.tls.v3.Secret`, in requests, responses
/// and each resource's `Any`.
pub const SECRET_TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The largest PEM file read for a secret: a chain of a dozen certificates is some 20 KiB, so
/// anything past 1 MiB is not a certificate and is refused before it fills memory.
const MAX_PEM_FILE_BYTES: u64 = 1 << 20;

/// Why a response's secret was refused; the stream NACKs with this message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SecretError {
    #[error("response type is {0:?}, not {SECRET_TYPE_URL}")]
    ResponseType(String),
    #[error("resource {index} has type {type_url:?}, not {SECRET_TYPE_URL}")]
    ResourceType { index: usize, type_url: String },
    #[error("resource {index} is not a valid Secret")]
    Decode {
        index: usize,
        #[source]
        source: prost::DecodeError,
    },
    #[error("no secret named {0:?} in the response")]
    Missing(String),
    #[error("secret {name:?} is a {kind}, not a tls_certificate")]
    NotTlsCertificate { name: String, kind: &'static str },
    #[error("secret {name:?}: tls_certificate.{field} is missing")]
    MissingField { name: String, field: &'static str },
    #[error("secret {name:?}: tls_certificate.{field} is not supported")]
    Unsupported { name: String, field: &'static str },
    #[error("secret {name:?}: tls_certificate.{field}.{source_kind} is not supported")]
    UnsupportedSource {
        name: String,
        field: &'static str,
        source_kind: &'static str,
    },
    #[error("secret {name:?}: cannot read tls_certificate.{field} from {path}")]
    Read {
        name: String,
        field: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("secret {name:?}: tls_certificate.{field} is not usable PEM: {reason}")]
    Pem {
        name: String,
        field: &'static str,
        reason: String,
    },
    #[error("secret {name:?}: the private key is unusable or does not match the certificate")]
    Key {
        name: String,
        #[source]
        source: rustls::Error,
    },
}

/// A `TlsCertificate` secret the proxy can use, its files not read yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CertificateSource {
    name: String,
    chain: PemSource,
    key: PemSource,
}

/// Where one PEM comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PemSource {
    Inline(Vec<u8>),
    File(PathBuf),
}

/// The secret named `name` among a response's resources. Every resource must be a Secret that
/// decodes, even one of another name: a server sending garbage is told so.
pub(crate) fn find_secret(
    type_url: &str,
    resources: &[Any],
    name: &str,
) -> Result<Secret, SecretError> {
    if type_url != SECRET_TYPE_URL {
        return Err(SecretError::ResponseType(type_url.to_owned()));
    }
    let mut found = None;
    for (index, any) in resources.iter().enumerate() {
        if any.type_url != SECRET_TYPE_URL {
            return Err(SecretError::ResourceType {
                index,
                type_url: any.type_url.clone(),
            });
        }
        let secret = Secret::decode(any.value.as_slice())
            .map_err(|source| SecretError::Decode { index, source })?;
        if secret.name == name {
            found = Some(secret);
        }
    }
    found.ok_or_else(|| SecretError::Missing(name.to_owned()))
}

impl TryFrom<Secret> for CertificateSource {
    type Error = SecretError;

    fn try_from(secret: Secret) -> Result<Self, SecretError> {
        let name = secret.name;
        let tls = match secret.r#type {
            Some(secret::Type::TlsCertificate(tls)) => tls,
            other => {
                let kind = match other {
                    Some(secret::Type::SessionTicketKeys(_)) => "session_ticket_keys",
                    Some(secret::Type::ValidationContext(_)) => "validation_context",
                    Some(secret::Type::GenericSecret(_)) => "generic_secret",
                    Some(secret::Type::TlsCertificate(_)) | None => "secret without a type",
                };
                return Err(SecretError::NotTlsCertificate { name, kind });
            }
        };
        if let Some(field) = unsupported_field(&tls) {
            return Err(SecretError::Unsupported { name, field });
        }
        let chain = pem_source(&name, "certificate_chain", tls.certificate_chain)?;
        let key = pem_source(&name, "private_key", tls.private_key)?;
        Ok(Self { name, chain, key })
    }
}

impl CertificateSource {
    /// Reads the files it names and builds the key (ring provider). Files are read on every
    /// response, so a server that rewrites a file and sends a new version is followed.
    pub(crate) async fn load(self) -> Result<CertifiedKey, SecretError> {
        let chain = read(&self.name, "certificate_chain", self.chain).await?;
        let key = read(&self.name, "private_key", self.key).await?;
        certified_key(&self.name, &chain, &key)
    }
}

/// A certificate chain and its key, both PEM, as a rustls [`CertifiedKey`]: the chain has at
/// least one certificate, the key is one `ring` can sign with and matches the leaf.
pub(crate) fn certified_key(
    name: &str,
    chain_pem: &[u8],
    key_pem: &[u8],
) -> Result<CertifiedKey, SecretError> {
    let pem_error = |field, reason: String| SecretError::Pem {
        name: name.to_owned(),
        field,
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate_chain", e.to_string()))?;
    if chain.is_empty() {
        return Err(pem_error(
            "certificate_chain",
            "no CERTIFICATE in it".to_owned(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| pem_error("private_key", e.to_string()))?;
    let provider = rustls::crypto::ring::default_provider();
    CertifiedKey::from_der(chain, key, &provider).map_err(|source| SecretError::Key {
        name: name.to_owned(),
        source,
    })
}

/// The first field set that the proxy cannot honour, by its proto name.
fn unsupported_field(tls: &TlsCertificate) -> Option<&'static str> {
    [
        ("pkcs12", tls.pkcs12.is_some()),
        ("private_key_provider", tls.private_key_provider.is_some()),
        ("password", tls.password.is_some()),
        ("watched_directory", tls.watched_directory.is_some()),
        ("ocsp_staple", tls.ocsp_staple.is_some()),
        (
            "signed_certificate_timestamp",
            !tls.signed_certificate_timestamp.is_empty(),
        ),
    ]
    .into_iter()
    .find_map(|(field, set)| set.then_some(field))
}

fn pem_source(
    name: &str,
    field: &'static str,
    source: Option<DataSource>,
) -> Result<PemSource, SecretError> {
    let missing = || SecretError::MissingField {
        name: name.to_owned(),
        field,
    };
    let unsupported = |source_kind| SecretError::UnsupportedSource {
        name: name.to_owned(),
        field,
        source_kind,
    };
    let source = source.ok_or_else(missing)?;
    if source.watched_directory.is_some() {
        return Err(unsupported("watched_directory"));
    }
    match source.specifier {
        Some(Specifier::InlineBytes(b)) => Ok(PemSource::Inline(b)),
        Some(Specifier::InlineString(s)) => Ok(PemSource::Inline(s.into_bytes())),
        Some(Specifier::Filename(f)) if !f.is_empty() => Ok(PemSource::File(f.into())),
        Some(Specifier::EnvironmentVariable(_)) => Err(unsupported("environment_variable")),
        Some(Specifier::Filename(_)) | None => Err(missing()),
    }
}

async fn read(name: &str, field: &'static str, source: PemSource) -> Result<Vec<u8>, SecretError> {
    let path = match source {
        PemSource::Inline(bytes) => return Ok(bytes),
        PemSource::File(path) => path,
    };
    let read_error = |source| SecretError::Read {
        name: name.to_owned(),
        field,
        path: path.display().to_string(),
        source,
    };
    let file = tokio::fs::File::open(&path).await.map_err(read_error)?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(read_error)?;
    if bytes.len() as u64 > MAX_PEM_FILE_BYTES {
        return Err(read_error(io::Error::other(format!(
            "larger than {MAX_PEM_FILE_BYTES} bytes"
        ))));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
