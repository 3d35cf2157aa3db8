use std::convert::Infallible;

use bytes::Bytes;
use futures::SinkExt;
use futures::channel::mpsc;
use http::Request;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

use crate::testing::{api_v2, http, http_with};
use crate::{FailRule, HttpOptions, http_get};

#[tokio::test]
async fn hello_over_http1() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    let (status, headers, body) = http_get(addr, "/", false).await.expect("get");
    assert_eq!(status, 200);
    assert_eq!(body, "hello from api v2 (api-v2-1)\n");
    assert_eq!(headers["x-served-by"], "api-v2-1");
    assert_eq!(headers["x-http-version"], "HTTP/1.1");
}

#[tokio::test]
async fn hello_over_h2c() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    let (status, headers, body) = http_get(addr, "/", true).await.expect("get");
    assert_eq!(status, 200);
    assert_eq!(body, "hello from api v2 (api-v2-1)\n");
    assert_eq!(headers["x-served-by"], "api-v2-1");
    assert_eq!(headers["x-http-version"], "HTTP/2.0");
}

#[tokio::test]
async fn status_answers_the_code_in_the_path() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    for (path, expected) in [
        ("/status/503", 503),
        ("/status/204", 204),
        ("/status/418", 418),
        ("/status/101", 400),
        ("/status/abc", 400),
        ("/status/1000", 400),
        ("/nowhere", 404),
    ] {
        for http2 in [false, true] {
            let (status, headers, _) = http_get(addr, path, http2).await.expect("get");
            assert_eq!(status, expected, "{path} http2={http2}");
            assert_eq!(headers["x-served-by"], "api-v2-1");
        }
    }
}

#[tokio::test]
async fn slow_waits_before_answering() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    let started = tokio::time::Instant::now();
    let (status, _, body) = http_get(addr, "/slow?ms=200", false).await.expect("get");
    assert_eq!(status, 200);
    assert_eq!(body, "slept 200 ms\n");
    assert!(started.elapsed() >= std::time::Duration::from_millis(200));

    let (status, _, _) = http_get(addr, "/slow?ms=soon", true).await.expect("get");
    assert_eq!(status, 400);
}

#[tokio::test]
async fn echo_streams_the_body_back_with_echo_headers() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);

    let (mut chunks, rx) = mpsc::channel::<Result<Frame<Bytes>, Infallible>>(1);
    let request = Request::post("/echo")
        .header("host", addr.to_string())
        .header("x-echo-color", "blue")
        .header("x-other", "dropped")
        .body(StreamBody::new(rx))
        .expect("request");
    let response_fut = tokio::spawn(async move { sender.send_request(request).await });
    chunks
        .send(Ok(Frame::data(Bytes::from("first "))))
        .await
        .expect("send");

    let response = response_fut.await.expect("join").expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-echo-color"], "blue");
    assert!(response.headers().get("x-other").is_none());
    let mut body = response.into_body();
    // The first chunk comes back before the request body is complete:
    // the server streams, it does not buffer.
    let first = body.frame().await.expect("frame").expect("ok");
    assert_eq!(first.into_data().expect("data"), "first ");
    chunks
        .send(Ok(Frame::data(Bytes::from("second"))))
        .await
        .expect("send");
    drop(chunks);
    let rest = body.collect().await.expect("body").to_bytes();
    assert_eq!(rest, "second");
}

#[tokio::test]
async fn echo_over_h2c() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .expect("handshake");
    tokio::spawn(conn);
    let request = Request::post(format!("http://{addr}/echo"))
        .header("x-echo-n", "1")
        .body(http_body_util::Full::new(Bytes::from("over h2")))
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.headers()["x-echo-n"], "1");
    assert_eq!(response.headers()["x-http-version"], "HTTP/2.0");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(body, "over h2");
}

async fn hits(addr: std::net::SocketAddr) -> u64 {
    let (status, _, body) = http_get(addr, "/hits", false).await.expect("hits");
    assert_eq!(status, 200, "{body}");
    body.trim().parse().expect("a number")
}

#[tokio::test]
async fn hits_counts_every_request_but_itself() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    assert_eq!(hits(addr).await, 0);
    for (path, http2) in [("/", false), ("/status/503", true), ("/nowhere", false)] {
        http_get(addr, path, http2).await.expect("get");
    }
    assert_eq!(
        crate::grpc_health_check(addr, "api").await.expect("check"),
        1
    );
    assert_eq!(hits(addr).await, 4);
    assert_eq!(hits(addr).await, 4);
}

#[tokio::test]
async fn fail_rule_answers_its_status_deterministically() {
    let options = HttpOptions::default().with_fail(FailRule::new(503, 50).expect("rule"));
    let (addr, _server) = http_with(api_v2(), options).await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let (status, headers, body) = http_get(addr, "/", i % 2 == 0).await.expect("get");
        assert_eq!(headers["x-served-by"], "api-v2-1");
        if status == 503 {
            assert_eq!(body, "api-v2-1 fails on purpose: 503\n");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 503, 200, 503, 200, 503]);
    // /hits neither fails nor counts; failed requests count
    assert_eq!(hits(addr).await, 6);
    assert_eq!(hits(addr).await, 6);

    let always = HttpOptions::default().with_fail(FailRule::new(418, 100).expect("rule"));
    let (addr, _server) = http_with(api_v2(), always).await;
    for path in ["/", "/status/200", "/headers", "/slow?ms=1"] {
        let (status, _, _) = http_get(addr, path, false).await.expect("get");
        assert_eq!(status, 418, "{path}");
    }
    // gRPC health is never failed: the mesh's checks keep working
    assert_eq!(
        crate::grpc_health_check(addr, "api").await.expect("check"),
        1
    );
    assert_eq!(hits(addr).await, 5);
}

#[tokio::test]
async fn headers_shows_the_request_as_received() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let request = Request::put("/headers?a=1&b=2")
        .header("host", "api")
        .header("x-canary", "true")
        .header("x-multi", "one")
        .header("x-multi", "two")
        .body(http_body_util::Empty::<Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-seen-path"], "/headers?a=1&b=2");
    assert_eq!(response.headers()["x-seen-method"], "PUT");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert_eq!(
        body,
        "PUT /headers?a=1&b=2 HTTP/1.1\nhost: api\nx-canary: true\nx-multi: one\nx-multi: two\n"
    );
}

#[tokio::test]
async fn every_response_names_the_path_and_method_seen() {
    let (addr, _reporter, _server) = http(api_v2()).await;
    for (path, http2) in [("/", false), ("/nowhere?x=1", true), ("/status/503", false)] {
        let (_, headers, _) = http_get(addr, path, http2).await.expect("get");
        assert_eq!(headers["x-seen-path"], path);
        assert_eq!(headers["x-seen-method"], "GET");
    }
    let (_, headers, body) = http_get(addr, "/headers", true).await.expect("get");
    assert!(body.starts_with("GET /headers HTTP/2.0\n"), "{body}");
    assert_eq!(headers["x-seen-path"], "/headers");
}

#[test]
fn caller_note_names_the_uri_element() {
    let mut headers = http::HeaderMap::new();
    assert_eq!(super::caller_note(&headers), "");
    headers.insert(
        "x-forwarded-client-cert",
        http::HeaderValue::from_static("By=spiffe://td/svc/api;URI=spiffe://td/svc/web"),
    );
    assert_eq!(super::caller_note(&headers), "; caller spiffe://td/svc/web");
}
