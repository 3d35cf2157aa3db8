//! The ejection view shared between an outlier detector (the only writer) and balancers (readers).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// One flag per endpoint index: set while the endpoint is ejected by outlier detection.
///
/// Cheap to clone (one `Arc`); a pick reads it with one relaxed load per candidate, so the
/// balancer never takes a lock. An index past the end reads as not ejected, so a view sized for
/// an older endpoint set never hides an endpoint it does not know.
#[derive(Clone, Default)]
pub struct Ejections {
    flags: Arc<[AtomicBool]>,
}

impl Ejections {
    /// A view of `len` endpoints, none ejected.
    pub fn new(len: usize) -> Self {
        Self {
            flags: (0..len).map(|_| AtomicBool::new(false)).collect(),
        }
    }

    /// How many endpoints the view covers.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether the view covers no endpoint.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Whether the endpoint at `index` is ejected (false when out of range).
    pub fn is_ejected(&self, index: usize) -> bool {
        self.flags
            .get(index)
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }

    /// Marks the endpoint at `index` ejected or not; returns the previous state (false when out
    /// of range, where nothing is written).
    pub fn set(&self, index: usize, ejected: bool) -> bool {
        self.flags
            .get(index)
            .is_some_and(|f| f.swap(ejected, Ordering::Relaxed))
    }

    /// How many endpoints are ejected now (a scan; for metrics and tests, not the pick path).
    pub fn ejected_count(&self) -> usize {
        self.flags
            .iter()
            .filter(|f| f.load(Ordering::Relaxed))
            .count()
    }
}

impl fmt::Debug for Ejections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ejected: Vec<usize> = (0..self.len()).filter(|&i| self.is_ejected(i)).collect();
        f.debug_struct("Ejections")
            .field("len", &self.len())
            .field("ejected", &ejected)
            .finish()
    }
}
