//! Outlier detection by consecutive 5xx, with Envoy's ejection algorithm.
//!
//! Outcomes are recorded from the request path (one relaxed atomic per response); reaching
//! `consecutive_5xx` takes a mutex to decide the ejection, as rare as ejections are. Ejections
//! are published through a shared [`Ejections`] view that balancers read without locks.
//!
//! Sweeps (Envoy's `interval` timer: return endpoints whose ejection time is up, decay the
//! backoff of healthy ones) run lazily: every [`OutlierDetector::record`] and
//! [`OutlierDetector::maybe_sweep`] call checks one atomic and sweeps once `interval` has passed
//! since the last sweep. The proxy calls `maybe_sweep` before each pick (so a cluster whose
//! endpoints are all ejected still gets them back), or runs [`OutlierDetector::sweep`] on its
//! own timer every `interval`. Like Envoy, an endpoint returns at the first sweep at or after
//! its ejection time is up.

use std::fmt;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rigging_proxy_balance::Ejections;

use crate::clock::{Clock, SystemClock};

/// Envoy's default `consecutive_5xx`: five failures in a row are not bad luck.
pub const DEFAULT_CONSECUTIVE_5XX: u32 = 5;
/// Envoy's default `enforcing_consecutive_5xx`: every detected outlier is ejected.
pub const DEFAULT_ENFORCING_CONSECUTIVE_5XX: u32 = 100;
/// Envoy's default `interval` between sweeps.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Envoy's default `base_ejection_time`; the n-th ejection in a row lasts n times this.
pub const DEFAULT_BASE_EJECTION_TIME: Duration = Duration::from_secs(30);
/// Envoy's default `max_ejection_time`: the cap on a backed-off ejection.
pub const DEFAULT_MAX_EJECTION_TIME: Duration = Duration::from_secs(300);
/// Envoy's default `max_ejection_percent`: outlier detection must never empty a cluster.
pub const DEFAULT_MAX_EJECTION_PERCENT: u32 = 10;

/// Envoy's `outlier_detection` for consecutive 5xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierConfig {
    /// Failures in a row that make an endpoint an outlier; 0 disables detection.
    pub consecutive_5xx: u32,
    /// Chance, in percent (0–100), that a detected outlier is actually ejected.
    pub enforcing_consecutive_5xx: u32,
    /// Time between sweeps.
    pub interval: Duration,
    /// Ejection time per backoff step (base × the number of ejections in a row).
    pub base_ejection_time: Duration,
    /// Cap on an ejection's time.
    pub max_ejection_time: Duration,
    /// Most endpoints, in percent of all of the cluster's (every priority), ejected at once:
    /// an ejection that would exceed it is refused (Envoy 1.31 on; before, Envoy ejected one
    /// more than allowed whenever below the limit).
    pub max_ejection_percent: u32,
    /// Envoy's `always_eject_one_host` (off by default): allow one ejection whatever
    /// `max_ejection_percent` says, so small clusters (fewer than 10 endpoints at 10 %) can
    /// eject at all. Pilot does not send it; on means the behaviour of Envoy before 1.31.
    pub always_eject_one_host: bool,
}

/// How one request to an endpoint ended, as outlier detection counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// A response below 500.
    Success,
    /// A 5xx response from the endpoint.
    ServerError,
    /// No response: connect failure, reset or timeout. Counts as a 5xx, as in Envoy without
    /// `split_external_local_origin_errors`.
    LocalOriginFailure,
}

/// A change the detector made (or refused), for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The endpoint was ejected for `duration`.
    Ejected { index: usize, duration: Duration },
    /// The endpoint is an outlier but `max_ejection_percent` is reached.
    Overflow { index: usize },
    /// The endpoint is an outlier but the `enforcing_consecutive_5xx` roll spared it.
    NotEnforced { index: usize },
    /// The endpoint's ejection time was up; it takes traffic again.
    Returned { index: usize },
}

/// Counters since the detector was built (Envoy's `outlier_detection.*` stats), for metrics:
/// they also count what sweeps run inside [`OutlierDetector::record`] did, whose events are not
/// returned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutlierStats {
    /// Endpoints ejected now (`ejections_active`).
    pub ejections_active: u64,
    /// Outliers detected, ejected or not (`ejections_detected_consecutive_5xx`).
    pub detected_total: u64,
    /// Ejections made (`ejections_enforced_total`).
    pub enforced_total: u64,
    /// Ejections refused by `max_ejection_percent` (`ejections_overflow`).
    pub overflow_total: u64,
    /// Endpoints returned to service.
    pub returned_total: u64,
}

/// Per-endpoint outlier detection for one cluster. Indices are those of the balancer built over
/// the same endpoint list.
pub struct OutlierDetector {
    config: OutlierConfig,
    clock: Arc<dyn Clock>,
    epoch: Instant,
    ejections: Ejections,
    consecutive: Box<[AtomicU32]>,
    /// Nanoseconds since `epoch` at which the next lazy sweep is due.
    next_sweep: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Clone, Default)]
struct State {
    hosts: Vec<HostState>,
    ejected: usize,
    stats: OutlierStats,
}

#[derive(Debug, Clone, Copy, Default)]
struct HostState {
    /// When the current ejection started; `None` while the endpoint takes traffic.
    ejected_at: Option<Instant>,
    /// Envoy's ejection time backoff: up by one per ejection, down by one per sweep that finds
    /// the endpoint healthy.
    backoff: u32,
    times_ejected: u64,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_5xx: DEFAULT_CONSECUTIVE_5XX,
            enforcing_consecutive_5xx: DEFAULT_ENFORCING_CONSECUTIVE_5XX,
            interval: DEFAULT_INTERVAL,
            base_ejection_time: DEFAULT_BASE_EJECTION_TIME,
            max_ejection_time: DEFAULT_MAX_EJECTION_TIME,
            max_ejection_percent: DEFAULT_MAX_EJECTION_PERCENT,
            always_eject_one_host: false,
        }
    }
}

impl Outcome {
    /// The outcome of a response with `status`.
    pub fn from_status(status: u16) -> Self {
        if status >= 500 {
            Outcome::ServerError
        } else {
            Outcome::Success
        }
    }

    fn is_failure(self) -> bool {
        !matches!(self, Outcome::Success)
    }
}

impl OutlierDetector {
    /// A detector over `len` endpoints on the system clock.
    pub fn new(config: OutlierConfig, len: usize) -> Self {
        Self::with_clock(config, len, Arc::new(SystemClock))
    }

    /// A detector over `len` endpoints on `clock`. Percentages above 100 are taken as 100.
    pub fn with_clock(mut config: OutlierConfig, len: usize, clock: Arc<dyn Clock>) -> Self {
        config.enforcing_consecutive_5xx = config.enforcing_consecutive_5xx.min(100);
        config.max_ejection_percent = config.max_ejection_percent.min(100);
        let epoch = clock.now();
        Self {
            next_sweep: AtomicU64::new(nanos(config.interval)),
            config,
            clock,
            epoch,
            ejections: Ejections::new(len),
            consecutive: (0..len).map(|_| AtomicU32::new(0)).collect(),
            state: Mutex::new(State {
                hosts: vec![HostState::default(); len],
                ..State::default()
            }),
        }
    }

    /// A detector for a new endpoint list of `len` that keeps the state (ejection, backoff,
    /// failure count) of the endpoints `old_index` maps back to this one's, so a configuration
    /// update does not forgive an ejected endpoint. Build the new balancer with the new
    /// detector's [`OutlierDetector::ejections`].
    pub fn carry_over(&self, len: usize, old_index: impl Fn(usize) -> Option<usize>) -> Self {
        let next = Self::with_clock(self.config.clone(), len, Arc::clone(&self.clock));
        let old = self.lock();
        let mut new = next.lock();
        for i in 0..len {
            let Some(host) = old_index(i).and_then(|o| old.hosts.get(o).map(|h| (o, *h))) else {
                continue;
            };
            let (o, host) = host;
            new.hosts[i] = host;
            if host.ejected_at.is_some() {
                new.ejected += 1;
                new.stats.ejections_active += 1;
                next.ejections.set(i, true);
            }
            next.consecutive[i].store(
                self.consecutive[o].load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
        }
        drop(new);
        next.next_sweep
            .store(self.next_sweep.load(Ordering::Relaxed), Ordering::Relaxed);
        next
    }

    pub fn config(&self) -> &OutlierConfig {
        &self.config
    }

    /// How many endpoints the detector covers.
    pub fn len(&self) -> usize {
        self.consecutive.len()
    }

    pub fn is_empty(&self) -> bool {
        self.consecutive.is_empty()
    }

    /// The view to build balancers with (a clone sharing the flags).
    pub fn ejections(&self) -> Ejections {
        self.ejections.clone()
    }

    pub fn is_ejected(&self, index: usize) -> bool {
        self.ejections.is_ejected(index)
    }

    /// Endpoints ejected now.
    pub fn ejected_count(&self) -> usize {
        self.lock().ejected
    }

    /// Counters for metrics.
    pub fn stats(&self) -> OutlierStats {
        self.lock().stats
    }

    /// How many times the endpoint at `index` has been ejected.
    pub fn times_ejected(&self, index: usize) -> u64 {
        self.lock().hosts.get(index).map_or(0, |h| h.times_ejected)
    }

    /// Records how a request to the endpoint at `index` ended; ejects it when that makes
    /// `consecutive_5xx` failures in a row. Runs a due sweep first. Out-of-range indices are
    /// ignored.
    pub fn record(&self, index: usize, outcome: Outcome) -> Option<Event> {
        self.maybe_sweep();
        let counter = self.consecutive.get(index)?;
        if !outcome.is_failure() {
            // Skip the store when already zero, so healthy traffic does not bounce the line.
            if counter.load(Ordering::Relaxed) != 0 {
                counter.store(0, Ordering::Relaxed);
            }
            return None;
        }
        let failures = counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if self.config.consecutive_5xx == 0 || failures != self.config.consecutive_5xx {
            return None;
        }
        let event = self.try_eject(index);
        // As Envoy: a new bout of failures is needed for another detection, even without an
        // interleaved success.
        counter.store(0, Ordering::Relaxed);
        event
    }

    /// Sweeps when `interval` has passed since the last sweep; cheap otherwise (one atomic
    /// load). Returns what the sweep changed.
    pub fn maybe_sweep(&self) -> Vec<Event> {
        let now = self.clock.now();
        let now_nanos = nanos(now.saturating_duration_since(self.epoch));
        let due = self.next_sweep.load(Ordering::Relaxed);
        if now_nanos < due {
            return Vec::new();
        }
        let next = now_nanos.saturating_add(nanos(self.config.interval));
        if self
            .next_sweep
            .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return Vec::new(); // another caller claimed this sweep
        }
        self.sweep_at(now)
    }

    /// Sweeps now (for a proxy that runs its own `interval` timer): returns endpoints whose
    /// ejection time is up and decays the backoff of endpoints found healthy.
    pub fn sweep(&self) -> Vec<Event> {
        let now = self.clock.now();
        let next = nanos(now.saturating_duration_since(self.epoch))
            .saturating_add(nanos(self.config.interval));
        self.next_sweep.store(next, Ordering::Relaxed);
        self.sweep_at(now)
    }

    fn sweep_at(&self, now: Instant) -> Vec<Event> {
        let mut events = Vec::new();
        let mut state = self.lock();
        let State {
            hosts,
            ejected,
            stats,
        } = &mut *state;
        for (index, host) in hosts.iter_mut().enumerate() {
            let Some(at) = host.ejected_at else {
                // Healthy since the last sweep: the next ejection will be shorter.
                host.backoff = host.backoff.saturating_sub(1);
                continue;
            };
            if now.saturating_duration_since(at) >= self.ejection_time(host.backoff) {
                host.ejected_at = None;
                *ejected -= 1;
                stats.ejections_active -= 1;
                stats.returned_total += 1;
                self.ejections.set(index, false);
                // A fresh start, so that a few new errors do not eject it again at once.
                self.consecutive[index].store(0, Ordering::Relaxed);
                events.push(Event::Returned { index });
            }
        }
        events
    }

    fn try_eject(&self, index: usize) -> Option<Event> {
        let mut state = self.lock();
        let total = state.hosts.len();
        let ejected = state.ejected;
        if state.hosts.get(index)?.ejected_at.is_some() {
            return None;
        }
        state.stats.detected_total += 1;
        let within = 100 * (ejected + 1) <= self.config.max_ejection_percent as usize * total;
        if !(within || (self.config.always_eject_one_host && ejected == 0)) {
            state.stats.overflow_total += 1;
            return Some(Event::Overflow { index });
        }
        if fastrand::u32(..100) >= self.config.enforcing_consecutive_5xx {
            return Some(Event::NotEnforced { index });
        }
        let base = self.config.base_ejection_time;
        let max = self.config.max_ejection_time;
        let host = &mut state.hosts[index];
        host.ejected_at = Some(self.clock.now());
        host.times_ejected += 1;
        // Envoy's rule: grow the backoff while base × backoff is below max + base, so it stops
        // one step past the cap.
        if base.saturating_mul(host.backoff) < max.saturating_add(base) {
            host.backoff += 1;
        }
        let duration = self.ejection_time(host.backoff);
        state.ejected += 1;
        state.stats.ejections_active += 1;
        state.stats.enforced_total += 1;
        self.ejections.set(index, true);
        Some(Event::Ejected { index, duration })
    }

    fn ejection_time(&self, backoff: u32) -> Duration {
        self.config
            .base_ejection_time
            .saturating_mul(backoff)
            .min(self.config.max_ejection_time)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent at every await-free step, so a panic elsewhere while
        // holding the lock leaves nothing half-done.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for OutlierDetector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutlierDetector")
            .field("config", &self.config)
            .field("ejections", &self.ejections)
            .finish_non_exhaustive()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
