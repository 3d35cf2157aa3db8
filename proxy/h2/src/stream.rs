//! One stream: its request's future raced against the client's reset, then the response's
//! head and body written to the stream as the client's window allows.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::task::{Poll, ready};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, SendStream};
use http::header::{self, HeaderMap, HeaderName};
use http::{HeaderValue, Response};
use http_body::{Body as _, Frame};

use crate::BoxError;

/// Header fields HTTP/2 forbids (RFC 9113, section 8.2.2): `h2` refuses a response with any
/// of them, so they are removed, with those `connection` names.
const CONNECTION_SPECIFIC: [HeaderName; 4] = [
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Serves one stream: waits for the service's response (dropping it when the client resets
/// the stream), then sends it.
///
/// The service's and the body's errors come boxed (see [`Boxed`]).
pub(crate) async fn respond<F, B>(response: F, mut reply: SendResponse<Bytes>)
where
    F: Future<Output = Result<Response<B>, BoxError>>,
    B: http_body::Body<Data = Bytes, Error = BoxError>,
{
    let mut response = pin!(response);
    let outcome = poll_fn(|cx| {
        if let Poll::Ready(r) = response.as_mut().poll(cx) {
            return Poll::Ready(Some(r));
        }
        // The client reset the stream (or the connection is gone): nobody wants the response.
        ready!(reply.poll_reset(cx)).ok();
        Poll::Ready(None)
    })
    .await;
    let resp = match outcome {
        Some(Ok(resp)) => resp,
        Some(Err(e)) => {
            tracing::debug!(error = %e, "http/2 service failed");
            reply.send_reset(Reason::INTERNAL_ERROR);
            return;
        }
        None => {
            tracing::debug!("http/2 stream reset by the client before its response");
            return;
        }
    };
    let (mut parts, body) = resp.into_parts();
    prepare(&mut parts.headers, &body);
    let end = body.is_end_stream();
    let tx = match reply.send_response(Response::from_parts(parts, ()), end) {
        Ok(tx) => tx,
        Err(e) => {
            tracing::debug!(error = %e, "http/2 response not sent");
            reply.send_reset(Reason::INTERNAL_ERROR);
            return;
        }
    };
    if !end && let Err(e) = pipe(body, tx, None).await {
        tracing::debug!(error = %e, "http/2 response body not sent whole");
    }
}

/// The response head as HTTP/2 allows it: no connection-specific fields, a `Date`, and the
/// body's length when it is known.
fn prepare<B: http_body::Body>(headers: &mut HeaderMap, body: &B) {
    strip_connection_specific(headers);
    headers.remove(header::TE);
    headers
        .entry(header::DATE)
        .or_insert_with(rigging_proxy_http1::date_header);
    set_content_length(headers, body);
}

/// Removes the header fields HTTP/2 forbids (but `te`, which a request may carry as
/// `te: trailers`): `connection` and the fields it names, and [`CONNECTION_SPECIFIC`].
pub(crate) fn strip_connection_specific(headers: &mut HeaderMap) {
    // Most messages carry none of them (the proxy removed them already): one pass over the
    // names present costs less than a lookup of each.
    if !headers
        .keys()
        .any(|n| n == header::CONNECTION || CONNECTION_SPECIFIC.contains(n))
    {
        return;
    }
    if let Some(listed) = headers.remove(header::CONNECTION)
        && let Ok(names) = listed.to_str()
    {
        for name in names.split(',') {
            headers.remove(name.trim());
        }
    }
    for name in &CONNECTION_SPECIFIC {
        headers.remove(name);
    }
}

/// Gives a message whose body has a known length, and is not empty, its `content-length`.
pub(crate) fn set_content_length<B: http_body::Body>(headers: &mut HeaderMap, body: &B) {
    if !body.is_end_stream()
        && let Some(len) = body.size_hint().exact()
    {
        headers
            .entry(header::CONTENT_LENGTH)
            .or_insert_with(|| HeaderValue::from(len));
    }
}

/// A body's next frame as [`http_body::Body::poll_frame`] gives it: `None` at its end.
pub(crate) type NextFrame = Option<Result<Frame<Bytes>, BoxError>>;

/// Sends `body` on `tx`, starting with `first` when the caller already took the body's first
/// frame: each chunk once the peer's window has room for some of it (the last one at once;
/// `h2` splits them into frames as the window opens), then the trailers or the end of the
/// stream. A failing body resets the stream, so the client does not take a truncated body for
/// whole.
pub(crate) async fn pipe<B>(
    body: B,
    mut tx: SendStream<Bytes>,
    mut first: Option<NextFrame>,
) -> Result<(), BoxError>
where
    B: http_body::Body<Data = Bytes, Error = BoxError>,
{
    let mut body = pin!(body);
    loop {
        let frame = match first.take() {
            Some(frame) => frame,
            None => {
                poll_fn(|cx| {
                    if let Poll::Ready(reason) = tx.poll_reset(cx) {
                        let reason = reason.map_err(BoxError::from)?;
                        return Poll::Ready(Err(BoxError::from(h2::Error::from(reason))));
                    }
                    body.as_mut().poll_frame(cx).map(Ok)
                })
                .await?
            }
        };
        let frame = match frame {
            None => return Ok(tx.send_data(Bytes::new(), true)?),
            Some(Err(e)) => {
                tx.send_reset(Reason::INTERNAL_ERROR);
                return Err(e);
            }
            Some(Ok(frame)) => frame,
        };
        let frame = match frame.into_data() {
            Ok(data) => {
                let end = body.is_end_stream();
                // The last chunk is queued without waiting: nothing is read from the body after
                // it, so nothing more is buffered, and `h2` asks for the window it needs
                // itself. Waiting would cost two more trips through `h2`'s stream store (a
                // response's one chunk, mostly): 2 % of an h2c request's instructions.
                if !end && !data.is_empty() {
                    wait_for_window(&mut tx).await?;
                }
                tx.send_data(data, end)?;
                if end {
                    return Ok(());
                }
                continue;
            }
            Err(frame) => frame,
        };
        if let Ok(trailers) = frame.into_trailers() {
            tx.send_trailers(trailers)?;
            return Ok(());
        }
    }
}

/// Waits until the stream may send at least one byte: a body is not buffered faster than the
/// peer takes it.
async fn wait_for_window(tx: &mut SendStream<Bytes>) -> Result<(), BoxError> {
    tx.reserve_capacity(1);
    while tx.capacity() == 0 {
        match poll_fn(|cx| tx.poll_capacity(cx)).await {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => return Err("the stream closed while waiting to send".into()),
        }
    }
    Ok(())
}

pin_project_lite::pin_project! {
    /// A service's future, or a response body, with its errors boxed. A type of its own rather
    /// than a `map_err(Into::into)`: that function's type, kept in the connection's future,
    /// names the error type with its lifetime erased, and a boxed error's `Into<BoxError>`
    /// then cannot be proved when the future must be `Send`.
    pub(crate) struct Boxed<T> {
        #[pin]
        inner: T,
    }
}

impl<T> Boxed<T> {
    pub(crate) fn new(inner: T) -> Self {
        Self { inner }
    }
}

impl<F, B, E> Future for Boxed<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<Boxed<B>>, BoxError>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let out = ready!(self.project().inner.poll(cx));
        Poll::Ready(out.map(|resp| resp.map(Boxed::new)).map_err(Into::into))
    }
}

impl<B> http_body::Body for Boxed<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.project().inner.poll_frame(cx).map_err(Into::into)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
