//! The in-flight guard of a pick, and the padded counters it decrements.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts one request against an endpoint until dropped. Owned, so it can live in a response
/// body that outlives the configuration snapshot it came from.
pub struct InFlight {
    pub(crate) load: Arc<[Padded<AtomicUsize>]>,
    pub(crate) index: usize,
}

/// Keeps each counter on its own cache line, so that workers updating different endpoints do not
/// contend on one line.
#[repr(align(64))]
#[derive(Debug, Default)]
pub(crate) struct Padded<A>(pub(crate) A);

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
