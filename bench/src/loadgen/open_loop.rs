//! Constant rate on a fixed timetable, latency from each request's intended send time.
//!
//! A pacer thread releases request `i` at `start + i / rate` to connection `i mod n`; a
//! connection still busy sends it late, and the wait counts in its latency, so a stalled proxy
//! cannot hide behind the requests it delayed (coordinated omission corrected, as wrk2).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::mpsc;

use super::client::Conn;
use super::{LoadResult, Tally};

/// Lead time between connecting and the first request, so the pacer starts on time.
const START_DELAY: Duration = Duration::from_millis(50);

pub async fn run(
    target: SocketAddr,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    connections: usize,
) -> anyhow::Result<LoadResult> {
    let total = (rate * (warmup + duration).as_secs_f64()).round() as u64;
    let mut senders = Vec::with_capacity(connections);
    let mut workers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (tx, rx) = mpsc::unbounded_channel::<Instant>();
        senders.push(tx);
        workers.push(rx);
    }
    let start = Instant::now() + START_DELAY;
    let measure_from = start + warmup;
    let mut tasks = Vec::with_capacity(connections);
    for rx in workers {
        let conn = Conn::connect(target).await?;
        tasks.push(tokio::spawn(worker(target, conn, rx, measure_from)));
    }
    let start = start.max(Instant::now());
    let pacer = std::thread::spawn(move || {
        for i in 0..total {
            let t = start + Duration::from_secs_f64(i as f64 / rate);
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
            if senders[(i % senders.len() as u64) as usize]
                .send(t)
                .is_err()
            {
                break;
            }
        }
    });
    let mut tally = Tally::new();
    for t in tasks {
        tally.merge(t.await?);
    }
    let _ = pacer.join();
    Ok(tally.finish(duration))
}

async fn worker(
    target: SocketAddr,
    mut conn: Conn,
    mut rx: mpsc::UnboundedReceiver<Instant>,
    measure_from: Instant,
) -> Tally {
    let mut tally = Tally::new();
    while let Some(intended) = rx.recv().await {
        let result = conn.get().await;
        let done = Instant::now();
        if intended < measure_from {
            if result.is_err() {
                // A warm-up failure still must not pass unnoticed.
                tally.error(result.err());
                conn = match Conn::connect(target).await {
                    Ok(c) => c,
                    Err(e) => return tally.with_error(e),
                };
            }
            continue;
        }
        match result {
            Ok(()) => tally.record(done.duration_since(intended)),
            Err(e) => {
                tally.error(Some(e));
                conn = match Conn::connect(target).await {
                    Ok(c) => c,
                    Err(e) => return tally.with_error(e),
                };
            }
        }
    }
    tally
}

/// A histogram of nanoseconds up to a minute, three significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}
