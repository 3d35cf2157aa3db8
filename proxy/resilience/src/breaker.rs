//! Circuit breakers: per-cluster limits on connections, pending requests and requests.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

/// Envoy's default `max_connections` when a threshold leaves it unset: high enough never to
/// bind a healthy service, low enough to stop a proxy from opening sockets without end.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 1024;
/// Envoy's default `max_pending_requests`: requests waiting for a connection.
pub const DEFAULT_MAX_PENDING_REQUESTS: u32 = 1024;
/// Envoy's default `max_requests`: requests in flight to the cluster at once.
pub const DEFAULT_MAX_REQUESTS: u32 = 1024;

/// The limits of one cluster (Envoy's `thresholds` at priority `DEFAULT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerLimits {
    pub max_connections: u32,
    pub max_pending_requests: u32,
    pub max_requests: u32,
}

/// Which limit a permit counts against, or a refusal names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    Connections,
    PendingRequests,
    Requests,
}

/// A limit was reached: the request is refused at once (a 503), never queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker open: {limit} at their limit of {max}")]
pub struct Overflow {
    pub limit: Limit,
    pub max: u32,
}

/// Counters of one cluster's connections, pending requests and requests against their limits.
/// Cheap to clone; clones share the counters. Unlike Envoy (check, then increment), acquiring
/// is one compare-and-swap, so a limit is never overshot under contention.
#[derive(Clone)]
pub struct CircuitBreaker {
    inner: Arc<Inner>,
}

/// One unit of a limit, released when dropped. Owned, so it can live in a response body.
#[must_use = "the permit is released as soon as it is dropped"]
pub struct Permit {
    inner: Arc<Inner>,
    limit: Limit,
}

struct Inner {
    limits: BreakerLimits,
    connections: AtomicU32,
    pending: AtomicU32,
    requests: AtomicU32,
}

impl Default for BreakerLimits {
    fn default() -> Self {
        Self {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            max_requests: DEFAULT_MAX_REQUESTS,
        }
    }
}

impl BreakerLimits {
    /// The maximum of `limit`.
    pub fn max(&self, limit: Limit) -> u32 {
        match limit {
            Limit::Connections => self.max_connections,
            Limit::PendingRequests => self.max_pending_requests,
            Limit::Requests => self.max_requests,
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Connections => "connections",
            Limit::PendingRequests => "pending requests",
            Limit::Requests => "requests",
        })
    }
}

impl CircuitBreaker {
    pub fn new(limits: BreakerLimits) -> Self {
        Self {
            inner: Arc::new(Inner {
                limits,
                connections: AtomicU32::new(0),
                pending: AtomicU32::new(0),
                requests: AtomicU32::new(0),
            }),
        }
    }

    pub fn limits(&self) -> BreakerLimits {
        self.inner.limits
    }

    /// Takes one unit of `limit`, or says which limit is full.
    pub fn try_acquire(&self, limit: Limit) -> Result<Permit, Overflow> {
        let max = self.inner.limits.max(limit);
        self.inner
            .counter(limit)
            .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| Overflow { limit, max })?;
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            limit,
        })
    }

    /// A new upstream connection.
    pub fn try_connection(&self) -> Result<Permit, Overflow> {
        self.try_acquire(Limit::Connections)
    }

    /// A request waiting for a connection.
    pub fn try_pending(&self) -> Result<Permit, Overflow> {
        self.try_acquire(Limit::PendingRequests)
    }

    /// A request in flight.
    pub fn try_request(&self) -> Result<Permit, Overflow> {
        self.try_acquire(Limit::Requests)
    }

    /// Units of `limit` held now.
    pub fn in_use(&self, limit: Limit) -> u32 {
        self.inner.counter(limit).load(Ordering::Relaxed)
    }
}

impl Inner {
    fn counter(&self, limit: Limit) -> &AtomicU32 {
        match limit {
            Limit::Connections => &self.connections,
            Limit::PendingRequests => &self.pending,
            Limit::Requests => &self.requests,
        }
    }
}

impl Permit {
    pub fn limit(&self) -> Limit {
        self.limit
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.inner
            .counter(self.limit)
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("limits", &self.inner.limits)
            .field("connections", &self.in_use(Limit::Connections))
            .field("pending", &self.in_use(Limit::PendingRequests))
            .field("requests", &self.in_use(Limit::Requests))
            .finish()
    }
}

impl fmt::Debug for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("limit", &self.limit)
            .finish()
    }
}
