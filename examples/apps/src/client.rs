//! The plain HTTP client helper.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;
use tracing::debug;

use crate::AppError;
use crate::error::with_timeout;

/// The longest any client helper waits for its whole exchange: long enough
/// for a loaded CI machine, short enough that a lost answer fails fast.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `GET {path}` to `addr` on a new connection, over HTTP/1.1 or, when
/// `http2`, over h2c with prior knowledge. Returns the status, the headers
/// and the body (invalid UTF-8 replaced).
pub async fn http_get(
    addr: SocketAddr,
    path: &str,
    http2: bool,
) -> Result<(u16, HeaderMap, String), AppError> {
    with_timeout(addr, async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| AppError::Connect { addr, source })?;
        let response = if http2 {
            get_h2(addr, stream, path).await?
        } else {
            get_h1(addr, stream, path).await?
        };
        let (parts, body) = response.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| http_error(addr, e))?
            .to_bytes();
        Ok((
            parts.status.as_u16(),
            parts.headers,
            String::from_utf8_lossy(&body).into_owned(),
        ))
    })
    .await
}

async fn get_h1(
    addr: SocketAddr,
    stream: TcpStream,
    path: &str,
) -> Result<Response<Incoming>, AppError> {
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| http_error(addr, e))?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            debug!(%error, "http/1.1 client connection failed");
        }
    });
    // HTTP/1.1 names the target in origin form and the authority in `Host`.
    let host = HeaderValue::from_str(&addr.to_string()).map_err(|e| http_error(addr, e))?;
    let request = Request::get(path)
        .header(HOST, host)
        .body(Empty::<Bytes>::new())
        .map_err(|e| http_error(addr, e))?;
    sender
        .send_request(request)
        .await
        .map_err(|e| http_error(addr, e))
}

async fn get_h2(
    addr: SocketAddr,
    stream: TcpStream,
    path: &str,
) -> Result<Response<Incoming>, AppError> {
    let (mut sender, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
        .await
        .map_err(|e| http_error(addr, e))?;
    tokio::spawn(async move {
        if let Err(error) = conn.await {
            debug!(%error, "h2c client connection failed");
        }
    });
    // HTTP/2 carries the authority in the `:authority` pseudo-header, taken
    // from an absolute URI.
    let request = Request::get(format!("http://{addr}{path}"))
        .body(Empty::<Bytes>::new())
        .map_err(|e| http_error(addr, e))?;
    sender
        .send_request(request)
        .await
        .map_err(|e| http_error(addr, e))
}

pub(crate) fn http_error(addr: SocketAddr, source: impl Into<crate::error::BoxError>) -> AppError {
    AppError::Http {
        addr,
        source: source.into(),
    }
}
