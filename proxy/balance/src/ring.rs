//! Ketama-style hash ring, built as Envoy's ring hash load balancer builds it.

use crate::hash::{HashHost, hash_bytes};

/// Envoy's default `minimum_ring_size`: enough entries that equal hosts get an even share.
pub const DEFAULT_MIN_RING_SIZE: usize = 1024;
/// Envoy's default (and largest accepted) `maximum_ring_size`: 8M entries, 128 MiB of ring.
pub const DEFAULT_MAX_RING_SIZE: usize = 8 * 1024 * 1024;

/// A sorted ring of `(hash, endpoint index)` entries for one priority level.
#[derive(Debug)]
pub(crate) struct Ring {
    entries: Box<[(u64, u32)]>,
}

impl Ring {
    /// Every host gets `entries per unit × weight / lightest weight` entries, the hash of
    /// `"<key>_<n>"` (Envoy's entry keys). Envoy sizes the ring to exactly `min_size` (so every
    /// host's entry count changes with the number of hosts, and removing one of N hosts moves
    /// about 2/N of the keys); here the entries per unit of weight are rounded up to a power of
    /// two, so they stay the same across most membership changes and removing one host moves
    /// little more than its own keys. The ring holds at least `min_size` entries (less than
    /// twice that) and never more than `max_size`.
    pub fn build(hosts: &mut [HashHost<'_>], min_size: usize, max_size: usize) -> Self {
        let max_size = max_size.clamp(1, DEFAULT_MAX_RING_SIZE);
        let min_size = min_size.clamp(1, max_size);
        if hosts.is_empty() {
            return Self {
                entries: Box::new([]),
            };
        }
        // The ring must not depend on the order endpoints arrive in.
        hosts.sort_by(|a, b| a.key.cmp(b.key).then(a.index.cmp(&b.index)));
        let lightest = hosts.iter().map(|h| h.weight.max(1)).min().unwrap_or(1);
        let units: f64 = hosts
            .iter()
            .map(|h| f64::from(h.weight.max(1)) / f64::from(lightest))
            .sum();
        let per_unit = ((min_size as f64 / units).ceil() as usize).next_power_of_two() as f64;
        // Scaled down (no longer a power of two) only when the ring would pass `max_size`.
        let per_unit = per_unit.min(max_size as f64 / units).max(f64::MIN_POSITIVE);
        let mut entries = Vec::with_capacity((per_unit * units).ceil() as usize);
        let (mut current, mut target) = (0.0_f64, 0.0_f64);
        let mut key = String::new();
        for host in hosts.iter() {
            // Running sums carry the fractions when the ring was scaled down, as Envoy does.
            target += per_unit * f64::from(host.weight.max(1)) / f64::from(lightest);
            let mut n = 0u64;
            while current < target.round() && entries.len() < max_size {
                key.clear();
                key.push_str(host.key);
                key.push('_');
                key.push_str(&n.to_string());
                entries.push((hash_bytes(&key), host.index));
                n += 1;
                current += 1.0;
            }
        }
        entries.sort_unstable();
        Self {
            entries: entries.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Position of the first entry at or after `hash`, wrapping past the end.
    pub fn position(&self, hash: u64) -> usize {
        let p = self.entries.partition_point(|&(h, _)| h < hash);
        if p == self.entries.len() { 0 } else { p }
    }

    /// The endpoint index of the entry at `position` (taken modulo the ring size).
    pub fn endpoint_at(&self, position: usize) -> usize {
        self.entries[position % self.entries.len()].1 as usize
    }
}
