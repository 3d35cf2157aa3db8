//! gRPC unary calls as the benchmark makes and answers them: length-prefixed messages on
//! HTTP/2, the status in the trailers. The messages are opaque bytes: proxies do not decode
//! them, so no protobuf schema is needed to measure what they cost.

use std::net::SocketAddr;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, header};
use http_body_util::combinators::WithTrailers;
use http_body_util::{BodyExt, Full};

use crate::loadgen::h2c_connect;

/// The method every call names, as `/package.Service/Method`.
pub const PATH: &str = "/rigbench.Bench/Unary";
/// What the client sends: a message of a typical small unary call's size.
pub const REQUEST_MESSAGE: &[u8] =
    b"rig-bench gRPC request: 64 bytes of opaque message payload.....\n";
/// What the upstream answers.
pub const RESPONSE_MESSAGE: &[u8] =
    b"rig-bench gRPC response: 64 bytes of opaque message payload....\n";
/// gRPC's content type.
pub const CONTENT_TYPE: &str = "application/grpc";
/// A gRPC message's prefix: one flag byte (compressed or not), four bytes of length.
const PREFIX: usize = 5;
/// `grpc-status` codes the upstream sends: OK, and INVALID_ARGUMENT for a body that is not
/// one uncompressed message.
const OK: &str = "0";
const INVALID_ARGUMENT: &str = "3";

/// An uncompressed message with its prefix.
pub fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(PREFIX + message.len());
    b.put_u8(0);
    // The benchmark's messages are tens of bytes: the length always fits.
    b.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    b.put_slice(message);
    b.freeze()
}

/// The one uncompressed message a unary body carries, or why it is not one.
pub fn unframe(body: &[u8]) -> Result<&[u8], String> {
    let (prefix, message) = body
        .split_at_checked(PREFIX)
        .ok_or_else(|| format!("{} bytes, shorter than a message's prefix", body.len()))?;
    if prefix[0] != 0 {
        return Err(format!("compressed flag {}", prefix[0]));
    }
    let len = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    if len != message.len() {
        return Err(format!("prefix says {len} bytes, {} follow", message.len()));
    }
    Ok(message)
}

/// Whether a request's content type is gRPC's (`application/grpc` or `application/grpc+…`).
pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.strip_prefix(CONTENT_TYPE).is_some_and(|rest| {
                rest.is_empty() || rest.starts_with('+') || rest.starts_with(';')
            })
        })
}

/// A unary response's body: the message, then the trailers with the status.
pub type ResponseBody = WithTrailers<
    Full<Bytes>,
    std::future::Ready<Option<Result<HeaderMap, std::convert::Infallible>>>,
>;

/// The upstream's answer to a unary call whose request body was `body`: the response message
/// and `grpc-status: 0` when it was one uncompressed message, else no message and
/// `grpc-status: 3` with the reason, so a proxy that damaged the request shows in the counts.
pub fn answer(body: &[u8]) -> Response<ResponseBody> {
    let (data, status, reason) = match unframe(body) {
        Ok(_) => (frame(RESPONSE_MESSAGE), OK, None),
        Err(why) => (Bytes::new(), INVALID_ARGUMENT, Some(why)),
    };
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static(status));
    if let Some(message) = reason.and_then(|r| HeaderValue::try_from(r).ok()) {
        trailers.insert("grpc-message", message);
    }
    let mut resp =
        Response::new(Full::new(data).with_trailers(std::future::ready(Some(Ok(trailers)))));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    resp
}

/// One unary call over h2c on a new connection, checked end to end: status 200, gRPC's
/// content type, the upstream's message, `grpc-status: 0` in the trailers. The readiness
/// check of a gRPC entry point and the proof that its proxies pass trailers; the load itself
/// is h2load's.
pub async fn call(target: SocketAddr) -> anyhow::Result<()> {
    let mut sender = h2c_connect(target).await?;
    let req = Request::post(format!("http://{target}{PATH}"))
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .header(header::TE, "trailers")
        .body(Full::new(frame(REQUEST_MESSAGE)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    let collected = resp.into_body().collect().await?;
    let trailers = collected.trailers().cloned().unwrap_or_default();
    let body = collected.to_bytes();
    check_reply(status, content_type.as_ref(), &body, &trailers)
}

/// A header's value as text, "none" when absent or not text.
fn text(v: Option<&HeaderValue>) -> &str {
    v.and_then(|v| v.to_str().ok()).unwrap_or("none")
}

/// What [`call`] requires of a reply.
fn check_reply(
    status: http::StatusCode,
    content_type: Option<&HeaderValue>,
    body: &[u8],
    trailers: &HeaderMap,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        status == http::StatusCode::OK,
        "gRPC call: HTTP status {status}: {}",
        String::from_utf8_lossy(body)
    );
    let grpc_status = text(trailers.get("grpc-status"));
    anyhow::ensure!(
        grpc_status == OK,
        "gRPC call: grpc-status {grpc_status} ({})",
        text(trailers.get("grpc-message"))
    );
    anyhow::ensure!(
        text(content_type) == CONTENT_TYPE,
        "gRPC call: content-type {}",
        text(content_type)
    );
    let message = unframe(body).map_err(|e| anyhow::anyhow!("gRPC call: reply body: {e}"))?;
    anyhow::ensure!(
        message == RESPONSE_MESSAGE,
        "gRPC call: the reply's message is not the upstream's"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_their_prefix() {
        let framed = frame(REQUEST_MESSAGE);
        assert_eq!((REQUEST_MESSAGE.len(), RESPONSE_MESSAGE.len()), (64, 64));
        assert_eq!(framed.len(), PREFIX + REQUEST_MESSAGE.len());
        assert_eq!(&framed[..PREFIX], &[0, 0, 0, 0, 64]);
        assert_eq!(unframe(&framed), Ok(REQUEST_MESSAGE));
        assert!(unframe(&framed[..3]).is_err());
        assert!(unframe(&framed[..framed.len() - 1]).is_err());
        let mut compressed = framed.to_vec();
        compressed[0] = 1;
        assert!(unframe(&compressed).is_err());
    }

    #[test]
    fn grpc_is_recognised_by_its_content_type() {
        let with = |ct: &str| {
            let req = Request::post(PATH)
                .header(header::CONTENT_TYPE, ct)
                .body(())
                .unwrap_or_default();
            is_grpc(&req)
        };
        assert!(with("application/grpc"));
        assert!(with("application/grpc+proto"));
        assert!(!with("application/grpcx"));
        assert!(!with("text/plain"));
        assert!(!is_grpc(&Request::new(())));
    }

    #[tokio::test]
    async fn the_upstream_answers_a_message_and_refuses_a_broken_one() {
        let trailers_of = |resp: Response<ResponseBody>| async {
            let c = resp.into_body().collect().await.unwrap_or_default();
            (c.trailers().cloned().unwrap_or_default(), c.to_bytes())
        };
        let ok = answer(&frame(REQUEST_MESSAGE));
        let ct = ok.headers().get(header::CONTENT_TYPE).cloned();
        let (trailers, body) = trailers_of(ok).await;
        assert!(check_reply(http::StatusCode::OK, ct.as_ref(), &body, &trailers).is_ok());
        let (trailers, body) = trailers_of(answer(b"\0\0")).await;
        assert_eq!(
            trailers.get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"3"[..])
        );
        assert!(body.is_empty());
        let err = check_reply(http::StatusCode::OK, ct.as_ref(), &body, &trailers)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("grpc-status 3"), "{err}");
        assert!(err.contains("shorter than a message's prefix"), "{err}");
    }
}
