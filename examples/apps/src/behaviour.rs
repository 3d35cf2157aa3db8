//! What the tests of traffic rules need from an HTTP app: failing on purpose, deterministically,
//! and counting the requests it served.

use std::sync::atomic::{AtomicU64, Ordering};

use http::StatusCode;

/// How an HTTP app fails on purpose: `percent` % of its requests are answered `status` instead
/// of being served. Which ones is deterministic, spread evenly: request `n` (counted from 1)
/// fails when `⌊n·percent/100⌋` grows, so 50 fails every second request, 10 every tenth, 100
/// every one and 0 none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailRule {
    status: StatusCode,
    percent: u8,
}

/// Why a [`FailRule`] was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FailRuleError {
    /// Not a final status (200–599).
    #[error("fail status must be a final status code (200-599), found {0}")]
    Status(u16),
    /// More than 100 %.
    #[error("fail percent must be 0-100, found {0}")]
    Percent(u8),
}

impl FailRule {
    /// Answer `status` (200–599) to `percent` (0–100) % of the requests.
    pub fn new(status: u16, percent: u8) -> Result<Self, FailRuleError> {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| (200..=599).contains(&s.as_u16()))
            .ok_or(FailRuleError::Status(status))?;
        if percent > 100 {
            return Err(FailRuleError::Percent(percent));
        }
        Ok(Self { status, percent })
    }

    /// The status answered to a failed request.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The share of requests that fail, in percent.
    pub fn percent(&self) -> u8 {
        self.percent
    }

    /// Whether request `n` (counted from 1) fails.
    fn fails(&self, n: u64) -> bool {
        let p = u64::from(self.percent);
        n * p / 100 > (n - 1) * p / 100
    }
}

/// How an HTTP example app behaves beyond its endpoints (see [`crate::serve_http_with`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Fail some requests on purpose; none when `None`.
    pub fail: Option<FailRule>,
}

impl HttpOptions {
    /// The options with `fail` set.
    pub fn with_fail(mut self, fail: FailRule) -> Self {
        self.fail = Some(fail);
        self
    }
}

/// The counters of one running app.
#[derive(Debug, Default)]
pub(crate) struct Behaviour {
    options: HttpOptions,
    /// Requests served, `GET /hits` excepted.
    hits: AtomicU64,
}

impl Behaviour {
    pub(crate) fn new(options: HttpOptions) -> Self {
        Self {
            options,
            hits: AtomicU64::new(0),
        }
    }

    /// Counts one request; the status to answer instead of serving it, if it is one that
    /// fails on purpose.
    pub(crate) fn count(&self) -> Option<StatusCode> {
        let n = self.hits.fetch_add(1, Ordering::Relaxed) + 1;
        self.options
            .fail
            .filter(|rule| rule.fails(n))
            .map(|rule| rule.status)
    }

    /// How many requests were counted so far.
    pub(crate) fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failures(percent: u8, requests: u64) -> Vec<u64> {
        let rule = FailRule::new(503, percent).expect("rule");
        (1..=requests).filter(|n| rule.fails(*n)).collect()
    }

    #[test]
    fn failures_are_spread_evenly() {
        assert_eq!(failures(0, 20), Vec::<u64>::new());
        assert_eq!(failures(100, 5), vec![1, 2, 3, 4, 5]);
        assert_eq!(failures(50, 8), vec![2, 4, 6, 8]);
        assert_eq!(failures(10, 30), vec![10, 20, 30]);
        assert_eq!(failures(25, 8), vec![4, 8]);
        for percent in [1, 7, 33, 50, 90, 99] {
            assert_eq!(
                failures(percent, 1000).len(),
                usize::from(percent) * 10,
                "{percent} %"
            );
        }
    }

    #[test]
    fn rules_are_checked() {
        assert_eq!(FailRule::new(199, 10), Err(FailRuleError::Status(199)));
        assert_eq!(FailRule::new(600, 10), Err(FailRuleError::Status(600)));
        assert_eq!(FailRule::new(503, 101), Err(FailRuleError::Percent(101)));
        let rule = FailRule::new(418, 100).expect("rule");
        assert_eq!(rule.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(rule.percent(), 100);
    }

    #[test]
    fn behaviour_counts_every_request() {
        let b =
            Behaviour::new(HttpOptions::default().with_fail(FailRule::new(503, 50).expect("rule")));
        assert_eq!(b.count(), None);
        assert_eq!(b.count(), Some(StatusCode::SERVICE_UNAVAILABLE));
        assert_eq!(b.count(), None);
        assert_eq!(b.hits(), 3);
        assert_eq!(Behaviour::default().count(), None);
    }
}
