//! Load balancers for the proxy: round robin, least request, random, ring hash and Maglev over
//! priority levels, skipping endpoints that outlier detection ejected.
//!
//! A [`Balancer`] is built once per endpoint set (on a configuration update) and then picked from
//! concurrently without locks: round robin advances one atomic cursor, least request reads the
//! in-flight counters of a few random endpoints, random draws by weight, ring hash and Maglev
//! look the request hash up in a table built with the endpoint set. Endpoints are grouped by
//! priority; a pick goes to the lowest priority that has a serving endpoint that is not ejected
//! (strict failover). Ejections are read from a shared [`Ejections`] view that an outlier
//! detector writes. Every pick returns an [`InFlight`] guard that counts the request against its
//! endpoint until it is dropped.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

mod ejection;
mod hash;
mod in_flight;
mod maglev;
mod policy;
mod ring;

pub use ejection::Ejections;
pub use hash::{RequestHash, hash_bytes};
pub use in_flight::InFlight;
pub use maglev::{DEFAULT_MAGLEV_TABLE_SIZE, MAX_MAGLEV_TABLE_SIZE};
pub use policy::{Policy, PolicyError};
pub use ring::{DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE};

use hash::HashHost;
use in_flight::Padded;
use maglev::Maglev;
use ring::Ring;

/// The largest weight honoured; larger weights are clamped, so that the round-robin schedule
/// (one slot per unit of weight) stays small however large the weights Pilot sends. Envoy caps
/// endpoint weights at 128 too.
pub const MAX_WEIGHT: u32 = 128;

/// Envoy's default `least_request_lb_config.choice_count`: power of two choices.
pub const DEFAULT_CHOICE_COUNT: u32 = 2;

/// How many ring entries or Maglev slots past the first a pick walks, per serving endpoint of
/// the level, before it scans the level in order: bounds a pick when most endpoints are ejected.
const WALK_PER_ENDPOINT: usize = 16;

/// One endpoint as the balancer sees it: a value, whether it takes traffic, and its weight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weighted<T> {
    pub value: T,
    pub serving: bool,
    /// Relative weight; 0 is treated as 1.
    pub weight: u32,
}

/// One endpoint with everything the balancer can use: [`Weighted`] plus a priority and the key
/// consistent hashing places it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint<T> {
    pub value: T,
    pub serving: bool,
    /// Relative weight within its priority; 0 is treated as 1, above [`MAX_WEIGHT`] clamped.
    pub weight: u32,
    /// Envoy's `LocalityLbEndpoints.priority`: 0 is tried first.
    pub priority: u32,
    /// What ring hash and Maglev hash to place the endpoint: its address as `ip:port`, as Envoy
    /// does, so keys map alike behind both. Empty means the endpoint's index.
    pub hash_key: String,
}

/// Settings of a balancer besides its policy.
#[derive(Debug, Clone)]
pub struct Options {
    /// Candidates a least-request pick compares (Envoy's `choice_count`, at least 2).
    pub choice_count: u32,
    /// The ejection view a pick consults; `None` ejects nothing.
    pub ejections: Option<Ejections>,
}

/// A set of endpoints and the state needed to pick among them.
pub struct Balancer<T> {
    policy: Policy,
    choice_count: u32,
    endpoints: Box<[T]>,
    weights: Box<[u32]>,
    priorities: Box<[u32]>,
    /// Indices of the serving endpoints, by priority then construction order.
    serving: Box<[u32]>,
    levels: Box<[Level]>,
    ejections: Option<Ejections>,
    load: Arc<[Padded<AtomicUsize>]>,
}

/// The endpoint a balancer chose, with its in-flight guard.
#[derive(Debug)]
pub struct Pick<'a, T> {
    pub index: usize,
    pub endpoint: &'a T,
    pub guard: InFlight,
}

/// The serving endpoints of one priority and how to choose among them.
struct Level {
    priority: u32,
    serving: Box<[u32]>,
    choose: Choose,
}

enum Choose {
    RoundRobin {
        /// Indices of serving endpoints, interleaved by weight.
        schedule: Box<[u32]>,
        cursor: Padded<AtomicUsize>,
    },
    LeastRequest,
    Random {
        /// Running sums of the weights of `Level::serving`.
        cumulative: Box<[u64]>,
    },
    RingHash(Ring),
    Maglev(Maglev),
}

impl Options {
    /// Checks `choice_count` as Envoy does.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.choice_count < 2 {
            return Err(PolicyError::ChoiceCount(self.choice_count));
        }
        Ok(())
    }
}

impl Default for Options {
    fn default() -> Self {
        Self {
            choice_count: DEFAULT_CHOICE_COUNT,
            ejections: None,
        }
    }
}

impl<T> From<Weighted<T>> for Endpoint<T> {
    fn from(w: Weighted<T>) -> Self {
        Self {
            value: w.value,
            serving: w.serving,
            weight: w.weight,
            priority: 0,
            hash_key: String::new(),
        }
    }
}

impl<T> Balancer<T> {
    /// Builds a balancer over `endpoints` (in order; indices refer to this order), all at
    /// priority 0, with default options.
    pub fn new(policy: Policy, endpoints: impl IntoIterator<Item = Weighted<T>>) -> Self {
        Self::with_options(
            policy,
            Options::default(),
            endpoints.into_iter().map(Endpoint::from),
        )
    }

    /// Builds a balancer over `endpoints` (in order; indices refer to this order) with their
    /// priorities and hash keys, consulting `options.ejections` at every pick.
    pub fn with_options(
        policy: Policy,
        options: Options,
        endpoints: impl IntoIterator<Item = Endpoint<T>>,
    ) -> Self {
        let mut values = Vec::new();
        let mut weights = Vec::new();
        let mut priorities = Vec::new();
        let mut keys = Vec::new();
        let mut serving_flags = Vec::new();
        for (i, e) in endpoints.into_iter().enumerate() {
            weights.push(e.weight.clamp(1, MAX_WEIGHT));
            priorities.push(e.priority);
            keys.push(if e.hash_key.is_empty() {
                i.to_string()
            } else {
                e.hash_key
            });
            serving_flags.push(e.serving);
            values.push(e.value);
        }
        let mut order: Vec<u32> = (0..values.len())
            .filter(|&i| serving_flags[i])
            .map(index_u32)
            .collect();
        order.sort_by_key(|&i| priorities[i as usize]);
        let levels: Vec<Level> = order
            .chunk_by(|&a, &b| priorities[a as usize] == priorities[b as usize])
            .map(|serving| {
                Level::build(
                    policy,
                    serving,
                    &weights,
                    &keys,
                    priorities[serving[0] as usize],
                )
            })
            .collect();
        let load = (0..values.len()).map(|_| Padded::default()).collect();
        Self {
            policy,
            choice_count: options.choice_count.max(2),
            endpoints: values.into(),
            weights: weights.into(),
            priorities: priorities.into(),
            serving: order.into(),
            levels: levels.into(),
            ejections: options.ejections,
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

    /// How many endpoints take traffic (ejected ones included).
    pub fn serving_len(&self) -> usize {
        self.serving.len()
    }

    /// The priority of the endpoint at `index`.
    pub fn priority(&self, index: usize) -> Option<u32> {
        self.priorities.get(index).copied()
    }

    /// The priorities that have serving endpoints, lowest (tried first) first.
    pub fn priorities(&self) -> impl Iterator<Item = u32> + '_ {
        self.levels.iter().map(|l| l.priority)
    }

    /// The ejection view picks consult, if any.
    pub fn ejections(&self) -> Option<&Ejections> {
        self.ejections.as_ref()
    }

    /// Requests in flight to the endpoint at `index` (0 when out of range).
    pub fn in_flight(&self, index: usize) -> usize {
        self.load
            .get(index)
            .map_or(0, |c| c.0.load(Ordering::Relaxed))
    }

    /// Chooses a serving, non-ejected endpoint of the lowest priority that has one, or `None`.
    /// Consistent-hash policies pick by a random hash; use [`Balancer::pick_hashed`].
    pub fn pick(&self) -> Option<Pick<'_, T>> {
        self.pick_hashed(None)
    }

    /// As [`Balancer::pick`], with the request's hash (see [`RequestHash`]) for ring hash and
    /// Maglev; other policies ignore it, and without one they pick at random, as Envoy does.
    pub fn pick_hashed(&self, hash: Option<u64>) -> Option<Pick<'_, T>> {
        let index = self.choose(hash)?;
        Some(self.acquire(index))
    }

    /// The other serving, non-ejected endpoints after `index` (by priority, then construction
    /// order, wrapping), for a caller that retries a failed connection elsewhere; each comes
    /// with its own guard.
    pub fn fallbacks(&self, index: usize) -> impl Iterator<Item = Pick<'_, T>> + '_ {
        let start = self
            .serving
            .iter()
            .position(|&i| i as usize == index)
            .map_or(0, |p| p + 1);
        let n = self.serving.len();
        (0..n)
            .map(move |k| self.serving[(start + k) % n] as usize)
            .filter(move |&i| i != index && !self.is_ejected(i))
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

    fn is_ejected(&self, index: usize) -> bool {
        self.ejections.as_ref().is_some_and(|e| e.is_ejected(index))
    }

    fn choose(&self, hash: Option<u64>) -> Option<usize> {
        let mut hash = hash;
        self.levels.iter().find_map(|level| {
            let Level {
                serving, choose, ..
            } = level;
            match choose {
                Choose::RoundRobin { schedule, cursor } => {
                    let len = schedule.len();
                    let n = cursor.0.fetch_add(1, Ordering::Relaxed);
                    (0..len)
                        .map(|k| schedule[n.wrapping_add(k) % len] as usize)
                        .find(|&i| !self.is_ejected(i))
                }
                Choose::LeastRequest => self.least_request(serving),
                Choose::Random { cumulative } => self.random(serving, cumulative),
                Choose::RingHash(ring) => {
                    let h = *hash.get_or_insert_with(|| fastrand::u64(..));
                    let start = ring.position(h);
                    (0..ring.len().min(walk_bound(serving)))
                        .map(|k| ring.endpoint_at(start + k))
                        .find(|&i| !self.is_ejected(i))
                        .or_else(|| self.scan(serving, h))
                }
                Choose::Maglev(table) => {
                    let h = *hash.get_or_insert_with(|| fastrand::u64(..));
                    (0..table.len().min(walk_bound(serving)) as u64)
                        .map(|k| table.endpoint_at((h % table.len() as u64) + k))
                        .find(|&i| !self.is_ejected(i))
                        .or_else(|| self.scan(serving, h))
                }
            }
        })
    }

    /// The first non-ejected endpoint of `serving` from position `start` on, wrapping.
    fn scan(&self, serving: &[u32], start: u64) -> Option<usize> {
        let n = serving.len() as u64;
        (0..n)
            .map(|k| serving[((start % n + k) % n) as usize] as usize)
            .find(|&i| !self.is_ejected(i))
    }

    fn least_request(&self, serving: &[u32]) -> Option<usize> {
        let n = serving.len();
        if n == 0 {
            return None;
        }
        let a = fastrand::usize(..n);
        let first = serving[a] as usize;
        let mut best = (!self.is_ejected(first)).then_some(first);
        if n > 1 {
            for _ in 1..self.choice_count {
                // Another index different from the first, uniformly.
                let b = serving[(a + 1 + fastrand::usize(..n - 1)) % n] as usize;
                if self.is_ejected(b) {
                    continue;
                }
                best = Some(match best {
                    Some(cur) if !self.less_loaded(b, cur) => cur,
                    _ => b,
                });
            }
        }
        best.or_else(|| self.scan(serving, a as u64))
    }

    fn random(&self, serving: &[u32], cumulative: &[u64]) -> Option<usize> {
        let total = *cumulative.last()?;
        // A few draws keep the distribution exact while a few endpoints are ejected; the scan
        // bounds the pick when most are.
        for _ in 0..4 {
            let r = fastrand::u64(..total);
            let i = serving[cumulative.partition_point(|&c| c <= r)] as usize;
            if !self.is_ejected(i) {
                return Some(i);
            }
        }
        self.scan(serving, fastrand::u64(..))
    }

    /// Whether `a` carries strictly less load per unit of weight than `b`.
    fn less_loaded(&self, a: usize, b: usize) -> bool {
        let la = self.load[a].0.load(Ordering::Relaxed) as u64;
        let lb = self.load[b].0.load(Ordering::Relaxed) as u64;
        (la + 1) * u64::from(self.weights[b]) < (lb + 1) * u64::from(self.weights[a])
    }
}

impl Level {
    fn build(
        policy: Policy,
        serving: &[u32],
        weights: &[u32],
        keys: &[String],
        priority: u32,
    ) -> Self {
        let choose = match policy {
            Policy::RoundRobin => Choose::RoundRobin {
                schedule: schedule(serving, weights),
                cursor: Padded::default(),
            },
            Policy::LeastRequest => Choose::LeastRequest,
            Policy::Random => Choose::Random {
                cumulative: serving
                    .iter()
                    .scan(0u64, |sum, &i| {
                        *sum += u64::from(weights[i as usize]);
                        Some(*sum)
                    })
                    .collect(),
            },
            Policy::RingHash {
                min_ring_size,
                max_ring_size,
            } => {
                let mut hosts = HashHost::serving(serving, keys, weights);
                Choose::RingHash(Ring::build(&mut hosts, min_ring_size, max_ring_size))
            }
            Policy::Maglev { table_size } => {
                let mut hosts = HashHost::serving(serving, keys, weights);
                Choose::Maglev(Maglev::build(&mut hosts, table_size))
            }
        };
        Self {
            priority,
            serving: serving.into(),
            choose,
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Balancer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Balancer")
            .field("policy", &self.policy)
            .field("endpoints", &self.endpoints)
            .field("serving", &self.serving)
            .field("priorities", &self.priorities().collect::<Vec<_>>())
            .field("ejections", &self.ejections)
            .finish_non_exhaustive()
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

fn walk_bound(serving: &[u32]) -> usize {
    WALK_PER_ENDPOINT * serving.len() + 64
}

fn index_u32(i: usize) -> u32 {
    // More than four billion endpoints in one cluster cannot be configured; saturate rather
    // than panic.
    u32::try_from(i).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests;
