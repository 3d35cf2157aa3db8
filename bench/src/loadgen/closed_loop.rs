//! As many requests as the target can answer: each connection sends its next request as soon as
//! the previous one is answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::client::Conn;
use super::{LoadResult, Tally};

pub async fn run(
    target: SocketAddr,
    duration: Duration,
    warmup: Duration,
    connections: usize,
) -> anyhow::Result<LoadResult> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        conns.push(Conn::connect(target).await?);
    }
    let measure_from = Instant::now() + warmup;
    let end = measure_from + duration;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|c| tokio::spawn(worker(target, c, measure_from, end)))
        .collect();
    let mut tally = Tally::new();
    for t in tasks {
        tally.merge(t.await?);
    }
    Ok(tally.finish(duration))
}

async fn worker(target: SocketAddr, mut conn: Conn, measure_from: Instant, end: Instant) -> Tally {
    let mut tally = Tally::new();
    loop {
        let sent = Instant::now();
        if sent >= end {
            return tally;
        }
        let result = conn.get().await;
        let done = Instant::now();
        match result {
            Ok(()) if sent >= measure_from && done <= end => tally.record(done - sent),
            Ok(()) => {}
            Err(e) => {
                tally.error(Some(e));
                conn = match Conn::connect(target).await {
                    Ok(c) => c,
                    Err(e) => return tally.with_error(e),
                };
            }
        }
    }
}
