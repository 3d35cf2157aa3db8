//! Loopback ports for the processes a test or the benchmark starts.

use std::ops::Range;
use std::sync::{Mutex, PoisonError};

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
