//! What the client reports about itself, for readiness probes and `rig status`.

use std::collections::BTreeMap;

use rigging_mesh_xds::ResourceType;

/// The client's state, published on a `watch` channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientStatus {
    /// Whether a stream to Pilot is open now.
    pub connected: bool,
    /// CDS and LDS have each been accepted at least once: the proxy has a configuration to serve.
    pub ready: bool,
    /// Per resource type; a type appears once a response of it was received.
    pub types: BTreeMap<ResourceType, TypeStatus>,
}

/// ACK and NACK history of one resource type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeStatus {
    /// The `version_info` last accepted (ACKed).
    pub acked_version: Option<String>,
    /// The reason of the last NACK; cleared when a later update of the type is accepted.
    pub last_nack: Option<String>,
    pub acks: u64,
    pub nacks: u64,
}

impl ClientStatus {
    pub(crate) fn record_ack(&mut self, ty: ResourceType, version: &str) {
        let t = self.types.entry(ty).or_default();
        t.acked_version = Some(version.to_owned());
        t.last_nack = None;
        t.acks += 1;
        self.ready = [ResourceType::Cluster, ResourceType::Listener]
            .iter()
            .all(|ty| {
                self.types
                    .get(ty)
                    .is_some_and(|t| t.acked_version.is_some())
            });
    }

    pub(crate) fn record_nack(&mut self, ty: ResourceType, reason: &str) {
        let t = self.types.entry(ty).or_default();
        t.last_nack = Some(reason.to_owned());
        t.nacks += 1;
    }
}
