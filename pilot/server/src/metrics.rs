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
/// One configured registry (or config-entry source), by its name.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RegistryLabel {
    pub registry: String,
    pub kind: String,
}

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// 1 while a remote registry cannot be reached and its last snapshot is served.
    pub registry_stale: Family<RegistryLabel, Gauge>,
    /// Seconds since a stale registry last answered (0 when current).
    pub registry_stale_seconds: Family<RegistryLabel, Gauge>,
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
            "pilot_registry_stale",
            "1 while a registry cannot be reached and its last snapshot is kept",
            self.registry_stale.clone(),
        );
        registry.register(
            "pilot_registry_stale_seconds",
            "seconds a registry's snapshot has been stale (0 when current)",
            self.registry_stale_seconds.clone(),
        );
        registry.register(
            "pilot_snapshot_version",
            "version of the newest debounced catalog snapshot",
            self.snapshot_version.clone(),
        );
    }
}

impl Metrics {
    /// Sets the registry gauges from the registry report (`/debug/syncz`'s `registries`): each
    /// source with a `name` and a `stale_seconds` (null when current).
    pub(crate) fn set_registries(&self, report: &serde_json::Value) {
        let Some(sources) = report.as_array() else {
            return;
        };
        for source in sources {
            let Some(name) = source["name"].as_str() else {
                continue;
            };
            let label = RegistryLabel {
                registry: name.to_owned(),
                kind: source["kind"].as_str().unwrap_or("unknown").to_owned(),
            };
            let stale = source["stale_seconds"].as_u64();
            self.registry_stale
                .get_or_create(&label)
                .set(i64::from(stale.is_some()));
            self.registry_stale_seconds
                .get_or_create(&label)
                .set(stale.map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)));
        }
    }
}
