//! Outlier detection of one cluster: the detector fed by request outcomes, its ejections
//! logged and counted, and a timer that returns ejected endpoints even without traffic.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use rigging_proxy_config::OutlierDetection;
use rigging_proxy_resilience::{Ejections, Event, Outcome, OutlierConfig, OutlierDetector};
use tokio::time::MissedTickBehavior;

use crate::metrics::ClusterMetrics;

/// The shortest period of the sweep timer, whatever `interval` says: a zero interval must not
/// make the timer spin (picks still sweep as often as the interval allows).
const MIN_SWEEP_PERIOD: Duration = Duration::from_millis(10);

/// The detector of one cluster state, over the same endpoint list (and indices) as its
/// balancer.
#[derive(Debug)]
pub(crate) struct Outlier {
    cluster: String,
    def: OutlierDetection,
    detector: OutlierDetector,
    addrs: Box<[SocketAddr]>,
    metrics: ClusterMetrics,
    /// Set when a newer cluster state took over (with this detector's state carried over): the
    /// timer stops, and what requests still in flight record here is no longer logged or counted.
    retired: AtomicBool,
}

impl Outlier {
    /// The detection of `def` over `addrs`. The state (ejections, backoff, failure counts) of
    /// `previous` carries over by endpoint address when its settings are the same, so a
    /// configuration update does not forgive an ejected endpoint; changed settings start afresh.
    /// Spawns the sweep timer when a runtime is running.
    pub fn new(
        cluster: &str,
        def: &OutlierDetection,
        addrs: Box<[SocketAddr]>,
        previous: Option<&Outlier>,
        metrics: ClusterMetrics,
    ) -> Arc<Self> {
        let detector = match previous.filter(|p| p.def == *def) {
            Some(p) => {
                let old: HashMap<SocketAddr, usize> =
                    p.addrs.iter().enumerate().map(|(i, a)| (*a, i)).collect();
                p.detector
                    .carry_over(addrs.len(), |i| old.get(&addrs[i]).copied())
            }
            None => OutlierDetector::new(config(def), addrs.len()),
        };
        metrics
            .ejections_active
            .set(i64::try_from(detector.stats().ejections_active).unwrap_or(i64::MAX));
        let this = Arc::new(Self {
            cluster: cluster.to_owned(),
            def: *def,
            detector,
            addrs,
            metrics,
            retired: AtomicBool::new(false),
        });
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let period = def.interval.max(MIN_SWEEP_PERIOD);
            runtime.spawn(sweep_timer(Arc::downgrade(&this), period));
        }
        this
    }

    /// The view the cluster's balancer skips ejected endpoints by.
    pub fn ejections(&self) -> Ejections {
        self.detector.ejections()
    }

    pub fn is_ejected(&self, index: usize) -> bool {
        self.detector.is_ejected(index)
    }

    /// Returns endpoints whose ejection time is up, when a sweep is due (cheap otherwise).
    pub fn maybe_sweep(&self) {
        for event in self.detector.maybe_sweep() {
            self.report(event);
        }
    }

    /// Counts the outcome of one attempt on the endpoint at `index`; may eject it.
    pub fn record(&self, index: usize, outcome: Outcome) {
        // Sweep first, so that returns are logged: the sweep inside `record` keeps its events.
        self.maybe_sweep();
        if let Some(event) = self.detector.record(index, outcome) {
            self.report(event);
        }
    }

    /// Stops the timer and the reporting: a newer state of the cluster reports from now on.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::Relaxed);
    }

    fn sweep(&self) {
        for event in self.detector.sweep() {
            self.report(event);
        }
    }

    fn report(&self, event: Event) {
        if self.retired.load(Ordering::Relaxed) {
            return;
        }
        let cluster = &self.cluster;
        let addr = |index: usize| self.addrs.get(index).copied();
        match event {
            Event::Ejected { index, duration } => {
                self.metrics.ejections.inc();
                tracing::info!(%cluster, endpoint = ?addr(index), ?duration, consecutive_5xx = self.def.consecutive_5xx, "endpoint ejected by outlier detection");
            }
            Event::Returned { index } => {
                tracing::info!(%cluster, endpoint = ?addr(index), "ejected endpoint returned to service");
            }
            Event::Overflow { index } => {
                tracing::debug!(%cluster, endpoint = ?addr(index), max_ejection_percent = self.def.max_ejection_percent, "outlier not ejected: too many endpoints ejected already");
            }
            Event::NotEnforced { index } => {
                tracing::debug!(%cluster, endpoint = ?addr(index), "outlier not ejected: spared by enforcing_consecutive_5xx");
            }
        }
        let active = self.detector.stats().ejections_active;
        self.metrics
            .ejections_active
            .set(i64::try_from(active).unwrap_or(i64::MAX));
    }
}

/// Sweeps every `period` until the cluster state is dropped or retired, so ejected endpoints
/// return on time even when no request comes to sweep for them.
async fn sweep_timer(outlier: Weak<Outlier>, period: Duration) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let Some(outlier) = outlier.upgrade() else {
            return;
        };
        if outlier.retired.load(Ordering::Relaxed) {
            return;
        }
        outlier.sweep();
    }
}

fn config(def: &OutlierDetection) -> OutlierConfig {
    OutlierConfig {
        consecutive_5xx: def.consecutive_5xx,
        enforcing_consecutive_5xx: def.enforcing_consecutive_5xx,
        interval: def.interval,
        base_ejection_time: def.base_ejection_time,
        max_ejection_time: def.max_ejection_time,
        max_ejection_percent: def.max_ejection_percent,
        // Envoy's default; Pilot does not send it.
        always_eject_one_host: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    fn addrs(ports: &[u16]) -> Box<[SocketAddr]> {
        ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect()
    }

    fn def() -> OutlierDetection {
        OutlierDetection {
            consecutive_5xx: 2,
            max_ejection_percent: 100,
            ..OutlierDetection::default()
        }
    }

    #[test]
    fn ejection_carries_over_by_address() {
        let metrics = Metrics::new();
        let first = Outlier::new("c", &def(), addrs(&[1, 2]), None, metrics.cluster("c"));
        first.record(1, Outcome::ServerError);
        first.record(1, Outcome::ServerError);
        assert!(first.is_ejected(1));
        assert!(
            metrics
                .encode()
                .contains(r#"rig_outlier_ejections_total{cluster="c"} 1"#)
        );
        // Port 2 moves to index 0 in the new endpoint list; port 3 is new.
        let next = Outlier::new(
            "c",
            &def(),
            addrs(&[2, 3]),
            Some(&first),
            metrics.cluster("c"),
        );
        first.retire();
        assert!(next.is_ejected(0));
        assert!(!next.is_ejected(1));
        assert!(
            metrics
                .encode()
                .contains(r#"rig_outlier_ejections_active{cluster="c"} 1"#)
        );
        // Other settings start afresh.
        let changed = OutlierDetection {
            consecutive_5xx: 3,
            ..def()
        };
        let fresh = Outlier::new(
            "c",
            &changed,
            addrs(&[2, 3]),
            Some(&next),
            metrics.cluster("c"),
        );
        assert!(!fresh.is_ejected(0));
    }
}
