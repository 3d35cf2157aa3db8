use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rigging_proxy_config::CircuitBreakers;
use tokio::io::AsyncReadExt as _;
use tokio::net::{TcpListener, TcpStream};

use super::Http1Pool;
use crate::cluster::{EndpointConnector, Limits};
use crate::metrics::Metrics;

/// Long enough that the checks before it are not at the mercy of a loaded machine.
const IDLE: Duration = Duration::from_millis(1500);

fn pool(addr: SocketAddr) -> Arc<Http1Pool> {
    let connector = EndpointConnector::new(addr, Duration::from_secs(5), None);
    let limits = Limits::new(
        &CircuitBreakers::default(),
        None,
        Metrics::new().cluster("c"),
    );
    Http1Pool::new(connector, limits, IDLE)
}

/// A new pooled connection and the upstream's end of it.
async fn connect(
    pool: &Http1Pool,
    listener: &TcpListener,
) -> (super::ClientConn<super::Counted>, TcpStream) {
    let conn = pool.connect().await.expect("connect");
    let (upstream, _) = listener.accept().await.expect("accept");
    (conn, upstream)
}

/// Whether the upstream's end sees the connection closed within `within`.
async fn closed_within(upstream: &mut TcpStream, within: Duration) -> bool {
    let mut byte = [0u8; 1];
    match tokio::time::timeout(within, upstream.read(&mut byte)).await {
        Ok(Ok(0)) => true,
        Ok(Ok(_)) => panic!("the pool wrote to an idle connection"),
        Ok(Err(e)) => panic!("read: {e}"),
        Err(_) => false,
    }
}

#[tokio::test]
async fn an_idle_connection_closes_at_the_idle_timeout_without_another_request() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let pool = pool(listener.local_addr().expect("addr"));
    let (conn, mut upstream) = connect(&pool, &listener).await;
    let given_back = Instant::now();
    pool.put(conn);
    assert!(
        !closed_within(&mut upstream, IDLE / 3).await,
        "closed before its idle timeout"
    );
    assert!(
        closed_within(&mut upstream, IDLE * 4).await,
        "still open long after its idle timeout, with no request to the pool"
    );
    assert!(given_back.elapsed() >= IDLE - Duration::from_millis(50));
    assert!(pool.lock().is_empty());
    // The sweep ends with the last idle connection, and the next one given back starts another.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !pool.sweeping.load(Ordering::Acquire),
        "the sweep still runs"
    );
    let (conn, mut upstream) = connect(&pool, &listener).await;
    pool.put(conn);
    assert!(
        closed_within(&mut upstream, IDLE * 4).await,
        "a connection idle after the first sweep ended stayed open"
    );
}

#[tokio::test]
async fn a_connection_used_again_is_kept_a_full_idle_timeout_from_its_last_use() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let pool = pool(listener.local_addr().expect("addr"));
    let (old, mut old_upstream) = connect(&pool, &listener).await;
    let (used, mut used_upstream) = connect(&pool, &listener).await;
    pool.put(old);
    pool.put(used);
    tokio::time::sleep(IDLE * 2 / 3).await;
    // Taken (the most recent first) and given back, as a request would.
    let again = pool.take_idle().expect("an idle connection");
    pool.put(again);
    // The older one expires a full timeout after it was given back; the one used again
    // lives on past that, for a full timeout from its second return.
    assert!(
        closed_within(&mut old_upstream, IDLE).await,
        "the unused one stayed open"
    );
    assert!(
        !closed_within(&mut used_upstream, IDLE / 3).await,
        "the one used again closed at its first timeout"
    );
    assert!(
        closed_within(&mut used_upstream, IDLE * 4).await,
        "the one used again never closed"
    );
}

#[tokio::test]
async fn a_dropped_pool_closes_its_idle_connections_and_its_sweep_ends() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let pool = pool(listener.local_addr().expect("addr"));
    let (conn, mut upstream) = connect(&pool, &listener).await;
    pool.put(conn);
    let weak = Arc::downgrade(&pool);
    drop(pool);
    assert!(closed_within(&mut upstream, IDLE / 3).await);
    assert!(weak.upgrade().is_none(), "the sweep keeps the pool alive");
}
