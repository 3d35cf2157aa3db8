//! What the compiler needs to know to emit mutual TLS: the mesh's trust domain and datacenter,
//! from which every service's SPIFFE ID follows.

use rigging_mesh_model::ServiceName;
use rigging_mesh_spiffe::{IdError, SpiffeId, TrustDomain};

/// The namespace segment of every SPIFFE ID Rigging issues and expects. The service model has
/// no namespaces yet, so every service lives in Consul's default one.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The longest service name the model accepts (a DNS name's 253 bytes, as the model's own
/// limit), for checking that every service's SPIFFE ID fits.
const LONGEST_SERVICE_NAME: usize = 253;

/// How the compiler shapes a proxy's resources beyond the catalog itself.
///
/// The default (no security) compiles plaintext everywhere, as before mTLS existed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompileOptions {
    /// `Some`: inbound listeners terminate mTLS (strict or permissive, per service), upstream
    /// clusters originate it, and only sidecar endpoints are sent.
    pub security: Option<MeshSecurity>,
}

/// The identity layout of a mesh that runs mTLS: service `s` is
/// `spiffe://<trust_domain>/ns/default/dc/<datacenter>/svc/<s>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeshSecurity {
    trust_domain: TrustDomain,
    datacenter: String,
}

/// Why a [`MeshSecurity`] cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecurityError {
    #[error("datacenter {datacenter:?} cannot be a segment of a spiffe id")]
    BadDatacenter {
        datacenter: String,
        #[source]
        source: IdError,
    },
}

impl MeshSecurity {
    /// The layout for `trust_domain` and `datacenter`. The datacenter is checked once here, so
    /// that the ID of every valid service name can be built afterwards.
    pub fn new(
        trust_domain: TrustDomain,
        datacenter: impl Into<String>,
    ) -> Result<Self, SecurityError> {
        let datacenter = datacenter.into();
        // The longest service name makes the longest ID: if that one is valid, all are.
        let longest = "s".repeat(LONGEST_SERVICE_NAME);
        SpiffeId::service(&trust_domain, DEFAULT_NAMESPACE, &datacenter, &longest).map_err(
            |source| SecurityError::BadDatacenter {
                datacenter: datacenter.clone(),
                source,
            },
        )?;
        Ok(Self {
            trust_domain,
            datacenter,
        })
    }

    /// The mesh's trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The datacenter segment of the mesh's SPIFFE IDs.
    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// The SPIFFE ID every instance of `service` presents.
    pub fn service_id(&self, service: &ServiceName) -> SpiffeId {
        self.service_id_in(service, &self.datacenter)
    }

    /// The SPIFFE ID the instances of `service` in `datacenter` present (a failover target
    /// in another datacenter).
    pub fn service_id_in(&self, service: &ServiceName, datacenter: &str) -> SpiffeId {
        SpiffeId::service(
            &self.trust_domain,
            DEFAULT_NAMESPACE,
            datacenter,
            service.as_str(),
        )
        // `new` proved every service name fits in our datacenter; a datacenter name that
        // does not, or should that ever break, gives the trust domain's own ID, which matches
        // no SVID: the failure is closed, not open.
        .unwrap_or_else(|_| self.trust_domain.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn td() -> TrustDomain {
        TrustDomain::new("rigging.local").unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn service_ids_follow_consuls_layout() {
        let sec = MeshSecurity::new(td(), "dc1").unwrap_or_else(|e| panic!("{e}"));
        let web = ServiceName::new("web").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sec.service_id(&web).as_str(),
            "spiffe://rigging.local/ns/default/dc/dc1/svc/web"
        );
        let longest =
            ServiceName::new("a".repeat(LONGEST_SERVICE_NAME)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            sec.service_id(&longest).service_name(),
            Some(longest.as_str())
        );
    }

    #[test]
    fn a_datacenter_that_breaks_the_id_is_refused() {
        for bad in ["", "..", "dc/1", "dc 1", "dc?1"] {
            assert!(
                matches!(
                    MeshSecurity::new(td(), bad),
                    Err(SecurityError::BadDatacenter { .. })
                ),
                "{bad:?}"
            );
        }
        let huge = "d".repeat(2048);
        assert!(MeshSecurity::new(td(), huge).is_err());
    }
}
