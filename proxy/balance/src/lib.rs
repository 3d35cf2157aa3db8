//! Load balancers for the proxy: round robin and least request (power of two choices).
//!
//! A [`Balancer`] is built once per endpoint set (on a configuration update) and then picked from
//! concurrently without locks: round robin advances one atomic cursor, least request reads the
//! in-flight counters of two random serving endpoints. Every pick returns an [`InFlight`] guard
//! that counts the request against its endpoint until it is dropped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The largest weight honoured; larger weights are clamped, so that the round-robin schedule
/// (one slot per unit of weight) stays small however large the weights Pilot sends.
pub const MAX_WEIGHT: u32 = 128;

/// How a balancer chooses among serving endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Each serving endpoint in turn, as often as its weight says.
    RoundRobin,
    /// Power of two random choices: the one of two random serving endpoints with fewer requests
    /// in flight relative to its weight.
    LeastRequest,
}

/// One endpoint as the balancer sees it: a value, whether it takes traffic, and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted<T> {
    pub value: T,
    pub serving: bool,
    /// Relative weight; 0 is treated as 1.
    pub weight: u32,
}

/// A set of endpoints and the state needed to pick among them.
pub struct Balancer<T> {
    policy: Policy,
    endpoints: Box<[T]>,
    weights: Box<[u32]>,
    /// Indices of the serving endpoints.
    serving: Box<[u32]>,
    /// Round-robin schedule: indices of serving endpoints, interleaved by weight.
    schedule: Box<[u32]>,
    cursor: Padded<AtomicUsize>,
    load: Arc<[Padded<AtomicUsize>]>,
}

/// The endpoint a balancer chose, with its in-flight guard.
#[derive(Debug)]
pub struct Pick<'a, T> {
    pub index: usize,
    pub endpoint: &'a T,
    pub guard: InFlight,
}

/// Counts one request against an endpoint until dropped. Owned, so it can live in a response
/// body that outlives the configuration snapshot it came from.
pub struct InFlight {
    load: Arc<[Padded<AtomicUsize>]>,
    index: usize,
}

/// Keeps each counter on its own cache line, so that workers updating different endpoints do not
/// contend on one line.
#[repr(align(64))]
#[derive(Debug, Default)]
struct Padded<A>(A);

impl<T> Balancer<T> {
    /// Builds a balancer over `endpoints` (in order; indices refer to this order).
    pub fn new(policy: Policy, endpoints: impl IntoIterator<Item = Weighted<T>>) -> Self {
        let mut values = Vec::new();
        let mut weights = Vec::new();
        let mut serving = Vec::new();
        for (i, e) in endpoints.into_iter().enumerate() {
            if e.serving {
                serving.push(index_u32(i));
            }
            weights.push(e.weight.clamp(1, MAX_WEIGHT));
            values.push(e.value);
        }
        let schedule = schedule(&serving, &weights);
        let load = (0..values.len()).map(|_| Padded::default()).collect();
        Self {
            policy,
            endpoints: values.into(),
            weights: weights.into(),
            serving: serving.into(),
            schedule,
            cursor: Padded::default(),
            load,
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// All endpoints, serving or not, in construction order.
    pub fn endpoints(&self) -> &[T] {
        &self.endpoints
    }

    /// How many endpoints take traffic.
    pub fn serving_len(&self) -> usize {
        self.serving.len()
    }

    /// Requests in flight to the endpoint at `index` (0 when out of range).
    pub fn in_flight(&self, index: usize) -> usize {
        self.load
            .get(index)
            .map_or(0, |c| c.0.load(Ordering::Relaxed))
    }

    /// Chooses a serving endpoint, or `None` when none serves.
    pub fn pick(&self) -> Option<Pick<'_, T>> {
        let index = match self.policy {
            Policy::RoundRobin => self.next_round_robin()?,
            Policy::LeastRequest => self.power_of_two()?,
        };
        Some(self.acquire(index))
    }

    /// The other serving endpoints after `index`, in order, for a caller that retries a failed
    /// connection elsewhere; each comes with its own guard.
    pub fn fallbacks(&self, index: usize) -> impl Iterator<Item = Pick<'_, T>> + '_ {
        let start = self
            .serving
            .iter()
            .position(|&i| i as usize == index)
            .map_or(0, |p| p + 1);
        let n = self.serving.len();
        (0..n.saturating_sub(1))
            .map(move |k| self.serving[(start + k) % n] as usize)
            .filter(move |&i| i != index)
            .map(|i| self.acquire(i))
    }

    fn acquire(&self, index: usize) -> Pick<'_, T> {
        self.load[index].0.fetch_add(1, Ordering::Relaxed);
        Pick {
            index,
            endpoint: &self.endpoints[index],
            guard: InFlight {
                load: Arc::clone(&self.load),
                index,
            },
        }
    }

    fn next_round_robin(&self) -> Option<usize> {
        let len = self.schedule.len();
        if len == 0 {
            return None;
        }
        let n = self.cursor.0.fetch_add(1, Ordering::Relaxed);
        Some(self.schedule[n % len] as usize)
    }

    fn power_of_two(&self) -> Option<usize> {
        let n = self.serving.len();
        match n {
            0 => None,
            1 => Some(self.serving[0] as usize),
            _ => {
                let a = fastrand::usize(..n);
                // A second index different from the first, uniformly.
                let b = (a + 1 + fastrand::usize(..n - 1)) % n;
                let (a, b) = (self.serving[a] as usize, self.serving[b] as usize);
                Some(if self.less_loaded(b, a) { b } else { a })
            }
        }
    }

    /// Whether `a` carries strictly less load per unit of weight than `b`.
    fn less_loaded(&self, a: usize, b: usize) -> bool {
        let la = self.load[a].0.load(Ordering::Relaxed) as u64;
        let lb = self.load[b].0.load(Ordering::Relaxed) as u64;
        (la + 1) * u64::from(self.weights[b]) < (lb + 1) * u64::from(self.weights[a])
    }
}

impl<T: fmt::Debug> fmt::Debug for Balancer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("policy", &self.policy)
            .field("endpoints", &self.endpoints)
            .field("serving", &self.serving)
            .finish_non_exhaustive()
    }
}

impl InFlight {
    pub fn index(&self) -> usize {
        self.index
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.load[self.index].0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl fmt::Debug for InFlight {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InFlight")
            .field("index", &self.index)
            .finish()
    }
}

/// Interleaved weighted round robin: round `r` holds every serving endpoint whose weight exceeds
/// `r`, so equal weights give plain round robin and heavier endpoints appear in more rounds.
fn schedule(serving: &[u32], weights: &[u32]) -> Box<[u32]> {
    let max = serving
        .iter()
        .map(|&i| weights[i as usize])
        .max()
        .unwrap_or(0);
    let mut out = Vec::new();
    for round in 0..max {
        out.extend(serving.iter().filter(|&&i| weights[i as usize] > round));
    }
    out.into()
}

fn index_u32(i: usize) -> u32 {
    // More than four billion endpoints in one cluster cannot be configured; saturate rather
    // than panic.
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
