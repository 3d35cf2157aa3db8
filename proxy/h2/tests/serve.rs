//! `rigging_proxy_h2::serve` on real loopback connections, with hyper's and `h2`'s clients.

#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rigging_proxy_h2::{Body, BoxError};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

mod support;

use support::*;

async fn hyper_client(addr: SocketAddr) -> SendRequest<BoxBody> {
    let io = TokioIo::new(TcpStream::connect(addr).await.unwrap());
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

async fn h2_client(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let io = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(io).await.unwrap();
    tokio::spawn(conn);
    send.ready().await.unwrap()
}

fn get(path: &str) -> Request<BoxBody> {
    Request::get(format!("http://test{path}"))
        .body(full(Bytes::new()))
        .unwrap()
}

#[tokio::test]
async fn concurrent_streams_carry_big_bodies_both_ways() {
    let srv = server(handler(|req: Request<Body>| async move {
        let body = req.into_body().collect().await?.to_bytes();
        Ok(Response::new(full(body)))
    }))
    .await;
    let client = hyper_client(srv.addr).await;
    let exchanges = (0..16u8).map(|seed| {
        let mut client = client.clone();
        async move {
            let req = Request::post("http://test/echo")
                .body(full(big(seed)))
                .unwrap();
            let resp = client.send_request(req).await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(resp.headers()["content-length"], "307200");
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            assert!(body == big(seed), "stream {seed}: body differs");
        }
    });
    // A window never given back would stall the streams: fail, not hang.
    tokio::time::timeout(
        Duration::from_secs(30),
        futures::future::join_all(exchanges),
    )
    .await
    .expect("the streams stalled");
}

#[tokio::test]
async fn trailers_pass_both_ways() {
    let srv = server(handler(|req: Request<Body>| async move {
        let collected = req.into_body().collect().await?;
        let seen = collected.trailers().cloned().unwrap_or_default();
        let data = collected.to_bytes();
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        if let Some(v) = seen.get("x-request-trailer") {
            trailers.insert("x-echoed-trailer", v.clone());
        }
        let frames = [Ok(Frame::data(data)), Ok(Frame::trailers(trailers))];
        let body = StreamBody::new(futures::stream::iter(frames));
        Ok(Response::new(BoxBody::new(body)))
    }))
    .await;
    let mut client = hyper_client(srv.addr).await;
    let mut trailers = HeaderMap::new();
    trailers.insert("x-request-trailer", "yes".parse().unwrap());
    let frames: [Result<_, BoxError>; 2] = [
        Ok(Frame::data(Bytes::from("grpc"))),
        Ok(Frame::trailers(trailers)),
    ];
    let body = BoxBody::new(StreamBody::new(futures::stream::iter(frames)));
    let req = Request::post("http://test/svc/Method")
        .header("content-type", "application/grpc")
        .body(body)
        .unwrap();
    let resp = client.send_request(req).await.unwrap();
    let collected = resp.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap();
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(trailers["x-echoed-trailer"], "yes");
    assert_eq!(collected.to_bytes(), "grpc");
}

#[tokio::test]
async fn response_heads_lose_connection_fields_and_gain_a_date() {
    let srv = server(handler(|_req| async move {
        let resp = Response::builder()
            .header("connection", "keep-alive, x-hop")
            .header("x-hop", "1")
            .header("keep-alive", "timeout=5")
            .header("transfer-encoding", "chunked")
            .header("upgrade", "websocket")
            .header("proxy-connection", "keep-alive")
            .header("x-kept", "yes")
            .body(full("hello"))
            .unwrap();
        Ok(resp)
    }))
    .await;
    let mut client = hyper_client(srv.addr).await;
    let resp = client.send_request(get("/")).await.unwrap();
    let h = resp.headers();
    for gone in [
        "connection",
        "x-hop",
        "keep-alive",
        "transfer-encoding",
        "upgrade",
        "proxy-connection",
    ] {
        assert!(!h.contains_key(gone), "{gone} was sent: {h:?}");
    }
    assert_eq!(h["x-kept"], "yes");
    assert_eq!(h["content-length"], "5");
    let date = h["date"].to_str().unwrap();
    assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
}

#[tokio::test]
async fn a_date_the_service_set_is_kept() {
    let srv = server(handler(|_req| async move {
        let resp = Response::builder()
            .header("date", "Sun, 06 Nov 1994 08:49:37 GMT")
            .body(full(Bytes::new()))
            .unwrap();
        Ok(resp)
    }))
    .await;
    let mut client = hyper_client(srv.addr).await;
    let resp = client.send_request(get("/")).await.unwrap();
    assert_eq!(resp.headers()["date"], "Sun, 06 Nov 1994 08:49:37 GMT");
}

/// Sets its flag when dropped.
#[tokio::test]
async fn a_stream_the_client_resets_cancels_its_request() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (started_tx, started) = tokio::sync::mpsc::unbounded_channel();
    let srv = server(handler({
        let dropped = Arc::clone(&dropped);
        move |_req| {
            let flag = DropFlag(Arc::clone(&dropped));
            let started = started_tx.clone();
            async move {
                let _flag = flag;
                let _ = started.send(());
                std::future::pending::<()>().await;
                Ok(Response::new(full(Bytes::new())))
            }
        }
    }))
    .await;
    let mut client = h2_client(srv.addr).await;
    let req = Request::get("http://test/").body(()).unwrap();
    let (_resp, mut stream) = client.send_request(req, true).unwrap();
    let mut started = started;
    started.recv().await.unwrap();
    assert!(!dropped.load(Ordering::SeqCst));
    stream.send_reset(h2::Reason::CANCEL);
    for _ in 0..100 {
        if dropped.load(Ordering::SeqCst) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the reset stream's request is still running");
}

#[tokio::test]
async fn a_failed_service_resets_the_stream_and_not_the_connection() {
    let srv = server(handler(|req: Request<Body>| async move {
        if req.uri().path() == "/fail" {
            return Err(Failed("no answer".into()));
        }
        Ok(Response::new(full("ok")))
    }))
    .await;
    let mut client = h2_client(srv.addr).await;
    let req = Request::get("http://test/fail").body(()).unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    let err = resp.await.unwrap_err();
    assert_eq!(err.reason(), Some(h2::Reason::INTERNAL_ERROR), "{err}");
    // The connection carries the next request.
    let mut client = client.ready().await.unwrap();
    let req = Request::get("http://test/").body(()).unwrap();
    let (resp, _) = client.send_request(req, true).unwrap();
    assert_eq!(resp.await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn a_failing_response_body_resets_the_stream() {
    let srv = server(handler(|_req| async move {
        let frames: [Result<Frame<Bytes>, BoxError>; 2] = [
            Ok(Frame::data(Bytes::from("partial"))),
            Err("the upstream went away".into()),
        ];
        let body = BoxBody::new(StreamBody::new(futures::stream::iter(frames)));
        Ok(Response::new(body))
    }))
    .await;
    let mut client = hyper_client(srv.addr).await;
    // The reset may come before the client read the head (it is sent right after it).
    let whole = match client.send_request(get("/")).await {
        Ok(resp) => resp.into_body().collect().await.is_ok(),
        Err(_) => false,
    };
    assert!(!whole, "a truncated body must not end cleanly");
}

#[tokio::test]
async fn shutdown_lets_open_streams_finish_and_refuses_new_ones() {
    let release = Arc::new(Notify::new());
    let srv = server(handler({
        let release = Arc::clone(&release);
        move |_req| {
            let release = Arc::clone(&release);
            async move {
                release.notified().await;
                Ok(Response::new(full("done")))
            }
        }
    }))
    .await;
    let mut ended = srv.ended;
    let mut client = hyper_client(srv.addr).await;
    let (answered_tx, answered) = oneshot::channel();
    let mut first = client.clone();
    tokio::spawn(async move {
        let resp = first.send_request(get("/slow")).await;
        let body = match resp {
            Ok(r) => r.into_body().collect().await.map(|c| c.to_bytes()).ok(),
            Err(_) => None,
        };
        let _ = answered_tx.send(body);
    });
    // The request is in the server's hands before the shutdown starts.
    tokio::time::sleep(Duration::from_millis(100)).await;
    srv.shutdown.notify_waiters();
    tokio::time::sleep(Duration::from_millis(100)).await;
    // GOAWAY received: the client opens no new stream on this connection.
    assert!(client.send_request(get("/late")).await.is_err());
    assert!(ended.try_recv().is_err(), "ended with a stream still open");
    release.notify_waiters();
    assert_eq!(answered.await.unwrap().as_deref(), Some(&b"done"[..]));
    let result = tokio::time::timeout(Duration::from_secs(5), ended.recv())
        .await
        .expect("the connection did not end after its last stream");
    assert_eq!(result, Some(Ok(())));
}

#[tokio::test]
async fn a_client_that_is_not_http2_is_an_error() {
    let srv = server(handler(|_req| async move { Ok(Response::new(full("ok"))) })).await;
    let mut ended = srv.ended;
    let mut io = TcpStream::connect(srv.addr).await.unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut io, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), ended.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(result.unwrap_err().contains("handshake"));
}

/// A service future that is ready on its second poll: the stream must be polled again by the
/// connection's task when it wakes itself, not only when a socket is ready.
struct Yielding(bool);

impl Future for Yielding {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[tokio::test]
async fn streams_woken_without_io_are_served() {
    let srv = server(handler(|_req| async move {
        Yielding(false).await;
        Ok(Response::new(full("ok")))
    }))
    .await;
    let client = hyper_client(srv.addr).await;
    let many = (0..64).map(|_| {
        let mut client = client.clone();
        async move { client.send_request(get("/")).await.unwrap().status() }
    });
    for status in futures::future::join_all(many).await {
        assert_eq!(status, StatusCode::OK);
    }
}
