//! The client against scripted upstreams over in-memory streams.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body::{Body as _, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;

type TestBody = BoxBody<Bytes, Infallible>;

fn get(path: &str) -> Request<TestBody> {
    Request::get(path)
        .header("host", "svc")
        .body(Empty::new().boxed())
        .unwrap_or_default()
}

/// Reads from the upstream's end until `want` appears; returns what was read.
async fn read_until(s: &mut DuplexStream, want: &str) -> String {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).contains(want) {
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                n > 0,
                "closed before {want:?}: {}",
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

async fn send(
    conn: ClientConn<DuplexStream>,
    req: Request<TestBody>,
) -> Response<ClientBody<DuplexStream, TestBody>> {
    match tokio::time::timeout(Duration::from_secs(5), conn.send(req, Config::default())).await {
        Ok(Ok(resp)) => resp,
        Ok(Err(e)) => panic!("send failed: {}", e.error),
        Err(_) => panic!("no response"),
    }
}

#[tokio::test]
async fn a_kept_alive_connection_carries_requests_one_after_another() {
    let (client, mut up) = tokio::io::duplex(4096);
    let mut conn = ClientConn::new(client);
    for i in 0..3 {
        let exchange = async {
            let req = read_until(&mut up, "\r\n\r\n").await;
            assert_eq!(req, format!("GET /{i} HTTP/1.1\r\nhost: svc\r\n\r\n"));
            up.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                .await
                .unwrap();
        };
        let (resp, ()) = tokio::join!(send(conn, get(&format!("/{i}"))), exchange);
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        assert_eq!(body.size_hint().exact(), Some(5));
        let data = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(data, "hello");
        // The sized body is at its end with its last bytes: no further poll is needed.
        assert!(body.is_end_stream());
        conn = body.take_conn().expect("reusable");
        assert!(conn.is_reusable());
    }
    drop(up);
    assert!(!conn.is_reusable(), "a closed connection is not reused");
}

#[tokio::test]
async fn reads_chunked_and_close_delimited_bodies() {
    let (client, mut up) = tokio::io::duplex(4096);
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        up.write_all(b"2\r\nde\r\n0\r\ngrpc-status: 0\r\n\r\n")
            .await
            .unwrap();
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), get("/")), exchange);
    let mut body = resp.into_body();
    let collected = (&mut body).collect().await.unwrap();
    assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), "abcde");
    assert!(body.take_conn().is_some());

    let (client, mut up) = tokio::io::duplex(4096);
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
            .await
            .unwrap();
        drop(up);
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), get("/")), exchange);
    let mut body = resp.into_body();
    assert_eq!(
        (&mut body).collect().await.unwrap().to_bytes(),
        "until the end"
    );
    assert!(
        body.take_conn().is_none(),
        "a close-delimited body ends its connection"
    );
}

#[tokio::test]
async fn request_bodies_go_out_sized_or_chunked() {
    let (client, mut up) = tokio::io::duplex(4096);
    let req = Request::post("/up")
        .header("host", "svc")
        .body(Full::new(Bytes::from_static(b"payload")).boxed())
        .unwrap();
    let exchange = async {
        let got = read_until(&mut up, "payload").await;
        assert_eq!(
            got,
            "POST /up HTTP/1.1\r\ncontent-length: 7\r\nhost: svc\r\n\r\npayload"
        );
        up.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), req), exchange);
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mut body = resp.into_body();
    assert!(body.is_end_stream());
    assert!(body.take_conn().is_some());

    let (client, mut up) = tokio::io::duplex(4096);
    let mut trailers = HeaderMap::new();
    trailers.insert("checksum", HeaderValue::from_static("x"));
    let frames: Vec<Result<_, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(b"one"))),
        Ok(Frame::data(Bytes::from_static(b"two"))),
        Ok(Frame::trailers(trailers)),
    ];
    let req = Request::post("/")
        .header("trailer", "checksum")
        .body(StreamBody::new(futures::stream::iter(frames)).boxed())
        .unwrap();
    let exchange = async {
        let got = read_until(&mut up, "checksum: x\r\n\r\n").await;
        assert!(got.contains("transfer-encoding: chunked\r\n"), "{got}");
        assert!(
            got.ends_with("\r\n\r\n3\r\none\r\n3\r\ntwo\r\n0\r\nchecksum: x\r\n\r\n"),
            "{got:?}"
        );
        up.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), req), exchange);
    assert!(resp.into_body().take_conn().is_some());
}

#[tokio::test]
async fn an_early_answer_leaves_the_connection_unusable() {
    let (client, mut up) = tokio::io::duplex(4096);
    // A body that never ends.
    let req = Request::post("/")
        .header("content-length", "100")
        .body(
            StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, Infallible>>()).boxed(),
        )
        .unwrap();
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), req), exchange);
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.into_body().take_conn().is_none());
}

#[tokio::test]
async fn skips_interim_responses_and_refuses_switches() {
    let (client, mut up) = tokio::io::duplex(4096);
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
        )
        .await
        .unwrap();
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), get("/")), exchange);
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.into_body().collect().await.unwrap().to_bytes(), "ok");

    let (client, mut up) = tokio::io::duplex(4096);
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
            .await
            .unwrap();
    };
    let (sent, ()) = tokio::join!(
        ClientConn::new(client).send(get("/"), Config::default()),
        exchange
    );
    assert!(matches!(
        sent.map(drop).unwrap_err().error,
        ClientError::UnexpectedSwitch
    ));
}

/// A 2xx answer to `CONNECT` makes the connection a tunnel: read as a response with a body
/// and pooled again, the next request would go into the tunnel.
#[tokio::test]
async fn a_tunnel_opened_by_connect_is_refused_not_pooled() {
    let (client, mut up) = tokio::io::duplex(4096);
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            .await
            .unwrap();
    };
    let connect = Request::connect("/")
        .header("host", "svc:443")
        .body(Empty::new().boxed())
        .unwrap_or_default();
    let (sent, ()) = tokio::join!(
        ClientConn::new(client).send(connect, Config::default()),
        exchange
    );
    let err = sent.map(drop).unwrap_err();
    assert!(matches!(err.error, ClientError::UnexpectedSwitch));
    assert!(err.unsent.is_none());
}

#[tokio::test]
async fn a_head_response_has_no_body_and_a_dead_connection_gives_the_request_back() {
    let (client, mut up) = tokio::io::duplex(4096);
    let head = Request::head("/")
        .body(Empty::new().boxed())
        .unwrap_or_default();
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n")
            .await
            .unwrap();
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), head), exchange);
    assert_eq!(resp.headers()["content-length"], "9");
    let mut body = resp.into_body();
    assert!(body.is_end_stream());
    assert!(body.take_conn().is_some());

    let (client, up) = tokio::io::duplex(4096);
    drop(up);
    let err = ClientConn::new(client)
        .send(get("/again"), Config::default())
        .await
        .map(drop)
        .unwrap_err();
    let unsent = err.unsent.expect("the request was not written");
    assert_eq!(unsent.uri(), "/again");
}

#[tokio::test]
async fn a_cut_body_is_an_error() {
    let (client, mut up) = tokio::io::duplex(4096);
    let exchange = async {
        read_until(&mut up, "\r\n\r\n").await;
        up.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort")
            .await
            .unwrap();
        drop(up);
    };
    let (resp, ()) = tokio::join!(send(ClientConn::new(client), get("/")), exchange);
    let mut body = resp.into_body();
    assert!((&mut body).collect().await.is_err());
    assert!(body.take_conn().is_none());
}
