//! Verifying the server's SVID on an outbound connection.

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

use super::{
    PeerError, refuse, ring_algorithms, schemes, verify_chain, verify_tls12, verify_tls13,
};
use crate::bundle::SharedBundle;
use crate::id::{SpiffeId, TrustDomain};

/// Which server identities an outbound connection accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectedPeer {
    /// Exactly this SPIFFE ID (what Pilot says the destination is).
    Id(SpiffeId),
    /// Any of these SPIFFE IDs.
    AnyOf(Vec<SpiffeId>),
    /// Any SVID of this trust domain.
    TrustDomain(TrustDomain),
}

/// A rustls [`ServerCertVerifier`] for SVIDs: chain to the current trust bundle (server auth),
/// the X.509-SVID leaf rules, then the [`ExpectedPeer`] policy.
///
/// The `ServerName` a connection is opened with is ignored: SPIFFE identities are URIs, not
/// DNS names. Build one client config per expected peer; configs are cheap when the bundle and
/// certificate resolver are shared.
#[derive(Debug)]
pub struct SvidServerVerifier {
    bundle: SharedBundle,
    expected: ExpectedPeer,
    algs: WebPkiSupportedAlgorithms,
}

impl SvidServerVerifier {
    /// A verifier over `bundle` (read on every handshake) accepting `expected`, with the `ring`
    /// provider's signature algorithms (ECDSA P-256/P-384, Ed25519, RSA).
    pub fn new(bundle: SharedBundle, expected: ExpectedPeer) -> Self {
        Self {
            bundle,
            expected,
            algs: ring_algorithms(),
        }
    }

    /// What this verifier accepts.
    pub fn expected(&self) -> &ExpectedPeer {
        &self.expected
    }

    fn check_identity(&self, got: SpiffeId) -> Result<(), PeerError> {
        let ok = match &self.expected {
            ExpectedPeer::Id(want) => *want == got,
            ExpectedPeer::AnyOf(set) => set.contains(&got),
            ExpectedPeer::TrustDomain(td) => {
                if !got.is_member_of(td) {
                    return Err(PeerError::WrongTrustDomain {
                        got,
                        want: td.clone(),
                    });
                }
                true
            }
        };
        if ok {
            return Ok(());
        }
        let want = match &self.expected {
            ExpectedPeer::Id(id) => id.to_string(),
            ExpectedPeer::AnyOf(set) => format!("one of {set:?}"),
            ExpectedPeer::TrustDomain(td) => td.to_string(),
        };
        Err(PeerError::UnexpectedId { got, want })
    }
}

impl ServerCertVerifier for SvidServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let svid = verify_chain(
            &self.bundle,
            &self.algs,
            end_entity,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
        )?;
        self.check_identity(svid.id).map_err(refuse)?;
        Ok(ServerCertVerified::assertion())
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
