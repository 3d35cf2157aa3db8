//! `rigging_proxy_h2::client` on real loopback connections, against the crate's own server.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt as _;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt as _, StreamBody};
use rigging_proxy_h2::client::{ClientConfig, Sender, handshake};
use rigging_proxy_h2::{Body, BoxError};
use tokio::net::TcpStream;

mod support;

use support::*;

async fn client(srv: &Server) -> Sender {
    let io = TcpStream::connect(srv.addr).await.unwrap();
    let (sender, conn) = handshake(io, &ClientConfig::default()).await.unwrap();
    tokio::spawn(conn);
    sender.ready().await.unwrap()
}

/// A request body whose frames the test sends one by one; it ends when the sender is dropped.
fn channel_body() -> (
    futures::channel::mpsc::UnboundedSender<Frame<Bytes>>,
    BoxBody,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let body = StreamBody::new(rx.map(Ok::<_, BoxError>));
    (tx, BoxBody::new(body))
}

/// The names of the request's header fields, sorted, as one response header's value.
fn names(headers: &HeaderMap) -> String {
    let mut names: Vec<_> = headers.keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    names.join(",")
}

#[tokio::test]
async fn concurrent_streams_on_one_connection_carry_big_bodies_both_ways() {
    let srv = server(handler(|req: Request<Body>| async move {
        let length = req.headers().get("content-length").cloned();
        let body = req.into_body().collect().await?.to_bytes();
        let mut resp = Response::new(full(body));
        if let Some(length) = length {
            resp.headers_mut().insert("x-seen-length", length);
        }
        Ok(resp)
    }))
    .await;
    let sender = client(&srv).await;
    let exchanges = (0..16u8).map(|seed| {
        let mut sender = sender.clone();
        async move {
            let req = Request::post("http://test/echo")
                .body(full(big(seed)))
                .unwrap();
            let resp = sender.send(req).unwrap().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            // The body's known length went out as its `content-length`.
            assert_eq!(resp.headers()["x-seen-length"], "307200");
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
async fn connection_fields_are_removed_and_te_trailers_and_trailers_kept() {
    let srv = server(handler(|req: Request<Body>| async move {
        let seen = names(req.headers());
        let collected = req.into_body().collect().await?;
        let trailers = collected.trailers().cloned().unwrap_or_default();
        let mut resp = Response::new(full(collected.to_bytes()));
        resp.headers_mut().insert("x-seen", seen.parse().unwrap());
        resp.headers_mut()
            .insert("x-seen-trailers", names(&trailers).parse().unwrap());
        Ok(resp)
    }))
    .await;
    let mut sender = client(&srv).await;
    let mut trailers = HeaderMap::new();
    trailers.insert("x-request-trailer", "yes".parse().unwrap());
    let frames: [Result<_, BoxError>; 2] = [
        Ok(Frame::data(Bytes::from("grpc"))),
        Ok(Frame::trailers(trailers)),
    ];
    let req = Request::post("http://test/svc/Method")
        .header("te", "trailers")
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("keep-alive", "timeout=5")
        .header("proxy-connection", "keep-alive")
        .header("x-kept", "1")
        .body(BoxBody::new(StreamBody::new(futures::stream::iter(frames))))
        .unwrap();
    let resp = sender.send(req).unwrap().await.unwrap();
    assert_eq!(resp.headers()["x-seen"], "te,x-kept");
    assert_eq!(resp.headers()["x-seen-trailers"], "x-request-trailer");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "grpc");

    // Any other `te` is HTTP/1.1's and goes.
    let req = Request::get("http://test/")
        .header("te", "gzip")
        .body(full(Bytes::new()))
        .unwrap();
    let mut sender = sender.ready().await.unwrap();
    let resp = sender.send(req).unwrap().await.unwrap();
    assert_eq!(resp.headers()["x-seen"], "");
}

#[tokio::test]
async fn a_body_already_whole_goes_with_the_head_and_one_to_come_has_a_task() {
    // `send` spawns the task that sends a body still to come: counted by the runtime.
    let srv = server(handler(|req: Request<Body>| async move {
        let body = req.into_body().collect().await?.to_bytes();
        Ok(Response::new(full(body)))
    }))
    .await;
    let mut sender = client(&srv).await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let before = tasks();
    let req = Request::post("http://test/svc/Unary")
        .body(full(Bytes::from_static(b"\0\0\0\0\x04ping")))
        .unwrap();
    let response = sender.send(req).unwrap();
    assert_eq!(tasks(), before, "a whole body was given a task");
    let resp = response.await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, &b"\0\0\0\0\x04ping"[..]);

    let mut sender = sender.ready().await.unwrap();
    let before = tasks();
    let (tx, body) = channel_body();
    let response = sender.send(Request::post("http://test/").body(body).unwrap());
    let response = response.unwrap();
    assert_eq!(tasks(), before + 1, "a body to come has no task sending it");
    tx.unbounded_send(Frame::data(Bytes::from("late"))).unwrap();
    drop(tx);
    let body = response.await.unwrap().into_body().collect().await.unwrap();
    assert_eq!(body.to_bytes(), "late");
}

#[tokio::test]
async fn the_response_streams_while_the_request_body_is_still_being_sent() {
    // The server echoes each request frame as it comes: a client that sent the body only with
    // the head, or before reading the response, would never see the first echo.
    let srv = server(handler(|req: Request<Body>| async move {
        let echo = req.into_body().map_err(BoxError::from);
        Ok(Response::new(BoxBody::new(echo)))
    }))
    .await;
    let mut sender = client(&srv).await;
    let (tx, body) = channel_body();
    let req = Request::post("http://test/chat").body(body).unwrap();
    let resp = sender.send(req).unwrap().await.unwrap();
    let mut echoed = resp.into_body();
    for word in ["one", "two", "three"] {
        tx.unbounded_send(Frame::data(Bytes::from(word))).unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(10), echoed.frame())
            .await
            .expect("no echo while the request body is open")
            .unwrap()
            .unwrap();
        assert_eq!(frame.into_data().unwrap(), word);
    }
    drop(tx);
    // The end may come as an empty DATA frame with END_STREAM, then none.
    while let Some(frame) = echoed.frame().await {
        let data = frame.unwrap().into_data().unwrap();
        assert!(
            data.is_empty(),
            "more echoed after the request ended: {data:?}"
        );
    }
}

#[tokio::test]
async fn dropping_the_response_resets_the_stream_and_stops_the_request_body() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let srv = server(handler({
        let dropped = Arc::clone(&dropped);
        move |req: Request<Body>| {
            let flag = DropFlag(Arc::clone(&dropped));
            let started = started_tx.clone();
            async move {
                let _flag = flag;
                let _ = started.send(());
                // Waits for a request body that does not end.
                let _ = req.into_body().collect().await;
                Ok(Response::new(full(Bytes::new())))
            }
        }
    }))
    .await;
    let mut sender = client(&srv).await;
    let (tx, body) = channel_body();
    tx.unbounded_send(Frame::data(Bytes::from("partial")))
        .unwrap();
    let req = Request::post("http://test/upload").body(body).unwrap();
    let response = sender.send(req).unwrap();
    started.recv().await.unwrap();
    assert!(!dropped.load(Ordering::SeqCst));
    drop(response);
    for _ in 0..200 {
        if dropped.load(Ordering::SeqCst) {
            // The task sending the body is gone too: its end of the channel is closed.
            assert!(tx.unbounded_send(Frame::data(Bytes::new())).is_err());
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server still serves a stream whose response nobody waits for");
}

#[tokio::test]
async fn a_connection_going_away_takes_no_more_streams() {
    let srv = server(handler(|_req: Request<Body>| async move {
        Ok(Response::new(full("ok")))
    }))
    .await;
    let mut sender = client(&srv).await;
    assert!(sender.try_ready().unwrap());
    let req = Request::get("http://test/")
        .body(full(Bytes::new()))
        .unwrap();
    let resp = sender.send(req).unwrap().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    srv.shutdown.notify_waiters();
    let mut closed = false;
    for _ in 0..200 {
        if sender.try_ready().is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(closed, "try_ready still says yes after GOAWAY");
    assert!(sender.clone().ready().await.is_err());
}
