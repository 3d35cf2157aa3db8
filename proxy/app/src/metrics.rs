//! Prometheus metrics. Handles are created when configuration is applied and kept in the
//! snapshot, so the traffic path only bumps atomics.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::StatusCode;
use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rigging_mesh_xds::ResourceType;
use rigging_proxy_resilience::Limit;

use crate::http::ActionMetrics;

/// Upper bounds of the request-duration buckets, in seconds: 0.5 ms to about 16 s, doubling, so
/// both loopback latencies and slow upstreams land in a useful bucket.
const DURATION_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048,
    4.096, 8.192, 16.384,
];

/// All metrics of one proxy.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    upstream_requests: Family<ClusterCodeLabels, Counter>,
    upstream_duration: Family<ClusterLabels, Histogram, fn() -> Histogram>,
    connect_failures: Family<ClusterLabels, Counter>,
    tls_failures: Family<ClusterLabels, Counter>,
    outlier_ejections: Family<ClusterLabels, Counter>,
    outlier_ejections_active: Family<ClusterLabels, Gauge>,
    upstream_overflow: Family<ClusterLimitLabels, Counter>,
    handshake_failures: Family<ListenerLabels, Counter>,
    plaintext_connections: Family<ListenerLabels, Counter>,
    connections_total: Family<ListenerLabels, Counter>,
    connections_active: Family<ListenerLabels, Gauge>,
    tcp_bytes: Family<ListenerDirectionLabels, Counter>,
    route_actions: Family<ListenerActionLabels, Counter>,
    xds_updates: Family<XdsLabels, Counter>,
}

/// The handles of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct ClusterMetrics {
    /// Indexed by status class: 1xx at 0 … 5xx at 4.
    requests: [Counter; 5],
    pub duration: Histogram,
    pub connect_failures: Counter,
    /// Outbound mTLS handshakes that failed (a subset of the connect failures).
    pub tls_failures: Counter,
    /// Endpoints ejected by outlier detection.
    pub ejections: Counter,
    /// Endpoints ejected now.
    pub ejections_active: Gauge,
    /// Requests or connections refused by a circuit breaker, indexed as [`LIMITS`].
    overflow: [Counter; 3],
}

/// The handles of one listener.
#[derive(Debug, Clone)]
pub(crate) struct ListenerMetrics {
    pub connections_total: Counter,
    /// Inbound mTLS handshakes refused or failed.
    pub handshake_failures: Counter,
    /// Plaintext connections a permissive listener took.
    pub plaintext_connections: Counter,
    pub connections_active: Gauge,
    pub bytes_rx: Counter,
    pub bytes_tx: Counter,
}

/// A histogram whose observation is a handful of relaxed atomic adds (prometheus-client's own
/// takes a write lock per observation, which the traffic path must not).
#[derive(Debug, Clone)]
pub(crate) struct Histogram(Arc<HistogramInner>);

#[derive(Debug)]
struct HistogramInner {
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLabels {
    cluster: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterCodeLabels {
    cluster: String,
    code_class: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClusterLimitLabels {
    cluster: String,
    limit: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerDirectionLabels {
    listener: String,
    direction: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerActionLabels {
    listener: String,
    action: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct XdsLabels {
    r#type: &'static str,
    result: &'static str,
}

const CODE_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
/// The circuit-breaker limits and their `limit` label values.
const LIMITS: [(Limit, &str); 3] = [
    (Limit::Connections, "connections"),
    (Limit::PendingRequests, "pending_requests"),
    (Limit::Requests, "requests"),
];

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let upstream_requests = Family::<ClusterCodeLabels, Counter>::default();
        let upstream_duration =
            Family::<ClusterLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                Histogram::new,
            );
        let connect_failures = Family::<ClusterLabels, Counter>::default();
        let tls_failures = Family::<ClusterLabels, Counter>::default();
        let outlier_ejections = Family::<ClusterLabels, Counter>::default();
        let outlier_ejections_active = Family::<ClusterLabels, Gauge>::default();
        let upstream_overflow = Family::<ClusterLimitLabels, Counter>::default();
        let handshake_failures = Family::<ListenerLabels, Counter>::default();
        let plaintext_connections = Family::<ListenerLabels, Counter>::default();
        let connections_total = Family::<ListenerLabels, Counter>::default();
        let connections_active = Family::<ListenerLabels, Gauge>::default();
        let tcp_bytes = Family::<ListenerDirectionLabels, Counter>::default();
        let route_actions = Family::<ListenerActionLabels, Counter>::default();
        let xds_updates = Family::<XdsLabels, Counter>::default();
        registry.register(
            "rig_upstream_requests",
            "Attempts sent to a cluster (a retried request counts once per attempt), by the status class of the attempt's response",
            upstream_requests.clone(),
        );
        registry.register(
            "rig_upstream_request_duration_seconds",
            "Time from dispatch to the upstream's response headers",
            upstream_duration.clone(),
        );
        registry.register(
            "rig_upstream_connect_failures",
            "Failed or timed-out connections to a cluster's endpoints",
            connect_failures.clone(),
        );
        registry.register(
            "rig_upstream_tls_failures",
            "Outbound mTLS handshakes that failed, among the connect failures",
            tls_failures.clone(),
        );
        registry.register(
            "rig_outlier_ejections",
            "Endpoints of a cluster ejected by outlier detection (consecutive 5xx)",
            outlier_ejections.clone(),
        );
        registry.register(
            "rig_outlier_ejections_active",
            "Endpoints of a cluster ejected by outlier detection now",
            outlier_ejections_active.clone(),
        );
        registry.register(
            "rig_upstream_overflow",
            "Requests or connections refused at once because a circuit breaker limit was reached",
            upstream_overflow.clone(),
        );
        registry.register(
            "rig_downstream_tls_handshake_failures",
            "Inbound mTLS handshakes refused or failed; nothing reached the application",
            handshake_failures.clone(),
        );
        registry.register(
            "rig_downstream_plaintext_connections",
            "Plaintext connections accepted by a permissive mTLS listener",
            plaintext_connections.clone(),
        );
        registry.register(
            "rig_downstream_connections",
            "Connections accepted by a listener",
            connections_total.clone(),
        );
        registry.register(
            "rig_downstream_connections_active",
            "Connections of a listener still open",
            connections_active.clone(),
        );
        registry.register(
            "rig_tcp_bytes",
            "Bytes relayed by a TCP listener; rx from downstream, tx to downstream",
            tcp_bytes.clone(),
        );
        registry.register(
            "rig_route_actions",
            "Route actions taken on a listener's requests: fault_delay, fault_abort, retry, retry_budget_exhausted, mirror",
            route_actions.clone(),
        );
        registry.register(
            "rig_xds_updates",
            "xDS responses applied (ack) or rejected (nack)",
            xds_updates.clone(),
        );
        Self {
            registry,
            upstream_requests,
            upstream_duration,
            connect_failures,
            tls_failures,
            outlier_ejections,
            outlier_ejections_active,
            upstream_overflow,
            handshake_failures,
            plaintext_connections,
            connections_total,
            connections_active,
            tcp_bytes,
            route_actions,
            xds_updates,
        }
    }

    pub fn cluster(&self, name: &str) -> ClusterMetrics {
        let requests = CODE_CLASSES.map(|code_class| {
            self.upstream_requests
                .get_or_create_owned(&ClusterCodeLabels {
                    cluster: name.to_owned(),
                    code_class,
                })
        });
        let labels = ClusterLabels {
            cluster: name.to_owned(),
        };
        ClusterMetrics {
            requests,
            duration: self.upstream_duration.get_or_create_owned(&labels),
            connect_failures: self.connect_failures.get_or_create_owned(&labels),
            tls_failures: self.tls_failures.get_or_create_owned(&labels),
            ejections: self.outlier_ejections.get_or_create_owned(&labels),
            ejections_active: self.outlier_ejections_active.get_or_create_owned(&labels),
            overflow: LIMITS.map(|(_, limit)| {
                self.upstream_overflow
                    .get_or_create_owned(&ClusterLimitLabels {
                        cluster: name.to_owned(),
                        limit,
                    })
            }),
        }
    }

    pub fn listener(&self, name: &str) -> ListenerMetrics {
        let labels = ListenerLabels {
            listener: name.to_owned(),
        };
        let bytes = |direction| {
            self.tcp_bytes
                .get_or_create_owned(&ListenerDirectionLabels {
                    listener: name.to_owned(),
                    direction,
                })
        };
        ListenerMetrics {
            connections_total: self.connections_total.get_or_create_owned(&labels),
            handshake_failures: self.handshake_failures.get_or_create_owned(&labels),
            plaintext_connections: self.plaintext_connections.get_or_create_owned(&labels),
            connections_active: self.connections_active.get_or_create_owned(&labels),
            bytes_rx: bytes("rx"),
            bytes_tx: bytes("tx"),
        }
    }

    /// The route-action counters of listener `name`.
    pub fn actions(&self, name: &str) -> ActionMetrics {
        let counter = |action| {
            self.route_actions
                .get_or_create_owned(&ListenerActionLabels {
                    listener: name.to_owned(),
                    action,
                })
        };
        ActionMetrics {
            fault_delays: counter("fault_delay"),
            fault_aborts: counter("fault_abort"),
            retries: counter("retry"),
            retry_budget_exhausted: counter("retry_budget_exhausted"),
            mirrors: counter("mirror"),
        }
    }

    pub fn xds_update(&self, ty: ResourceType, acked: bool) {
        self.xds_updates
            .get_or_create(&XdsLabels {
                r#type: ty.short(),
                result: if acked { "ack" } else { "nack" },
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl ClusterMetrics {
    pub fn request(&self, status: StatusCode, elapsed: Duration) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.requests[class].inc();
        self.duration.observe(elapsed);
    }

    /// Counts one refusal by the circuit breaker's `limit`.
    pub fn overflow(&self, limit: Limit) {
        if let Some(i) = LIMITS.iter().position(|&(l, _)| l == limit) {
            self.overflow[i].inc();
        }
    }
}

impl Histogram {
    fn new() -> Self {
        Self(Arc::new(HistogramInner {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }))
    }

    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(DURATION_BUCKETS.len());
        self.0.buckets[i].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.0.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.0.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder<'_>) -> Result<(), std::fmt::Error> {
        let buckets: Vec<(f64, u64)> = DURATION_BUCKETS
            .iter()
            .copied()
            .chain(std::iter::once(f64::MAX))
            .zip(self.0.buckets.iter().map(|b| b.load(Ordering::Relaxed)))
            .collect();
        let sum = self.0.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let count = self.0.count.load(Ordering::Relaxed);
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}
