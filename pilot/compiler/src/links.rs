//! Services outside the mesh that callers reach through a terminating gateway.
//!
//! A `terminating-gateway` entry links services: a caller's connections to a linked
//! service go to the gateway's instances instead of the service's own (as Consul's
//! `/v1/health/connect/:service` answers with the gateway for a linked service), over mTLS
//! that expects the gateway's SPIFFE ID and sends the service's name as SNI, by which the
//! gateway picks the service. Only a secured mesh has gateways: without mTLS there is no SNI
//! to tell the services apart, and callers reach a linked service directly.

use rigging_mesh_model::{Catalog, ServiceName};
use rigging_pilot_chain::{Entries, GatewayLink};

/// Which gateway, if any, each service is reached through, for one compile.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Links<'a> {
    catalog: &'a Catalog,
    entries: &'a Entries,
    secure: bool,
}

impl<'a> Links<'a> {
    pub fn new(catalog: &'a Catalog, entries: &'a Entries, secure: bool) -> Self {
        Self {
            catalog,
            entries,
            secure,
        }
    }

    /// The gateway service callers of `service` go through.
    pub fn gateway_of(&self, service: &str) -> Option<ServiceName> {
        if !self.secure {
            return None;
        }
        self.link(service)
            .and_then(|l| ServiceName::new(l.gateway).ok())
    }

    /// The entry's link for `service`, secured mesh or not.
    pub fn link(&self, service: &str) -> Option<GatewayLink<'a>> {
        self.entries
            .gateway_link(service, is_external(self.catalog, service))
    }
}

/// Whether `service` is outside the mesh: registered, with no sidecar endpoint. Only such a
/// service is linked by a `*` wildcard.
pub(crate) fn is_external(catalog: &Catalog, service: &str) -> bool {
    ServiceName::new(service)
        .ok()
        .and_then(|n| catalog.service(&n))
        .is_some_and(|s| !s.endpoints.iter().any(|e| e.sidecar))
}
