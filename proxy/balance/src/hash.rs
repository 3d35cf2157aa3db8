//! Request hashing for the consistent-hash policies, with Envoy's function and combination rule.

use xxhash_rust::xxh64::xxh64;

/// xxHash64 with seed 0 of `bytes`: the hash Envoy uses for ring entries, Maglev permutations
/// and request hash policies, so a key lands on the same endpoint behind Rigging and Envoy.
pub fn hash_bytes(bytes: impl AsRef<[u8]>) -> u64 {
    xxh64(bytes.as_ref(), 0)
}

/// xxHash64 of `bytes` with a given seed (Maglev uses seed 1 for its skip).
pub(crate) fn hash_seeded(bytes: &[u8], seed: u64) -> u64 {
    xxh64(bytes, seed)
}

/// One host as the ring and Maglev builders see it.
pub(crate) struct HashHost<'a> {
    pub index: u32,
    pub key: &'a str,
    pub weight: u32,
}

impl<'a> HashHost<'a> {
    /// The `serving` endpoints (indices into `keys` and `weights`).
    pub fn serving(serving: &[u32], keys: &'a [String], weights: &[u32]) -> Vec<Self> {
        serving
            .iter()
            .map(|&i| HashHost {
                index: i,
                key: &keys[i as usize],
                weight: weights[i as usize],
            })
            .collect()
    }
}

/// Accumulates the hashes of a route's hash policies into one request hash.
///
/// Policies are added in route order; each one that yields a value is combined as Envoy does
/// (the running hash rotated left by one, xor the new hash). A request that none of its policies
/// hashed has no hash, and a consistent-hash balancer then picks at random.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RequestHash {
    value: Option<u64>,
}

impl RequestHash {
    /// No policy has yielded a value yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the value one policy extracted (a header value, cookie, query parameter or source
    /// IP in its text form).
    pub fn add(&mut self, bytes: impl AsRef<[u8]>) -> &mut Self {
        self.add_hash(hash_bytes(bytes))
    }

    /// Adds a hash computed elsewhere.
    pub fn add_hash(&mut self, hash: u64) -> &mut Self {
        let old = self.value.map_or(0, |h| h.rotate_left(1));
        self.value = Some(old ^ hash);
        self
    }

    /// The request's hash, or `None` when no policy yielded a value.
    pub fn finish(&self) -> Option<u64> {
        self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_reference_xxh64() {
        // Reference values of XXH64 with seed 0 (from the xxHash test vectors).
        assert_eq!(hash_bytes(""), 0xEF46_DB37_51D8_E999);
        assert_eq!(hash_bytes("a"), 0xD24E_C4F1_A98C_6E5B);
    }

    #[test]
    fn combination_follows_envoy() {
        let (a, b) = (hash_bytes("a"), hash_bytes("b"));
        assert_eq!(RequestHash::new().finish(), None);
        assert_eq!(RequestHash::new().add("a").finish(), Some(a));
        assert_eq!(
            RequestHash::new().add("a").add("b").finish(),
            Some(a.rotate_left(1) ^ b)
        );
        assert_ne!(
            RequestHash::new().add("a").add("b").finish(),
            RequestHash::new().add("b").add("a").finish(),
            "order of policies matters"
        );
    }
}
