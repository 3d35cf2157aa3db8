//! Shared helpers for the end-to-end and whole-mesh tests: bounded polling, an HTTP client, and
//! `rig` child processes that die with the test.

mod client;
mod curl;
mod edge;
mod process;
mod stack;

use std::ops::Range;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

pub use client::{Reply, request, request_host};
pub use curl::{Curl, curl};
pub use edge::{API_HTTP, SecuredEdge, start_secured_edge, strs, write};
pub use process::{Proc, rig_binary, rig_command, strip_ansi};
pub use stack::{RigStack, STARTUP, ensure_synced, loopback, pilot_syncz};

/// Pause between two attempts of [`eventually`]: short, since every check is cheap and the
/// tests measure how fast changes propagate.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Smallest time one attempt of [`eventually`] may take, even past the deadline, so that the
/// last attempt is not cut before it can succeed.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

/// Where [`free_port`] picks: below Linux's ephemeral range (32768 and up), so that no
/// `bind(0)` or outgoing connection of a concurrent test takes a port between its pick and its
/// use, and above the fixed ports of `rig demo` (up to 21009).
const PORT_RANGE: Range<u16> = 22_000..32_000;

/// A TCP port on 127.0.0.1 that is free now and that no other call in this process returned.
///
/// Unlike binding port 0 and releasing it, the port is not one the kernel hands out for
/// `bind(0)` or outgoing connections, so it stays free until a proxy binds it moments later,
/// even while other tests run. Ports are handed out in sequence from a random start, so two
/// test processes running at once rarely pick the same one.
pub fn free_port() -> u16 {
    static NEXT: Mutex<Option<u16>> = Mutex::new(None);
    let mut next = NEXT.lock().unwrap_or_else(PoisonError::into_inner);
    let span = PORT_RANGE.end - PORT_RANGE.start;
    let offset = next.get_or_insert_with(|| fastrand::u16(0..span));
    for _ in 0..span {
        let port = PORT_RANGE.start + *offset % span;
        *offset = (*offset + 1) % span;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {PORT_RANGE:?}");
}

/// Runs `check` until it succeeds or `timeout` has passed, and returns its value or its last
/// error (with what was awaited). Each attempt is itself bounded by the time left.
pub async fn eventually<T>(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let started = Instant::now();
    let deadline = started + timeout;
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let budget = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_ATTEMPT);
        let error = match tokio::time::timeout(budget, check()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => e,
            Err(_) => anyhow::anyhow!("attempt still running after {budget:?}"),
        };
        if Instant::now() >= deadline {
            return Err(error.context(format!(
                "{what}: not true after {:?} ({attempts} attempts)",
                started.elapsed()
            )));
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
