//! rustls verifiers for SVIDs: webpki builds the chain to a root of the trust bundle, then the
//! X.509-SVID rules and the identity policy apply. There are no DNS name checks: SPIFFE
//! identities live in the URI SAN.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::{CertificateError, CommonState, DigitallySignedStruct, OtherError, SignatureScheme};

use crate::bundle::SharedBundle;
use crate::id::{SpiffeId, TrustDomain};
use crate::svid::{Svid, SvidError, svid_id, verify_svid};

mod client;
mod server;

pub use client::SvidClientVerifier;
pub use server::{ExpectedPeer, SvidServerVerifier};

/// Why a verifier refused a peer after its chain and SVID shape were fine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    #[error("peer presented an invalid svid")]
    Svid(#[from] SvidError),
    #[error("peer is {got}, expected {want}")]
    UnexpectedId { got: SpiffeId, want: String },
    #[error("peer {got} is not in trust domain {want}")]
    WrongTrustDomain { got: SpiffeId, want: TrustDomain },
}

/// The SPIFFE ID of the peer of a finished handshake, on either side.
///
/// `None` before the handshake, without a peer certificate, or if the leaf has no single
/// valid SPIFFE ID (which the verifiers of this crate never let through).
pub fn peer_spiffe_id(conn: &CommonState) -> Option<SpiffeId> {
    let leaf = conn.peer_certificates()?.first()?;
    svid_id(leaf).ok()
}

/// The chain check shared by both verifiers: webpki to a root of the current bundle for
/// `usage`, then the SVID leaf rules.
fn verify_chain(
    bundle: &SharedBundle,
    algs: &WebPkiSupportedAlgorithms,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    now: UnixTime,
    usage: webpki::KeyUsage,
) -> Result<Svid, rustls::Error> {
    let bundle = bundle.load();
    let cert = webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
    cert.verify_for_usage(
        algs.all,
        bundle.anchors(),
        intermediates,
        now,
        usage,
        None,
        None,
    )
    .map_err(pki_error)?;
    verify_svid(end_entity, now).map_err(|e| refuse(PeerError::Svid(e)))
}

fn ring_algorithms() -> WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

fn verify_tls12(
    algs: &WebPkiSupportedAlgorithms,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(message, cert, dss, algs)
}

fn verify_tls13(
    algs: &WebPkiSupportedAlgorithms,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(message, cert, dss, algs)
}

fn schemes(algs: &WebPkiSupportedAlgorithms) -> Vec<SignatureScheme> {
    algs.supported_schemes()
}

/// Turns a policy refusal into the rustls error, keeping the reason, and logs it: the peer only
/// sees a `bad_certificate` alert.
fn refuse(err: PeerError) -> rustls::Error {
    tracing::debug!(error = %err, "svid refused");
    let cert_err = match &err {
        PeerError::Svid(SvidError::Expired { .. }) => CertificateError::Expired,
        PeerError::Svid(SvidError::NotYetValid { .. }) => CertificateError::NotValidYet,
        _ => CertificateError::Other(OtherError(Arc::new(err))),
    };
    rustls::Error::InvalidCertificate(cert_err)
}

/// webpki's errors as rustls reports them (the same mapping rustls' own verifiers use for the
/// common cases).
fn pki_error(err: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    tracing::debug!(error = %err, "svid chain refused");
    let cert_err = match err {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding,
        E::CertNotValidYet { time, not_before } => {
            CertificateError::NotValidYetContext { time, not_before }
        }
        E::CertExpired { time, not_after } => CertificateError::ExpiredContext { time, not_after },
        E::InvalidCertValidity => CertificateError::Expired,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::CertRevoked => CertificateError::Revoked,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        E::RequiredEkuNotFoundContext(_) => CertificateError::InvalidPurpose,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(cert_err)
}
