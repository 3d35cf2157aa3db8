//! Maglev lookup table (Eisenbud et al., NSDI 2016), built as Envoy's weighted Maglev builds it.

use crate::hash::{HashHost, hash_seeded};

/// Envoy's default Maglev `table_size`: a prime, about 100 entries per host for 650 hosts.
pub const DEFAULT_MAGLEV_TABLE_SIZE: usize = 65537;
/// Envoy's largest accepted Maglev table size (a prime).
pub const MAX_MAGLEV_TABLE_SIZE: usize = 5_000_011;

/// A lookup table of endpoint indices for one priority level; `hash % size` picks an entry.
#[derive(Debug)]
pub(crate) struct Maglev {
    table: Box<[u32]>,
}

struct Entry {
    index: u32,
    offset: u64,
    skip: u64,
    weight: u64,
    target: u64,
    next: u64,
}

impl Maglev {
    /// Fills `table_size` slots (rounded up to a prime so every permutation covers the table):
    /// each host walks its own permutation `(offset + skip × n) % size` (offset from xxHash64
    /// seed 0 of its key, skip from seed 1), and takes a turn in proportion to its weight.
    pub fn build(hosts: &mut [HashHost<'_>], table_size: usize) -> Self {
        let size = next_prime(table_size.clamp(2, MAX_MAGLEV_TABLE_SIZE)) as u64;
        if hosts.is_empty() {
            return Self {
                table: Box::new([]),
            };
        }
        hosts.sort_by(|a, b| a.key.cmp(b.key).then(a.index.cmp(&b.index)));
        let mut entries: Vec<Entry> = hosts
            .iter()
            .map(|h| Entry {
                index: h.index,
                offset: hash_seeded(h.key.as_bytes(), 0) % size,
                skip: hash_seeded(h.key.as_bytes(), 1) % (size - 1) + 1,
                weight: u64::from(h.weight.max(1)),
                target: 0,
                next: 0,
            })
            .collect();
        let max_weight = entries.iter().map(|e| e.weight).max().unwrap_or(1);
        let mut table = vec![u32::MAX; size as usize];
        let mut filled = 0u64;
        let mut iteration = 1u64;
        while filled < size {
            for e in entries.iter_mut() {
                if filled == size {
                    break;
                }
                // A host of the largest weight fills a slot every iteration, one of a third of
                // it every third iteration.
                if iteration * e.weight < e.target {
                    continue;
                }
                e.target += max_weight;
                let mut slot = (e.offset + e.skip * e.next) % size;
                while table[slot as usize] != u32::MAX {
                    e.next += 1;
                    slot = (e.offset + e.skip * e.next) % size;
                }
                table[slot as usize] = e.index;
                e.next += 1;
                filled += 1;
            }
            iteration += 1;
        }
        Self {
            table: table.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// The endpoint index of slot `slot` (taken modulo the table size).
    pub fn endpoint_at(&self, slot: u64) -> usize {
        self.table[(slot % self.table.len() as u64) as usize] as usize
    }
}

pub(crate) fn next_prime(n: usize) -> usize {
    (n.max(2)..).find(|&k| is_prime(k)).unwrap_or(n)
}

fn is_prime(n: usize) -> bool {
    if n < 4 {
        return n >= 2;
    }
    if n.is_multiple_of(2) {
        return false;
    }
    let mut d = 3;
    while d * d <= n {
        if n.is_multiple_of(d) {
            return false;
        }
        d += 2;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_sizes_become_primes() {
        assert_eq!(next_prime(65537), 65537);
        assert_eq!(next_prime(65536), 65537);
        assert_eq!(next_prime(10), 11);
        assert!(is_prime(MAX_MAGLEV_TABLE_SIZE));
    }

    #[test]
    fn every_slot_is_filled_with_a_known_host() {
        let mut hosts: Vec<HashHost<'_>> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, k)| HashHost {
                index: i as u32,
                key: k,
                weight: 1,
            })
            .collect();
        let m = Maglev::build(&mut hosts, 101);
        assert_eq!(m.len(), 101);
        assert!((0..101).all(|s| m.endpoint_at(s) < 3));
    }
}
