use proptest::prelude::*;

use crate::*;

#[test]
fn defaults_are_envoys() {
    let d = RetryBudgetConfig::default();
    assert_eq!((d.budget_percent, d.min_retry_concurrency), (20.0, 3));
}

#[test]
fn min_concurrency_allows_retries_when_quiet() {
    let b = RetryBudget::default();
    let retries: Vec<RetryPermit> = (0..3).map(|_| b.try_retry().unwrap()).collect();
    assert_eq!(
        b.try_retry().unwrap_err(),
        RetryRefused {
            active_retries: 3,
            allowed: 3
        }
    );
    drop(retries);
    assert_eq!(b.active_retries(), 0);
    assert!(b.try_retry().is_ok());
}

#[test]
fn budget_grows_with_active_requests() {
    let b = RetryBudget::default();
    let requests: Vec<ActiveRequest> = (0..100).map(|_| b.request()).collect();
    assert_eq!(b.allowed(), 20);
    let retries: Vec<RetryPermit> = (0..20).map(|_| b.try_retry().unwrap()).collect();
    assert!(b.try_retry().is_err());
    // Requests finishing shrink the budget; held retries stay, new ones wait.
    drop(requests);
    assert_eq!(b.allowed(), 3);
    assert!(b.try_retry().is_err());
    drop(retries);
    assert!(b.try_retry().is_ok());
}

#[test]
fn zero_percent_leaves_the_minimum() {
    let b = RetryBudget::new(RetryBudgetConfig {
        budget_percent: 0.0,
        min_retry_concurrency: 1,
    });
    let _r: Vec<ActiveRequest> = (0..1000).map(|_| b.request()).collect();
    let _one = b.try_retry().unwrap();
    assert!(b.try_retry().is_err());
}

#[test]
fn out_of_range_percentages_are_clamped() {
    let b = RetryBudget::new(RetryBudgetConfig {
        budget_percent: 250.0,
        min_retry_concurrency: 0,
    });
    assert_eq!(b.config().budget_percent, 100.0);
    let nan = RetryBudget::new(RetryBudgetConfig {
        budget_percent: f64::NAN,
        min_retry_concurrency: 0,
    });
    let _r = nan.request();
    assert!(nan.try_retry().is_err());
}

proptest! {
    /// A retry is granted exactly while the active retries are below
    /// max(min_retry_concurrency, budget_percent × active requests).
    #[test]
    fn grants_follow_the_formula(
        percent in 0.0f64..100.0,
        min in 0u32..5,
        ops in prop::collection::vec(0u8..4, 0..80),
    ) {
        let b = RetryBudget::new(RetryBudgetConfig { budget_percent: percent, min_retry_concurrency: min });
        let mut requests = Vec::new();
        let mut retries = Vec::new();
        for op in ops {
            match op {
                0 => requests.push(b.request()),
                1 => { requests.pop(); }
                2 => {
                    let allowed = ((requests.len() as f64 * percent / 100.0) as u32).max(min);
                    match b.try_retry() {
                        Ok(p) => { prop_assert!((retries.len() as u32) < allowed); retries.push(p); }
                        Err(e) => {
                            prop_assert!(retries.len() as u32 >= allowed);
                            prop_assert_eq!(e.allowed, allowed);
                        }
                    }
                }
                _ => { retries.pop(); }
            }
            prop_assert_eq!(b.active_requests() as usize, requests.len());
            prop_assert_eq!(b.active_retries() as usize, retries.len());
        }
    }
}
