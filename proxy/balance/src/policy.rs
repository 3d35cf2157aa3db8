//! Which load-balancing policy a cluster uses, and Envoy's checks of its parameters.

use crate::maglev::{self, DEFAULT_MAGLEV_TABLE_SIZE, MAX_MAGLEV_TABLE_SIZE};
use crate::ring::{DEFAULT_MAX_RING_SIZE, DEFAULT_MIN_RING_SIZE};

/// How a balancer chooses among serving endpoints of one priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Each serving endpoint in turn, as often as its weight says.
    RoundRobin,
    /// The one of `choice_count` random serving endpoints (see
    /// [`crate::Options::choice_count`]) with fewer requests in flight relative to its weight.
    LeastRequest,
    /// A random serving endpoint, with probability proportional to its weight.
    Random,
    /// Consistent hashing on a ring of `min_ring_size..=max_ring_size` entries (Envoy's
    /// `RING_HASH`); an ejected endpoint's keys go to the next endpoint on the ring.
    RingHash {
        min_ring_size: usize,
        max_ring_size: usize,
    },
    /// Maglev consistent hashing on a table of `table_size` (a prime) slots; an ejected
    /// endpoint's slots go to the endpoint of the next slot.
    Maglev { table_size: usize },
}

/// A policy's parameters that Envoy would reject.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("ring hash minimum_ring_size {min} is larger than maximum_ring_size {max}")]
    RingSizeOrder { min: usize, max: usize },
    #[error("ring hash ring sizes must be between 1 and {DEFAULT_MAX_RING_SIZE}, got {0}")]
    RingSize(usize),
    #[error("maglev table_size {0} is not a prime up to {MAX_MAGLEV_TABLE_SIZE}")]
    MaglevTableSize(usize),
    #[error("least request choice_count must be at least 2, got {0}")]
    ChoiceCount(u32),
}

impl Policy {
    /// Envoy's `RING_HASH` with its default ring sizes.
    pub const RING_HASH_DEFAULT: Policy = Policy::RingHash {
        min_ring_size: DEFAULT_MIN_RING_SIZE,
        max_ring_size: DEFAULT_MAX_RING_SIZE,
    };
    /// Envoy's `MAGLEV` with its default table size.
    pub const MAGLEV_DEFAULT: Policy = Policy::Maglev {
        table_size: DEFAULT_MAGLEV_TABLE_SIZE,
    };

    /// Checks the parameters as Envoy validates them. A balancer built from an invalid policy
    /// still works (sizes are clamped, a table size rounded up to a prime), but config should be
    /// rejected at the edge with this error.
    pub fn validate(&self) -> Result<(), PolicyError> {
        match *self {
            Policy::RingHash {
                min_ring_size,
                max_ring_size,
            } => {
                for size in [min_ring_size, max_ring_size] {
                    if !(1..=DEFAULT_MAX_RING_SIZE).contains(&size) {
                        return Err(PolicyError::RingSize(size));
                    }
                }
                if min_ring_size > max_ring_size {
                    return Err(PolicyError::RingSizeOrder {
                        min: min_ring_size,
                        max: max_ring_size,
                    });
                }
                Ok(())
            }
            Policy::Maglev { table_size } => {
                if table_size > MAX_MAGLEV_TABLE_SIZE
                    || maglev::next_prime(table_size) != table_size
                {
                    return Err(PolicyError::MaglevTableSize(table_size));
                }
                Ok(())
            }
            Policy::RoundRobin | Policy::LeastRequest | Policy::Random => Ok(()),
        }
    }

    /// Whether picks use the request hash.
    pub fn is_consistent_hash(&self) -> bool {
        matches!(self, Policy::RingHash { .. } | Policy::Maglev { .. })
    }
}
