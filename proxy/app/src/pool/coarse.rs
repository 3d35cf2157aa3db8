//! A coarse monotonic clock for the pool's idle bookkeeping: a reading per request taken and
//! given back, where a resolution of the kernel's tick (a few milliseconds) is plenty for a
//! 30-second idle timeout. On Linux it is `CLOCK_MONOTONIC_COARSE`, which the vDSO answers
//! without reading the CPU's time-stamp counter (a `std::time::Instant` reading is several
//! times dearer, more so in a virtual machine).

use std::time::Duration;

/// Time since an arbitrary fixed point, never going back.
#[cfg(target_os = "linux")]
pub(super) fn now() -> Duration {
    use rustix::time::{ClockId, clock_gettime};
    let t = clock_gettime(ClockId::MonotonicCoarse);
    let secs = u64::try_from(t.tv_sec).unwrap_or(0);
    let nanos = u32::try_from(t.tv_nsec).unwrap_or(0);
    Duration::new(secs, nanos)
}

/// Time since an arbitrary fixed point, never going back.
#[cfg(not(target_os = "linux"))]
pub(super) fn now() -> Duration {
    static ORIGIN: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    ORIGIN.get_or_init(std::time::Instant::now).elapsed()
}

#[cfg(test)]
mod tests {
    #[test]
    fn goes_forward_in_real_time() {
        let a = super::now();
        std::thread::sleep(std::time::Duration::from_millis(30));
        let b = super::now();
        // The coarse clock ticks every few milliseconds: 30 ms of sleep shows as at least 20.
        assert!(
            b >= a + std::time::Duration::from_millis(20),
            "{a:?} then {b:?}"
        );
    }
}
