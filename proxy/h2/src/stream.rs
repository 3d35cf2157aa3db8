//! One stream: its request's future raced against the client's reset, then the response's
//! head and body written to the stream as the client's window allows.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

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

pin_project_lite::pin_project! {
    /// Serves one stream: waits for the service's response (dropping it when the client resets
    /// the stream), then sends it. The service's and the body's errors come boxed (see
    /// [`Boxed`]).
    ///
    /// A future of its own rather than an `async fn`: the compiler's state machine kept the
    /// response, its body and the piping's arguments each in two places (1.7 KB a stream,
    /// `-Zprint-type-sizes`); this one holds the response's future, then the body and its
    /// stream, in one slot.
    pub(crate) struct Respond<F, B> {
        #[pin]
        state: RespondState<F, B>,
        reply: SendResponse<Bytes>,
    }
}

pin_project_lite::pin_project! {
    #[project = RespondProj]
    enum RespondState<F, B> {
        Waiting { #[pin] response: F },
        Sending { #[pin] pipe: Pipe<B> },
        Done,
    }
}

impl<F, B> Respond<F, B> {
    pub(crate) fn new(response: F, reply: SendResponse<Bytes>) -> Self {
        Self {
            state: RespondState::Waiting { response },
            reply,
        }
    }
}

impl<F, B> Future for Respond<F, B>
where
    F: Future<Output = Result<Response<B>, BoxError>>,
    B: http_body::Body<Data = Bytes, Error = BoxError>,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut me = self.project();
        loop {
            match me.state.as_mut().project() {
                RespondProj::Waiting { response } => {
                    let resp = match response.poll(cx) {
                        Poll::Ready(Ok(resp)) => resp,
                        Poll::Ready(Err(e)) => {
                            tracing::debug!(error = %e, "http/2 service failed");
                            me.reply.send_reset(Reason::INTERNAL_ERROR);
                            me.state.set(RespondState::Done);
                            return Poll::Ready(());
                        }
                        Poll::Pending => {
                            // The client reset the stream (or the connection is gone): nobody
                            // wants the response.
                            ready!(me.reply.poll_reset(cx)).ok();
                            tracing::debug!(
                                "http/2 stream reset by the client before its response"
                            );
                            me.state.set(RespondState::Done);
                            return Poll::Ready(());
                        }
                    };
                    let (mut parts, body) = resp.into_parts();
                    prepare(&mut parts.headers, &body);
                    let end = body.is_end_stream();
                    match me.reply.send_response(Response::from_parts(parts, ()), end) {
                        Ok(tx) if !end => me.state.set(RespondState::Sending {
                            pipe: pipe(body, tx, None),
                        }),
                        Ok(_) => {
                            me.state.set(RespondState::Done);
                            return Poll::Ready(());
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "http/2 response not sent");
                            me.reply.send_reset(Reason::INTERNAL_ERROR);
                            me.state.set(RespondState::Done);
                            return Poll::Ready(());
                        }
                    }
                }
                RespondProj::Sending { pipe } => {
                    if let Err(e) = ready!(pipe.poll(cx)) {
                        tracing::debug!(error = %e, "http/2 response body not sent whole");
                    }
                    me.state.set(RespondState::Done);
                    return Poll::Ready(());
                }
                RespondProj::Done => return Poll::Ready(()),
            }
        }
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
pub(crate) fn pipe<B>(body: B, tx: SendStream<Bytes>, first: Option<NextFrame>) -> Pipe<B> {
    Pipe {
        body,
        tx,
        first,
        waiting: None,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`pipe`].
    pub(crate) struct Pipe<B> {
        #[pin]
        body: B,
        tx: SendStream<Bytes>,
        first: Option<NextFrame>,
        // A chunk waiting for the peer's window (capacity reserved), not the body's last.
        waiting: Option<Bytes>,
    }
}

impl<B> Future for Pipe<B>
where
    B: http_body::Body<Data = Bytes, Error = BoxError>,
{
    type Output = Result<(), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut me = self.project();
        loop {
            if let Some(data) = me.waiting.take() {
                // Not buffered faster than the peer takes it: the chunk waits until the stream
                // may send at least one byte.
                while me.tx.capacity() == 0 {
                    match me.tx.poll_capacity(cx) {
                        Poll::Ready(Some(Ok(_))) => {}
                        Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e.into())),
                        Poll::Ready(None) => {
                            return Poll::Ready(Err(
                                "the stream closed while waiting to send".into()
                            ));
                        }
                        Poll::Pending => {
                            *me.waiting = Some(data);
                            return Poll::Pending;
                        }
                    }
                }
                me.tx.send_data(data, false)?;
            }
            let frame = match me.first.take() {
                Some(frame) => frame,
                None => {
                    if let Poll::Ready(reason) = me.tx.poll_reset(cx) {
                        let reason = reason.map_err(BoxError::from)?;
                        return Poll::Ready(Err(BoxError::from(h2::Error::from(reason))));
                    }
                    ready!(me.body.as_mut().poll_frame(cx))
                }
            };
            let frame = match frame {
                None => return Poll::Ready(Ok(me.tx.send_data(Bytes::new(), true)?)),
                Some(Err(e)) => {
                    me.tx.send_reset(Reason::INTERNAL_ERROR);
                    return Poll::Ready(Err(e));
                }
                Some(Ok(frame)) => frame,
            };
            match frame.into_data() {
                Ok(data) => {
                    let end = me.body.is_end_stream();
                    // The last chunk is queued without waiting: nothing is read from the body
                    // after it, so nothing more is buffered, and `h2` asks for the window it
                    // needs itself. Waiting would cost two more trips through `h2`'s stream
                    // store (a response's one chunk, mostly): 2 % of an h2c request's
                    // instructions.
                    if end || data.is_empty() {
                        me.tx.send_data(data, end)?;
                        if end {
                            return Poll::Ready(Ok(()));
                        }
                    } else {
                        me.tx.reserve_capacity(1);
                        *me.waiting = Some(data);
                    }
                }
                Err(frame) => {
                    if let Ok(trailers) = frame.into_trailers() {
                        me.tx.send_trailers(trailers)?;
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
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

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
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
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
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

#[cfg(test)]
mod tests {
    use super::*;

    use http_body_util::Full;

    /// A response of the service's, as [`crate::serve`] gets it.
    type Ready = std::future::Ready<Result<Response<Boxed<Full<Bytes>>>, BoxError>>;

    #[test]
    fn a_streams_future_holds_its_state_once() {
        // The response's future, then the body with its stream, in one slot, beside the
        // stream's handle: no copy of either kept beside it, as an `async fn` kept them.
        let pipe = size_of::<Pipe<Boxed<Full<Bytes>>>>();
        let parts = size_of::<Boxed<Full<Bytes>>>()
            + size_of::<SendStream<Bytes>>()
            + size_of::<Option<NextFrame>>()
            + size_of::<Option<Bytes>>();
        assert!(pipe <= parts, "{pipe} > {parts}");
        let respond = size_of::<Respond<Ready, Boxed<Full<Bytes>>>>();
        let slot = size_of::<Ready>().max(pipe) + size_of::<usize>();
        assert!(
            respond <= slot + size_of::<SendResponse<Bytes>>(),
            "{respond} > {slot} + the stream's handle"
        );
    }
}
