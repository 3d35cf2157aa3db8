//! Who may read a proxy's configuration over mTLS: only a client whose SVID names the proxy's
//! own service.

use rigging_mesh_model::{Proxy, ServiceName};
use rigging_mesh_spiffe::{SpiffeId, SvidError, TrustDomain, svid_id};
use rigging_pilot_compiler::DEFAULT_NAMESPACE;
use rustls::pki_types::CertificateDer;
use tonic::Status;

/// The identity a stream's client certificate proved, and the trust domain it must be in.
#[derive(Debug, Clone)]
pub(crate) struct PeerIdentity {
    trust_domain: TrustDomain,
    id: SpiffeId,
}

/// Why a stream may not have a proxy's configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IdentityError {
    #[error("the xDS stream presented no client certificate")]
    NoCertificate,
    #[error("the client certificate has no usable spiffe id")]
    NoId(#[source] SvidError),
    #[error("proxy {proxy} belongs to trust domain {want}; its certificate is {got}")]
    WrongTrustDomain {
        proxy: String,
        want: TrustDomain,
        got: SpiffeId,
    },
    #[error("proxy {proxy} belongs to service {service}; its certificate is {got}")]
    WrongService {
        proxy: String,
        service: String,
        got: SpiffeId,
    },
}

impl PeerIdentity {
    /// The identity in the leaf of `chain` (verified by rustls during the handshake), to be
    /// checked against proxies of `trust_domain`.
    pub(crate) fn from_chain(
        trust_domain: TrustDomain,
        chain: Option<&[CertificateDer<'static>]>,
    ) -> Result<Self, IdentityError> {
        let leaf = chain
            .and_then(<[_]>::first)
            .ok_or(IdentityError::NoCertificate)?;
        let id = svid_id(leaf).map_err(IdentityError::NoId)?;
        Ok(Self { trust_domain, id })
    }

    /// The client's SPIFFE ID.
    pub(crate) fn id(&self) -> &SpiffeId {
        &self.id
    }

    /// Whether this client may have `proxy`'s configuration: its ID must be in the trust
    /// domain, in the default namespace, and name the proxy's service. The datacenter segment
    /// is not compared, as Consul compares none in its authorization either.
    pub(crate) fn authorize(&self, proxy: &Proxy) -> Result<(), IdentityError> {
        self.authorize_service(proxy.id.as_str(), &proxy.service)
    }

    /// Whether this client may have the configuration of `proxy` (a node id), which belongs
    /// to `service`: as [`authorize`](Self::authorize); a gateway's service is its name.
    pub(crate) fn authorize_service(
        &self,
        proxy: &str,
        service: &ServiceName,
    ) -> Result<(), IdentityError> {
        if !self.id.is_member_of(&self.trust_domain) {
            return Err(IdentityError::WrongTrustDomain {
                proxy: proxy.to_owned(),
                want: self.trust_domain.clone(),
                got: self.id.clone(),
            });
        }
        let same_service = self.id.namespace() == Some(DEFAULT_NAMESPACE)
            && self.id.service_name() == Some(service.as_str());
        if !same_service {
            return Err(IdentityError::WrongService {
                proxy: proxy.to_owned(),
                service: service.to_string(),
                got: self.id.clone(),
            });
        }
        Ok(())
    }
}

impl IdentityError {
    /// The gRPC status a refused stream ends with.
    pub(crate) fn to_status(&self) -> Status {
        match self {
            Self::NoCertificate | Self::NoId(_) => Status::unauthenticated(error_chain(self)),
            Self::WrongTrustDomain { .. } | Self::WrongService { .. } => {
                Status::permission_denied(self.to_string())
            }
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rigging_mesh_test_util::proxy;

    fn peer(id: &str) -> PeerIdentity {
        PeerIdentity {
            trust_domain: TrustDomain::new("rigging.local").unwrap_or_else(|e| panic!("{e}")),
            id: SpiffeId::parse(id).unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn only_the_proxys_own_service_is_authorized() {
        let web = proxy("web-1", "web", 21000, 8080, &[]);
        let ok = "spiffe://rigging.local/ns/default/dc/dc1/svc/web";
        assert!(peer(ok).authorize(&web).is_ok());
        assert!(
            peer("spiffe://rigging.local/ns/default/dc/dc2/svc/web")
                .authorize(&web)
                .is_ok(),
            "the datacenter is not compared"
        );
        let cases = [
            (
                "spiffe://rigging.local/ns/default/dc/dc1/svc/api",
                "proxy web-1 belongs to service web; its certificate is spiffe://rigging.local/ns/default/dc/dc1/svc/api",
            ),
            (
                "spiffe://rigging.local/ns/other/dc/dc1/svc/web",
                "proxy web-1 belongs to service web; its certificate is spiffe://rigging.local/ns/other/dc/dc1/svc/web",
            ),
            (
                "spiffe://rigging.local/web",
                "proxy web-1 belongs to service web; its certificate is spiffe://rigging.local/web",
            ),
            (
                "spiffe://elsewhere.local/ns/default/dc/dc1/svc/web",
                "proxy web-1 belongs to trust domain rigging.local; its certificate is spiffe://elsewhere.local/ns/default/dc/dc1/svc/web",
            ),
        ];
        for (id, want) in cases {
            let err = peer(id).authorize(&web).err();
            let status = err.as_ref().map(IdentityError::to_status);
            assert_eq!(
                status.as_ref().map(|s| (s.code(), s.message())),
                Some((tonic::Code::PermissionDenied, want)),
                "{id}"
            );
        }
    }

    #[test]
    fn a_gateway_is_its_own_service() {
        let edge = ServiceName::new("edge").unwrap_or_else(|e| panic!("{e}"));
        let node = "ingress-gateway~127.0.0.1~edge";
        let ok = peer("spiffe://rigging.local/ns/default/dc/dc1/svc/edge");
        assert!(ok.authorize_service(node, &edge).is_ok());
        let err = peer("spiffe://rigging.local/ns/default/dc/dc1/svc/web")
            .authorize_service(node, &edge)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "proxy ingress-gateway~127.0.0.1~edge belongs to service edge; its certificate is spiffe://rigging.local/ns/default/dc/dc1/svc/web"
            )
        );
    }

    #[test]
    fn no_certificate_is_unauthenticated() {
        let td = TrustDomain::new("rigging.local").unwrap_or_else(|e| panic!("{e}"));
        let err = PeerIdentity::from_chain(td.clone(), None).err();
        assert_eq!(
            err.map(|e| e.to_status().code()),
            Some(tonic::Code::Unauthenticated)
        );
        let err = PeerIdentity::from_chain(td, Some(&[])).err();
        assert!(matches!(err, Some(IdentityError::NoCertificate)));
    }
}
