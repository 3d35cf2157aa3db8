//! The WebSocket echo endpoint (an RFC 6455 upgrade of HTTP/1.1) and its
//! client helper.

use std::net::SocketAddr;

use futures::{SinkExt, StreamExt};
use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{WebSocketStream, client_async};
use tracing::{Instrument, Span, debug};

use crate::AppError;
use crate::error::with_timeout;
use crate::http::{BoxBody, text};
use crate::listen::Shutdown;

/// The only WebSocket protocol version (RFC 6455).
const WEBSOCKET_VERSION: &str = "13";

/// Answers a WebSocket upgrade request with 101 and echoes every text and
/// binary message on the upgraded connection, until the peer closes it or
/// the server is dropped.
pub(crate) fn accept(mut req: Request<Incoming>, shutdown: Shutdown) -> Response<BoxBody> {
    let Some(accept_key) = handshake_accept_key(req.version(), req.headers()) else {
        return text(
            StatusCode::BAD_REQUEST,
            "expected an HTTP/1.1 websocket upgrade\n",
        );
    };
    let Ok(accept_key) = HeaderValue::from_str(&accept_key) else {
        return text(StatusCode::INTERNAL_SERVER_ERROR, "bad accept key\n");
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    let session = async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io = TokioIo::new(upgraded);
                echo(WebSocketStream::from_raw_socket(io, Role::Server, None).await).await;
            }
            Err(error) => debug!(%error, "websocket upgrade failed"),
        }
    };
    tokio::spawn(shutdown.run_until(session).instrument(Span::current()));

    let mut response = text(StatusCode::SWITCHING_PROTOCOLS, "");
    let headers = response.headers_mut();
    headers.remove(http::header::CONTENT_TYPE);
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept_key);
    response
}

/// The `Sec-WebSocket-Accept` value for a valid upgrade request, or `None`
/// if the request is not one.
fn handshake_accept_key(version: Version, headers: &HeaderMap) -> Option<String> {
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let valid = version == Version::HTTP_11
        && has_token(CONNECTION, "upgrade")
        && has_token(UPGRADE, "websocket")
        && headers
            .get(SEC_WEBSOCKET_VERSION)
            .is_some_and(|v| v == WEBSOCKET_VERSION);
    let key = headers.get(SEC_WEBSOCKET_KEY)?;
    valid.then(|| derive_accept_key(key.as_bytes()))
}

async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut ws: WebSocketStream<S>) {
    // Pings and the closing handshake are answered by tungstenite itself
    // while the stream is read.
    while let Some(message) = ws.next().await {
        let result = match message {
            Ok(message @ (Message::Text(_) | Message::Binary(_))) => ws.send(message).await,
            Ok(_) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            debug!(%error, "websocket echo ended");
            return;
        }
    }
}

/// Opens a WebSocket to `ws://{addr}{path}`, sends each of `messages` as a
/// text message, waits for its echo, and returns the echoes in order.
pub async fn websocket_echo(
    addr: SocketAddr,
    path: &str,
    messages: &[&str],
) -> Result<Vec<String>, AppError> {
    with_timeout(addr, async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| AppError::Connect { addr, source })?;
        let (mut ws, _response) = client_async(format!("ws://{addr}{path}"), stream)
            .await
            .map_err(|e| ws_error(addr, e))?;
        let mut echoes = Vec::with_capacity(messages.len());
        for message in messages {
            ws.send(Message::text(*message))
                .await
                .map_err(|e| ws_error(addr, e))?;
            echoes.push(next_data(addr, &mut ws, echoes.len(), messages.len()).await?);
        }
        if let Err(error) = ws.close(None).await {
            debug!(%addr, %error, "websocket close failed");
        }
        Ok(echoes)
    })
    .await
}

/// The next text or binary message, skipping control frames.
async fn next_data(
    addr: SocketAddr,
    ws: &mut WebSocketStream<TcpStream>,
    received: usize,
    expected: usize,
) -> Result<String, AppError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(Message::Binary(data))) => {
                return Ok(String::from_utf8_lossy(&data).into_owned());
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(ws_error(addr, error)),
            None => {
                let detail = format!("websocket closed after {received} of {expected} echoes");
                return Err(AppError::unexpected(addr, detail));
            }
        }
    }
}

fn ws_error(addr: SocketAddr, source: tungstenite::Error) -> AppError {
    AppError::WebSocket {
        addr,
        source: Box::new(source),
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, HeaderValue, Version};

    use super::{handshake_accept_key, websocket_echo};
    use crate::http_get;
    use crate::testing::{api_v2, http};

    #[tokio::test]
    async fn echoes_every_message_in_order() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        let echoes = websocket_echo(addr, "/ws", &["one", "two", "three"])
            .await
            .expect("echo");
        assert_eq!(echoes, ["one", "two", "three"]);
    }

    #[tokio::test]
    async fn plain_get_of_ws_is_refused() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        for http2 in [false, true] {
            let (status, _, _) = http_get(addr, "/ws", http2).await.expect("get");
            assert_eq!(status, 400);
        }
    }

    #[tokio::test]
    async fn upgrade_elsewhere_fails() {
        let (addr, _reporter, _server) = http(api_v2()).await;
        assert!(websocket_echo(addr, "/", &["x"]).await.is_err());
    }

    type Edit = dyn Fn(&mut HeaderMap);

    #[test]
    fn accept_key_follows_rfc_6455() {
        let upgrade = |edit: &Edit| {
            let mut headers = HeaderMap::new();
            headers.insert(
                "connection",
                HeaderValue::from_static("keep-alive, Upgrade"),
            );
            headers.insert("upgrade", HeaderValue::from_static("WebSocket"));
            headers.insert("sec-websocket-version", HeaderValue::from_static("13"));
            headers.insert(
                "sec-websocket-key",
                HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
            );
            edit(&mut headers);
            headers
        };
        // The example of RFC 6455 section 1.3.
        let accept = Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned());
        assert_eq!(
            handshake_accept_key(Version::HTTP_11, &upgrade(&|_| {})),
            accept
        );
        assert_eq!(
            handshake_accept_key(Version::HTTP_2, &upgrade(&|_| {})),
            None
        );
        let cases: [(&str, &Edit); 4] = [
            ("no connection", &|h| drop(h.remove("connection"))),
            ("no upgrade", &|h| drop(h.remove("upgrade"))),
            ("no key", &|h| drop(h.remove("sec-websocket-key"))),
            ("old version", &|h| {
                h.insert("sec-websocket-version", HeaderValue::from_static("8"));
            }),
        ];
        for (name, edit) in cases {
            assert_eq!(
                handshake_accept_key(Version::HTTP_11, &upgrade(edit)),
                None,
                "{name}"
            );
        }
    }
}
