use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rigging_proxy_balance::{Balancer, Endpoint, Options, Policy};

use crate::*;

const SEC: Duration = Duration::from_secs(1);

fn config() -> OutlierConfig {
    OutlierConfig {
        consecutive_5xx: 3,
        max_ejection_percent: 100,
        ..OutlierConfig::default()
    }
}

fn detector(config: OutlierConfig, len: usize) -> (OutlierDetector, FakeClock) {
    let clock = FakeClock::new();
    let d = OutlierDetector::with_clock(config, len, Arc::new(clock.clone()));
    (d, clock)
}

fn fail(d: &OutlierDetector, index: usize, times: u32) -> Option<Event> {
    (0..times).fold(None, |_, _| d.record(index, Outcome::ServerError))
}

#[test]
fn defaults_are_envoys() {
    let c = OutlierConfig::default();
    assert_eq!(c.consecutive_5xx, 5);
    assert_eq!(c.enforcing_consecutive_5xx, 100);
    assert_eq!(c.interval, 10 * SEC);
    assert_eq!(c.base_ejection_time, 30 * SEC);
    assert_eq!(c.max_ejection_time, 300 * SEC);
    assert_eq!(c.max_ejection_percent, 10);
    assert!(!c.always_eject_one_host);
}

#[test]
fn outcomes_from_status() {
    assert_eq!(Outcome::from_status(200), Outcome::Success);
    assert_eq!(Outcome::from_status(404), Outcome::Success);
    assert_eq!(Outcome::from_status(503), Outcome::ServerError);
}

#[test]
fn a_success_breaks_the_run() {
    let (d, _) = detector(config(), 2);
    fail(&d, 0, 2);
    d.record(0, Outcome::Success);
    assert_eq!(fail(&d, 0, 2), None);
    assert!(!d.is_ejected(0));
    assert!(matches!(
        d.record(0, Outcome::LocalOriginFailure),
        Some(Event::Ejected { index: 0, .. })
    ));
    assert!(d.is_ejected(0));
    assert!(!d.is_ejected(1));
}

#[test]
fn ejection_timeline_with_backoff_and_decay() {
    let (d, clock) = detector(config(), 4);
    // First ejection: base × 1 = 30 s.
    assert_eq!(
        fail(&d, 1, 3),
        Some(Event::Ejected {
            index: 1,
            duration: 30 * SEC
        })
    );
    // Sweeps run every 10 s; the endpoint returns at the first sweep at or after 30 s.
    for _ in 0..2 {
        clock.advance(10 * SEC);
        assert_eq!(d.maybe_sweep(), vec![]);
        assert!(d.is_ejected(1));
    }
    clock.advance(10 * SEC);
    assert_eq!(d.maybe_sweep(), vec![Event::Returned { index: 1 }]);
    assert!(!d.is_ejected(1));
    // Ejected again at once: base × 2 = 60 s.
    assert_eq!(
        fail(&d, 1, 3),
        Some(Event::Ejected {
            index: 1,
            duration: 60 * SEC
        })
    );
    clock.advance(50 * SEC);
    d.sweep();
    assert!(d.is_ejected(1));
    clock.advance(10 * SEC);
    assert_eq!(d.sweep(), vec![Event::Returned { index: 1 }]);
    // Two healthy sweeps bring the backoff from 2 back to 0: the next ejection is 30 s again.
    clock.advance(10 * SEC);
    d.sweep();
    clock.advance(10 * SEC);
    d.sweep();
    assert_eq!(
        fail(&d, 1, 3),
        Some(Event::Ejected {
            index: 1,
            duration: 30 * SEC
        })
    );
    assert_eq!(d.times_ejected(1), 3);
}

#[test]
fn ejection_time_is_capped_by_max_ejection_time() {
    let (d, clock) = detector(
        OutlierConfig {
            max_ejection_time: 70 * SEC,
            ..config()
        },
        1,
    );
    let mut durations = Vec::new();
    for _ in 0..5 {
        if let Some(Event::Ejected { duration, .. }) = fail(&d, 0, 3) {
            durations.push(duration);
        }
        clock.advance(300 * SEC);
        d.sweep();
    }
    assert_eq!(
        durations,
        [30 * SEC, 60 * SEC, 70 * SEC, 70 * SEC, 70 * SEC]
    );
}

#[test]
fn sweeps_are_lazy_and_due_by_interval() {
    let (d, clock) = detector(config(), 1);
    fail(&d, 0, 3);
    clock.advance(9 * SEC);
    assert_eq!(d.maybe_sweep(), vec![]);
    clock.advance(25 * SEC);
    // No explicit sweep: recording any outcome runs the due sweep first, and the stats say so.
    d.record(0, Outcome::Success);
    assert!(!d.is_ejected(0));
    assert_eq!(d.stats().returned_total, 1);
    assert_eq!(d.stats().ejections_active, 0);
}

#[test]
fn failures_while_ejected_do_not_extend_the_ejection() {
    let (d, clock) = detector(config(), 1);
    fail(&d, 0, 3);
    assert_eq!(fail(&d, 0, 3), None, "already ejected");
    clock.advance(30 * SEC);
    assert_eq!(d.sweep(), vec![Event::Returned { index: 0 }]);
    assert_eq!(d.times_ejected(0), 1);
    // The failure count starts over after the return.
    assert_eq!(fail(&d, 0, 2), None);
}

#[test]
fn max_ejection_percent_is_never_exceeded() {
    // 10 endpoints at 10 %: one may be ejected, not two.
    let (d, _) = detector(
        OutlierConfig {
            max_ejection_percent: 10,
            ..config()
        },
        10,
    );
    assert!(matches!(fail(&d, 0, 3), Some(Event::Ejected { .. })));
    assert_eq!(fail(&d, 1, 3), Some(Event::Overflow { index: 1 }));
    assert_eq!(d.ejected_count(), 1);
    assert_eq!(
        d.stats(),
        OutlierStats {
            ejections_active: 1,
            detected_total: 2,
            enforced_total: 1,
            overflow_total: 1,
            returned_total: 0,
        }
    );
}

#[test]
fn small_clusters_eject_only_with_always_eject_one_host() {
    // Five endpoints at 10 %: one is 20 %, above the limit, so Envoy (1.31 on) ejects none.
    let strict = OutlierConfig {
        max_ejection_percent: 10,
        ..config()
    };
    let (d, _) = detector(strict.clone(), 5);
    assert_eq!(fail(&d, 0, 3), Some(Event::Overflow { index: 0 }));
    // With always_eject_one_host, one, and only one.
    let (d, _) = detector(
        OutlierConfig {
            always_eject_one_host: true,
            ..strict
        },
        5,
    );
    assert!(matches!(fail(&d, 0, 3), Some(Event::Ejected { .. })));
    assert_eq!(fail(&d, 1, 3), Some(Event::Overflow { index: 1 }));
}

#[test]
fn enforcing_zero_detects_without_ejecting() {
    let (d, _) = detector(
        OutlierConfig {
            enforcing_consecutive_5xx: 0,
            ..config()
        },
        2,
    );
    assert_eq!(fail(&d, 0, 3), Some(Event::NotEnforced { index: 0 }));
    assert!(!d.is_ejected(0));
}

#[test]
fn consecutive_zero_disables_detection() {
    let (d, _) = detector(
        OutlierConfig {
            consecutive_5xx: 0,
            ..config()
        },
        1,
    );
    assert_eq!(fail(&d, 0, 100), None);
}

#[test]
fn carry_over_keeps_state_across_updates() {
    let (d, clock) = detector(config(), 3);
    fail(&d, 2, 3);
    fail(&d, 0, 2);
    // New list: the old endpoint 2 is now at 0, the old 0 at 1, and 2 is new.
    let next = d.carry_over(3, |i| [Some(2), Some(0), None][i]);
    assert!(next.is_ejected(0));
    assert_eq!(next.ejected_count(), 1);
    assert!(matches!(
        next.record(1, Outcome::ServerError),
        Some(Event::Ejected { index: 1, .. })
    ));
    clock.advance(30 * SEC);
    let returned = next.sweep();
    assert!(returned.contains(&Event::Returned { index: 0 }));
}

#[test]
fn balancer_skips_what_the_detector_ejects() {
    let (d, clock) = detector(config(), 3);
    let b = Balancer::with_options(
        Policy::RoundRobin,
        Options {
            ejections: Some(d.ejections()),
            ..Options::default()
        },
        (0..3).map(|i| Endpoint {
            value: i,
            serving: true,
            weight: 1,
            priority: if i == 2 { 1 } else { 0 },
            hash_key: String::new(),
        }),
    );
    fail(&d, 0, 3);
    assert!((0..10).all(|_| b.pick().unwrap().index == 1));
    fail(&d, 1, 3);
    assert!((0..10).all(|_| b.pick().unwrap().index == 2), "failover");
    clock.advance(30 * SEC);
    d.maybe_sweep();
    assert!(
        (0..10).all(|_| b.pick().unwrap().index != 2),
        "back to priority 0"
    );
}

proptest! {
    /// Whatever the failures and the time, ejections stay within max_ejection_percent (plus
    /// the one always_eject_one_host allows) and the shared view agrees with the detector.
    #[test]
    fn ejections_stay_within_the_limit(
        len in 1usize..12,
        percent in 0u32..101,
        always_one in any::<bool>(),
        steps in prop::collection::vec((0usize..12, 0u8..4, 0u64..20), 0..200),
    ) {
        let (d, clock) = detector(OutlierConfig {
            consecutive_5xx: 2,
            max_ejection_percent: percent,
            always_eject_one_host: always_one,
            ..config()
        }, len);
        let limit = (percent as usize * len) / 100;
        let limit = if always_one { limit.max(1) } else { limit };
        for (index, what, secs) in steps {
            let outcome = [Outcome::Success, Outcome::ServerError, Outcome::LocalOriginFailure, Outcome::ServerError][what as usize];
            d.record(index % len, outcome);
            clock.advance(Duration::from_secs(secs));
            prop_assert!(d.ejected_count() <= limit, "{} ejected, limit {}", d.ejected_count(), limit);
            prop_assert_eq!(d.ejections().ejected_count(), d.ejected_count());
            prop_assert_eq!(d.stats().ejections_active, d.ejected_count() as u64);
        }
        // Long enough after everything, every endpoint is back.
        clock.advance(DEFAULT_MAX_EJECTION_TIME + DEFAULT_INTERVAL);
        d.maybe_sweep();
        prop_assert_eq!(d.ejected_count(), 0);
    }
}
