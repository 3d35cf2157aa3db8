//! Shared helpers for the end-to-end and whole-mesh tests: bounded polling, an HTTP client, and
//! `rig` child processes that die with the test.

mod client;
mod curl;
mod edge;
mod process;
mod stack;

use std::time::Duration;

use tokio::time::Instant;

pub use client::{Reply, request, request_host};
pub use curl::{Curl, curl};
pub use edge::{API_HTTP, SecuredEdge, start_secured_edge, strs, write};
pub use process::{Proc, rig_binary, rig_command, strip_ansi};
pub use rigging_mesh_test_util::free_port;
pub use stack::{RigStack, STARTUP, ensure_synced, loopback, pilot_syncz};

/// Pause between two attempts of [`eventually`]: short, since every check is cheap and the
/// tests measure how fast changes propagate.
const POLL_INTERVAL: Duration = Duration::from_millis(10);
/// Smallest time one attempt of [`eventually`] may take, even past the deadline, so that the
/// last attempt is not cut before it can succeed.
const MIN_ATTEMPT: Duration = Duration::from_millis(200);

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
