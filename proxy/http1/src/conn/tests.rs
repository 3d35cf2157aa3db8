//! The connection end to end over an in-memory stream: framing both ways, keep-alive,
//! pipelining, `100-continue`, refusals, upgrades, draining, and the idle buffer.

use std::convert::Infallible;
use std::future::pending;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::OnUpgrade;

type TestBody = BoxBody<Bytes, Infallible>;

/// `/echo` answers the request body (and its trailers in `x-trailers`); `/stream` answers two
/// chunks of unknown length and a declared trailer; `/early` answers 413 without reading the
/// body; `/no-content` answers 204; `/ws` switches protocols and echoes bytes; anything else
/// answers `hello` with a length.
async fn app(mut req: Request<Body>) -> Result<Response<TestBody>, Infallible> {
    let path = req.uri().path().to_owned();
    let resp = match path.as_str() {
        "/echo" => match req.into_body().collect().await {
            Ok(collected) => {
                let trailers = collected
                    .trailers()
                    .and_then(|t| t.get("checksum"))
                    .map(|v| v.to_str().unwrap_or_default().to_owned())
                    .unwrap_or_default();
                Response::builder()
                    .header("x-trailers", trailers)
                    .body(full(collected.to_bytes()))
            }
            Err(e) => Response::builder().status(502).body(full(e.to_string())),
        },
        "/stream" => {
            let mut trailers = HeaderMap::new();
            trailers.insert("grpc-status", HeaderValue::from_static("0"));
            let frames: Vec<Result<_, Infallible>> = vec![
                Ok(Frame::data(Bytes::from_static(b"one,"))),
                Ok(Frame::data(Bytes::from_static(b"two"))),
                Ok(Frame::trailers(trailers)),
            ];
            Response::builder()
                .header("trailer", "grpc-status")
                .body(StreamBody::new(futures::stream::iter(frames)).boxed())
        }
        "/early" => Response::builder().status(413).body(full("too big")),
        "/no-content" => Response::builder().status(204).body(full("")),
        "/ws" => {
            let on = req.extensions_mut().remove::<OnUpgrade>();
            tokio::spawn(async move {
                let Some(on) = on else { return };
                if let Ok(mut io) = on.upgraded().await {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = io.read(&mut buf).await {
                        if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            });
            Response::builder()
                .status(101)
                .header("connection", "upgrade")
                .header("upgrade", "echo")
                .body(full(""))
        }
        _ => Response::builder().body(full("hello")),
    };
    Ok(resp.unwrap_or_default())
}

fn full(b: impl Into<Bytes>) -> TestBody {
    Full::new(b.into()).boxed()
}

/// Serves one connection with `app` in the background; returns the client's end.
fn connect() -> (
    DuplexStream,
    tokio::task::JoinHandle<Result<Outcome<DuplexStream>, Error>>,
) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let task = tokio::spawn(async move {
        let drain = pending::<()>();
        tokio::pin!(drain);
        serve(
            server,
            hyper::service::service_fn(app),
            Config::default(),
            drain,
        )
        .await
    });
    (client, task)
}

/// Reads until `want` appears in what was read, and returns everything read.
async fn read_until(client: &mut DuplexStream, want: &str) -> String {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains(want) {
            let n = client.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {want:?}: {:?}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| panic!("no {want:?} in {:?}", String::from_utf8_lossy(&got)));
    String::from_utf8(got).unwrap()
}

async fn read_to_end(client: &mut DuplexStream) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), client.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8(got).unwrap()
}

#[tokio::test]
async fn keeps_the_connection_alive_across_requests() {
    let (mut c, task) = connect();
    for _ in 0..3 {
        c.write_all(b"GET / HTTP/1.1\r\nhost: a\r\n\r\n")
            .await
            .unwrap();
        let resp = read_until(&mut c, "hello").await;
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.contains("content-length: 5\r\n"), "{resp}");
        assert!(resp.contains("date: "), "{resp}");
        assert!(!resp.contains("connection"), "{resp}");
    }
    drop(c);
    assert!(matches!(task.await.unwrap(), Ok(Outcome::Closed)));
}

#[tokio::test]
async fn answers_pipelined_requests_in_order() {
    let (mut c, _task) = connect();
    c.write_all(
        b"POST /echo HTTP/1.1\r\ncontent-length: 5\r\n\r\nfirstPOST /echo HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\nGET /last HTTP/1.1\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let all = read_to_end(&mut c).await;
    let first = all.find("first").unwrap();
    let second = all.find("second").unwrap();
    let third = all.find("hello").unwrap();
    assert!(first < second && second < third, "{all}");
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 3, "{all}");
    assert!(all.ends_with("hello"), "{all}");
    assert!(all.contains("connection: close\r\n"), "{all}");
}

#[tokio::test]
async fn chunked_request_bodies_with_trailers_reach_the_service() {
    let (mut c, _task) = connect();
    c.write_all(b"POST /echo HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n4\r\nwiki\r\n")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(b"5;ext=1\r\npedia\r\n0\r\nchecksum: abc\r\n\r\n")
        .await
        .unwrap();
    let resp = read_until(&mut c, "wikipedia").await;
    assert!(resp.contains("x-trailers: abc\r\n"), "{resp}");
    assert!(resp.contains("content-length: 9\r\n"), "{resp}");
}

#[tokio::test]
async fn streams_unknown_lengths_chunked_and_close_delimited_to_http10() {
    let (mut c, _task) = connect();
    c.write_all(b"GET /stream HTTP/1.1\r\n\r\n").await.unwrap();
    let resp = read_until(&mut c, "\r\n0\r\n").await;
    let resp = if resp.ends_with("\r\n\r\n") {
        resp
    } else {
        resp + &read_until(&mut c, "\r\n\r\n").await
    };
    assert!(resp.contains("transfer-encoding: chunked\r\n"), "{resp}");
    assert!(
        resp.ends_with("\r\n\r\n4\r\none,\r\n3\r\ntwo\r\n0\r\ngrpc-status: 0\r\n\r\n"),
        "{resp:?}"
    );

    let (mut c, _task) = connect();
    c.write_all(b"GET /stream HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let resp = read_to_end(&mut c).await;
    assert!(resp.starts_with("HTTP/1.0 200 OK\r\n"), "{resp}");
    assert!(
        !resp.contains("chunked") && !resp.contains("grpc-status: 0"),
        "{resp}"
    );
    assert!(resp.ends_with("\r\n\r\none,two"), "{resp:?}");
}

#[tokio::test]
async fn http10_keep_alive_is_answered_in_kind() {
    let (mut c, _task) = connect();
    c.write_all(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
        .await
        .unwrap();
    let resp = read_until(&mut c, "hello").await;
    assert!(resp.starts_with("HTTP/1.0 200 OK\r\n"), "{resp}");
    assert!(resp.contains("connection: keep-alive\r\n"), "{resp}");
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let resp = read_to_end(&mut c).await;
    assert!(
        resp.ends_with("hello") && !resp.contains("keep-alive"),
        "{resp}"
    );
}

#[tokio::test]
async fn expect_continue_waits_for_the_service_to_read() {
    let (mut c, _task) = connect();
    c.write_all(b"PUT /echo HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n")
        .await
        .unwrap();
    let interim = read_until(&mut c, "\r\n\r\n").await;
    assert_eq!(interim, "HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"data").await.unwrap();
    let resp = read_until(&mut c, "data").await;
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");

    // A response that does not want the body: no 100, and the connection closes since the
    // body never came.
    let (mut c, _task) = connect();
    c.write_all(b"PUT /early HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 4\r\n\r\n")
        .await
        .unwrap();
    let resp = read_to_end(&mut c).await;
    assert!(
        resp.starts_with("HTTP/1.1 413 Payload Too Large\r\n"),
        "{resp}"
    );
    assert!(!resp.contains("100 Continue"), "{resp}");
}

#[tokio::test]
async fn an_early_answer_keeps_the_connection_only_if_the_body_was_buffered() {
    let (mut c, _task) = connect();
    c.write_all(b"POST /early HTTP/1.1\r\ncontent-length: 3\r\n\r\nabcGET / HTTP/1.1\r\n\r\n")
        .await
        .unwrap();
    let resp = read_until(&mut c, "hello").await;
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
}

// Paused time: the refused connections linger (a second of real time each) before closing.
#[tokio::test(start_paused = true)]
async fn refuses_oversized_and_malformed_heads() {
    let (mut c, task) = connect();
    let big = format!(
        "GET / HTTP/1.1\r\nx-big: {}\r\n\r\n",
        "a".repeat(crate::DEFAULT_MAX_HEAD_BYTES)
    );
    // The server stops reading at the limit: write in the background.
    let writer = tokio::spawn(async move {
        let _ = c.write_all(big.as_bytes()).await;
        c
    });
    let mut c = writer.await.unwrap();
    let resp = read_to_end(&mut c).await;
    assert!(
        resp.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{resp}"
    );
    assert!(resp.contains("connection: close\r\n"), "{resp}");
    assert!(matches!(
        task.await.unwrap(),
        Err(Error::Head(HeadError::TooLarge(_)))
    ));

    for bad in [
        &b"GET / HTTP/1.1\r\ncontent-length: x\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nbad header line\r\n\r\n",
        b"\x16\x03\x01\x00\x05hello\r\n\r\n",
        b"POST / HTTP/1.1\r\ntransfer-encoding: gzip\r\n\r\n",
    ] {
        let (mut c, task) = connect();
        c.write_all(bad).await.unwrap();
        let resp = read_to_end(&mut c).await;
        assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
        assert!(matches!(task.await.unwrap(), Err(Error::Head(_))));
    }
}

#[tokio::test(start_paused = true)]
async fn a_malformed_chunked_body_closes_the_connection() {
    let (mut c, _task) = connect();
    c.write_all(b"POST /echo HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n")
        .await
        .unwrap();
    let resp = read_to_end(&mut c).await;
    assert!(resp.starts_with("HTTP/1.1 502"), "{resp}");
    assert!(resp.contains("malformed chunked"), "{resp}");
}

#[tokio::test]
async fn head_and_no_content_have_no_body() {
    let (mut c, _task) = connect();
    c.write_all(b"HEAD / HTTP/1.1\r\n\r\nGET /no-content HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let all = read_to_end(&mut c).await;
    let parts: Vec<&str> = all.split("HTTP/1.1 ").skip(1).collect();
    assert_eq!(parts.len(), 3, "{all}");
    assert!(parts[0].contains("content-length: 5\r\n"), "{all}");
    assert!(parts[0].ends_with("\r\n\r\n"), "HEAD has no body: {all}");
    assert!(parts[1].starts_with("204 No Content\r\n"), "{all}");
    assert!(!parts[1].contains("content-length"), "{all}");
    assert!(parts[1].ends_with("\r\n\r\n"), "{all}");
    assert!(parts[2].ends_with("hello"), "{all}");
}

#[tokio::test]
async fn upgrades_hand_the_connection_over_with_what_followed() {
    let (mut c, task) = connect();
    c.write_all(b"GET /ws HTTP/1.1\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nearly")
        .await
        .unwrap();
    let resp = read_until(&mut c, "early").await;
    assert!(
        resp.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{resp}"
    );
    assert!(resp.ends_with("\r\n\r\nearly"), "{resp}");
    assert!(matches!(task.await.unwrap(), Ok(Outcome::Upgraded)));
    c.write_all(b"more").await.unwrap();
    read_until(&mut c, "more").await;
}

#[tokio::test]
async fn hands_http2_back_with_the_preface() {
    let (mut c, task) = connect();
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest")
        .await
        .unwrap();
    let Ok(Outcome::Http2 { io, drained }) = task.await.unwrap() else {
        panic!("not handed back as HTTP/2");
    };
    assert!(!drained);
    let (_, prefix) = io.into_parts();
    assert_eq!(&prefix[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\nrest");
}

#[tokio::test]
async fn draining_closes_idle_connections_and_finishes_the_request_in_flight() {
    let (mut c, server) = tokio::io::duplex(4096);
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let drain = async {
            let _ = rx.await;
        };
        tokio::pin!(drain);
        serve(
            server,
            hyper::service::service_fn(app),
            Config::default(),
            drain,
        )
        .await
    });
    // A request whose body is still coming when the drain starts.
    c.write_all(b"POST /echo HTTP/1.1\r\ncontent-length: 4\r\n\r\nab")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    tx.send(()).unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.write_all(b"cd").await.unwrap();
    let resp = read_to_end(&mut c).await;
    assert!(resp.contains("connection: close\r\n"), "{resp}");
    assert!(resp.ends_with("abcd"), "{resp}");
    assert!(matches!(task.await.unwrap(), Ok(Outcome::Closed)));
}

/// A stream whose readiness is known without reading, as a TCP socket's.
struct ReadyAware(DuplexStream, std::sync::Arc<std::sync::atomic::AtomicBool>);

impl tokio::io::AsyncRead for ReadyAware {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ReadyAware {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_shutdown(cx)
    }
}

impl Io for ReadyAware {
    fn poll_read_ready(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.1.load(std::sync::atomic::Ordering::SeqCst) {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

#[tokio::test]
async fn an_idle_connection_holds_no_buffer() {
    let (mut c, server) = tokio::io::duplex(4096);
    let readable = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let drain = pending::<()>();
    tokio::pin!(drain);
    let mut conn = Conn {
        io: ReadyAware(server, std::sync::Arc::clone(&readable)),
        rbuf: ReadBuffer::default(),
        config: Config::default(),
        drain,
        drained: false,
    };
    let service = hyper::service::service_fn(app);
    for body in ["", "POST /echo HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc"] {
        let req = if body.is_empty() {
            "GET / HTTP/1.1\r\n\r\n"
        } else {
            body
        };
        c.write_all(req.as_bytes()).await.unwrap();
        let turn = conn.serve_one(&service, false).await.unwrap();
        assert!(matches!(turn, Turn::KeepAlive));
        assert!(!conn.rbuf.is_allocated(), "the buffer outlived the request");
        read_until(&mut c, "\r\n\r\n").await;
    }

    // Waiting for the next request: a stream that is not readable is not read, so no buffer.
    readable.store(false, std::sync::atomic::Ordering::SeqCst);
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(conn.poll_head(&mut cx, false).is_pending());
    assert!(!conn.rbuf.is_allocated());

    // A stream that must be read to know (TLS) takes a buffer and gives it back at once.
    readable.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(conn.poll_head(&mut cx, false).is_pending());
    assert!(!conn.rbuf.is_allocated());

    // Pipelined bytes keep it, until they are served.
    c.write_all(b"GET / HTTP/1.1\r\n\r\nGET /").await.unwrap();
    let turn = conn.serve_one(&service, false).await.unwrap();
    assert!(matches!(turn, Turn::KeepAlive));
    assert!(conn.rbuf.is_allocated(), "the next request's start is kept");
}

#[test]
fn an_idle_connection_task_is_small() {
    let (_c, server) = tokio::io::duplex(64);
    let drain = pending::<()>();
    tokio::pin!(drain);
    let fut = serve(
        server,
        hyper::service::service_fn(app),
        Config::default(),
        drain,
    );
    // Everything a connection keeps while idle is in this future (requests are boxed).
    let size = size_of_val(&fut);
    eprintln!("SIZE {size}");
    assert!(size <= 512, "the connection future takes {size} bytes");
}
