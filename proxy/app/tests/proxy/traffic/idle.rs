//! Idle timeouts: a stalled response body is cut, a slow but steady one goes through, and
//! waiting too long for the headers gets a 408.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use super::{Reply, config_with, reply, route_to, scripted};
use crate::proxy::support::*;

/// An upstream that answers 200 at once, then sends each chunk of its body after the chunk's
/// delay.
async fn dribbling(chunks: Vec<(Duration, &'static str)>) -> SocketAddr {
    let listener = TcpListener::bind(LOOPBACK0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let chunks = Arc::new(chunks);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let chunks = Arc::clone(&chunks);
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |_req: Request<Incoming>| {
                    let chunks = Arc::clone(&chunks);
                    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(1);
                    tokio::spawn(async move {
                        for (delay, chunk) in chunks.iter() {
                            tokio::time::sleep(*delay).await;
                            if tx.send(Bytes::from_static(chunk.as_bytes())).await.is_err() {
                                return;
                            }
                        }
                    });
                    let frames = futures::stream::unfold(rx, |mut rx| async move {
                        let chunk = rx.recv().await?;
                        Some((Ok::<_, Infallible>(Frame::data(chunk)), rx))
                    });
                    async move { Ok::<_, Infallible>(Response::new(StreamBody::new(frames))) }
                });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// A proxy whose route to `svc` at `addr` has an idle timeout of `idle` (and no route timeout).
async fn idle_proxy(idle: Duration, addr: SocketAddr) -> (rigging_proxy_app::ProxyHandle, String) {
    let mut route = route_to("svc");
    route.action.idle_timeout = Some(idle);
    proxy_with(config_with(route, &[("svc", &[addr])])).await
}

#[tokio::test]
async fn idle_timeout_cuts_a_response_body_that_stalls() {
    let up = dribbling(vec![
        (Duration::ZERO, "first;"),
        (Duration::from_secs(3), "too late"),
    ])
    .await;
    let (proxy, url) = idle_proxy(Duration::from_millis(300), up).await;

    let start = Instant::now();
    let resp = h1_client()
        .get(format!("{url}/").parse().unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "the headers came in time");
    let body = resp.into_body().collect().await;
    assert!(body.is_err(), "the body is cut, not ended: {body:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "cut after the idle timeout, not the upstream's stall: {:?}",
        start.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_lets_a_slow_but_steady_body_through() {
    let gap = Duration::from_millis(100);
    let chunks = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let up = dribbling(chunks.iter().map(|c| (gap, *c)).collect()).await;
    let (proxy, url) = idle_proxy(Duration::from_millis(400), up).await;

    let start = Instant::now();
    let (resp, body) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(body, "abcdefgh");
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "the whole body took longer than the idle timeout: {:?}",
        start.elapsed()
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn idle_timeout_answers_408_while_waiting_for_the_headers() {
    let up = scripted("slow", |_| Reply {
        delay: Duration::from_secs(3),
        ..reply(200)
    })
    .await;
    let (proxy, url) = idle_proxy(Duration::from_millis(300), up.addr).await;

    let start = Instant::now();
    let (resp, body) = get(&h1_client(), format!("{url}/")).await;
    assert_eq!(resp.status(), StatusCode::REQUEST_TIMEOUT, "{body}");
    assert_eq!(header(&resp, "x-rigging-error"), "idle_timeout");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    proxy.shutdown().await;
}
