//! A route's idle timeout (Envoy's route `idle_timeout`): a request whose stream moves no
//! request or response bytes for that long fails, with a 408 (as Envoy) before the response headers,
//! with its response body cut after them.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// The furthest a deadline is set when the limit overflows the clock: beyond any stream's
/// life, and within what tokio's timer keeps.
const FAR_DEADLINE: Duration = Duration::from_secs(365 * 24 * 3600);

/// When a request's stream last moved, shared by its request body, the wait for the response
/// headers and its response body.
#[derive(Debug)]
pub(crate) struct IdleTimer {
    limit: Duration,
    origin: Instant,
    /// Nanoseconds from `origin` to the last activity.
    last: AtomicU64,
}

/// The error that ends a response body left idle for the route's idle timeout.
#[derive(Debug, thiserror::Error)]
#[error("no request or response bytes within the route's idle timeout of {limit:?}")]
pub(crate) struct IdleTimeoutElapsed {
    pub limit: Duration,
}

impl IdleTimer {
    /// A timer whose stream has just moved.
    pub fn start(limit: Duration) -> Arc<Self> {
        Arc::new(Self {
            limit,
            origin: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }

    /// Records that bytes moved now.
    pub fn touch(&self) {
        let since = u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last.fetch_max(since, Ordering::Relaxed);
    }

    fn deadline(&self) -> Instant {
        let last = Duration::from_nanos(self.last.load(Ordering::Relaxed));
        self.origin
            .checked_add(last.saturating_add(self.limit))
            .unwrap_or_else(|| Instant::now() + FAR_DEADLINE)
    }

    /// A timer for [`IdleTimer::poll_expired`].
    pub fn sleep(&self) -> Pin<Box<Sleep>> {
        Box::pin(tokio::time::sleep_until(self.deadline()))
    }

    /// Ready once the stream has been idle for the limit. `sleep` is the caller's timer, moved
    /// as activity moves the deadline.
    pub fn poll_expired(&self, sleep: &mut Pin<Box<Sleep>>, cx: &mut Context<'_>) -> Poll<()> {
        loop {
            let deadline = self.deadline();
            if sleep.deadline() != deadline {
                sleep.as_mut().reset(deadline);
            }
            ready!(sleep.as_mut().poll(cx));
            if self.deadline() <= Instant::now() {
                return Poll::Ready(());
            }
        }
    }

    /// Completes once the stream has been idle for the limit.
    pub async fn expired(&self) {
        let mut sleep = self.sleep();
        poll_fn(|cx| self.poll_expired(&mut sleep, cx)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn activity_pushes_the_deadline_back() {
        let timer = IdleTimer::start(Duration::from_millis(200));
        let expired = timer.expired();
        tokio::pin!(expired);
        for _ in 0..5 {
            tokio::select! {
                () = &mut expired => panic!("expired while active"),
                () = tokio::time::sleep(Duration::from_millis(100)) => timer.touch(),
            }
        }
        let start = Instant::now();
        expired.await;
        assert!(
            start.elapsed() >= Duration::from_millis(190),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_huge_limit_does_not_overflow_the_clock() {
        let timer = IdleTimer::start(Duration::MAX);
        timer.touch();
        tokio::select! {
            () = timer.expired() => panic!("expired"),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}
