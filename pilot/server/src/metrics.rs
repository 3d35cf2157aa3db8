//! Pilot's own Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TypeLabel {
    pub r#type: &'static str,
}

/// Counters shared by every stream.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub pushes: Family<TypeLabel, Counter>,
    pub acks: Family<TypeLabel, Counter>,
    pub nacks: Family<TypeLabel, Counter>,
    pub connected: Gauge,
    pub snapshot_version: Gauge,
}

impl Metrics {
    pub(crate) fn register(&self, registry: &mut Registry) {
        registry.register(
            "pilot_xds_pushes",
            "xDS responses sent, by type",
            self.pushes.clone(),
        );
        registry.register(
            "pilot_xds_acks",
            "xDS responses ACKed, by type",
            self.acks.clone(),
        );
        registry.register(
            "pilot_xds_nacks",
            "xDS responses NACKed, by type",
            self.nacks.clone(),
        );
        registry.register(
            "pilot_xds_connected_proxies",
            "open xDS streams",
            self.connected.clone(),
        );
        registry.register(
            "pilot_snapshot_version",
            "version of the newest debounced catalog snapshot",
            self.snapshot_version.clone(),
        );
    }
}
