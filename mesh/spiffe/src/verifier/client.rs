//! Verifying a client's SVID on an inbound mTLS connection.

use rustls::DigitallySignedStruct;
use rustls::DistinguishedName;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};

use super::{
    PeerError, refuse, ring_algorithms, schemes, verify_chain, verify_tls12, verify_tls13,
};
use crate::bundle::SharedBundle;
use crate::id::TrustDomain;

/// A rustls [`ClientCertVerifier`] for inbound mTLS: a client certificate is mandatory and must
/// be a valid SVID of the trust domain, chained to the current bundle (client auth).
///
/// Which caller may do what is authorization, decided later from
/// [`peer_spiffe_id`](super::peer_spiffe_id).
#[derive(Debug)]
pub struct SvidClientVerifier {
    bundle: SharedBundle,
    trust_domain: TrustDomain,
    algs: WebPkiSupportedAlgorithms,
}

impl SvidClientVerifier {
    /// A verifier over `bundle` (read on every handshake) accepting any SVID of `trust_domain`.
    pub fn new(bundle: SharedBundle, trust_domain: TrustDomain) -> Self {
        Self {
            bundle,
            trust_domain,
            algs: ring_algorithms(),
        }
    }
}

impl ClientCertVerifier for SvidClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // Every client holds exactly one SVID; hints would only leak the roots' names.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let svid = verify_chain(
            &self.bundle,
            &self.algs,
            end_entity,
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
        )?;
        if !svid.id.is_member_of(&self.trust_domain) {
            return Err(refuse(PeerError::WrongTrustDomain {
                got: svid.id,
                want: self.trust_domain.clone(),
            }));
        }
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12(&self.algs, message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(&self.algs, message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        schemes(&self.algs)
    }
}
