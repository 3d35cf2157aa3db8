//! What the fake HTTP APIs share: query decoding, the `wait` of a blocking query, and binding
//! the same port again on a restart.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;

/// The default `wait` of a blocking query, and its cap, in Consul and Nomad alike (Nomad's
/// api-docs/index.mdx, "Blocking Queries").
const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

/// How long a blocking query with `?wait=` (a Go duration, or none) holds: 5 minutes when not
/// given or not understood, capped at 10.
pub(crate) fn blocking_wait(wait: Option<&str>) -> Duration {
    wait.and_then(go_duration)
        .unwrap_or(DEFAULT_WAIT)
        .min(MAX_WAIT)
}

/// A Go duration as `?wait=` carries it: `<n>ms`, `<n>s`, `<n>m` or `<n>h`.
pub(crate) fn go_duration(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n * 60)),
        "h" => Some(Duration::from_secs(n * 3600)),
        _ => None,
    }
}

/// Percent-decoding of a query component (`+` is a space; a `%` without two hex digits stays).
pub(crate) fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Listens on 127.0.0.1 at a port outside the kernel's ephemeral range, so that while the fake
/// is stopped no client reconnecting to it is given that port as its own (Linux then connects
/// the socket to itself) and [`rebind`] finds it free.
pub(crate) async fn bind_restartable() -> TcpListener {
    let port = crate::free_port();
    TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:{port}: {e}"))
}

/// Binds `addr` again after a stop, retrying for about a second while the old socket goes.
pub(crate) async fn rebind(addr: SocketAddr) -> TcpListener {
    let mut tries = 0;
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) if tries < 50 => {
                tries += 1;
                tracing::debug!("rebinding {addr}: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot rebind {addr}: {e}"),
        }
    }
}
