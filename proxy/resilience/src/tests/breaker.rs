use proptest::prelude::*;

use crate::*;

fn limits(connections: u32, pending: u32, requests: u32) -> BreakerLimits {
    BreakerLimits {
        max_connections: connections,
        max_pending_requests: pending,
        max_requests: requests,
    }
}

#[test]
fn defaults_are_envoys() {
    let d = BreakerLimits::default();
    assert_eq!(
        (d.max_connections, d.max_pending_requests, d.max_requests),
        (1024, 1024, 1024)
    );
}

#[test]
fn refuses_beyond_each_limit_and_names_it() {
    let b = CircuitBreaker::new(limits(1, 2, 3));
    let _c = b.try_connection().unwrap();
    assert_eq!(
        b.try_connection().unwrap_err(),
        Overflow {
            limit: Limit::Connections,
            max: 1
        }
    );
    let _p: Vec<Permit> = (0..2).map(|_| b.try_pending().unwrap()).collect();
    let err = b.try_pending().unwrap_err();
    assert_eq!(err.limit, Limit::PendingRequests);
    assert_eq!(
        err.to_string(),
        "circuit breaker open: pending requests at their limit of 2"
    );
    let _r: Vec<Permit> = (0..3).map(|_| b.try_request().unwrap()).collect();
    assert_eq!(b.try_request().unwrap_err().limit, Limit::Requests);
    assert_eq!(b.in_use(Limit::Requests), 3);
}

#[test]
fn permits_release_on_drop_across_clones() {
    let b = CircuitBreaker::new(limits(1, 1, 1));
    let shared = b.clone();
    let r = b.try_request().unwrap();
    assert!(shared.try_request().is_err());
    drop(r);
    assert_eq!(shared.in_use(Limit::Requests), 0);
    let _r = shared.try_request().unwrap();
}

#[test]
fn zero_refuses_everything() {
    let b = CircuitBreaker::new(limits(0, 0, 0));
    assert!(b.try_connection().is_err());
    assert!(b.try_pending().is_err());
    assert!(b.try_request().is_err());
}

#[test]
fn concurrent_acquires_never_overshoot() {
    let b = CircuitBreaker::new(limits(8, 8, 8));
    let granted = std::sync::atomic::AtomicUsize::new(0);
    let held = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..100 {
                    if let Ok(p) = b.try_request() {
                        granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        held.lock().unwrap().push(p);
                    }
                }
            });
        }
    });
    assert_eq!(granted.into_inner(), 8);
    assert_eq!(b.in_use(Limit::Requests), 8);
}

proptest! {
    /// Any interleaving of acquires and releases: in use equals permits held, never above max.
    #[test]
    fn in_use_tracks_held_permits(
        max in 0u32..6,
        ops in prop::collection::vec((0usize..3, any::<bool>()), 0..60),
    ) {
        let b = CircuitBreaker::new(limits(max, max, max));
        let kinds = [Limit::Connections, Limit::PendingRequests, Limit::Requests];
        let mut held: Vec<Permit> = Vec::new();
        for (k, acquire) in ops {
            let limit = kinds[k];
            if acquire {
                let holding = held.iter().filter(|p| p.limit() == limit).count() as u32;
                match b.try_acquire(limit) {
                    Ok(p) => { prop_assert!(holding < max); held.push(p); }
                    Err(e) => { prop_assert_eq!(holding, max); prop_assert_eq!(e.limit, limit); }
                }
            } else if let Some(pos) = held.iter().position(|p| p.limit() == limit) {
                drop(held.swap_remove(pos));
            }
            for l in kinds {
                let holding = held.iter().filter(|p| p.limit() == l).count() as u32;
                prop_assert_eq!(b.in_use(l), holding);
            }
        }
    }
}
