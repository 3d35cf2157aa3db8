//! Allocations on the client's hot path, counted by dhat's heap profiler in testing mode (this
//! binary's allocator; one test, so nothing else allocates meanwhile).

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt as _, Empty};
use rigging_proxy_http1::Config;
use rigging_proxy_http1::client::ClientConn;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

#[tokio::test]
async fn waiting_for_a_response_takes_no_read_buffer() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    let (mut upstream, _) = accepted.unwrap();
    let req = Request::get("/")
        .header("host", "svc")
        .body(Empty::<Bytes>::new().map_err(|e: Infallible| e))
        .unwrap();
    let mut sending = ClientConn::new(client.unwrap()).send(req, Config::default());

    // The first poll writes the request and finds no response yet: no buffer is taken for it
    // (before, one was allocated to find that out, and freed).
    let before = allocations();
    let mut cx = Context::from_waker(Waker::noop());
    assert!(Pin::new(&mut sending).poll(&mut cx).is_pending());
    assert_eq!(
        allocations() - before,
        0,
        "allocations while no response is there"
    );

    let mut got = [0u8; 256];
    let n = upstream.read(&mut got).await.unwrap();
    assert!(got[..n].starts_with(b"GET / HTTP/1.1\r\n"));
    upstream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        .await
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(5), sending)
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("send failed: {}", e.error));
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ok");
}
