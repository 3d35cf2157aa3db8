//! A request body as the service sees it, fed frame by frame by the connection task.
//!
//! The connection reads the body from the socket only when the previous frame was taken (one
//! frame in flight), so a slow upstream slows the client down instead of filling memory. A
//! request without a body allocates nothing.

use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// The body of a request read by [`serve`](crate::serve).
#[derive(Debug)]
pub struct Body {
    inner: Option<Arc<Shared>>,
    /// Bytes still to come of a body with a `Content-Length`.
    remaining: Option<u64>,
}

/// Why a request body did not arrive whole.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error("the client closed the connection before the request body ended")]
    Incomplete,
    #[error("malformed chunked request body: {0}")]
    Malformed(&'static str),
    #[error("the connection failed while reading the request body")]
    Io,
}

/// The connection's end: puts frames in the one-frame slot.
#[derive(Debug)]
pub(crate) struct Sender {
    shared: Arc<Shared>,
    closed: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    frame: Option<Frame<Bytes>>,
    end: Option<Result<(), BodyError>>,
    /// The body was polled while empty: the service wants data (what sends `100 Continue`).
    wanted: bool,
    body_waker: Option<Waker>,
    sender_waker: Option<Waker>,
    body_dropped: bool,
}

impl Body {
    /// A body without bytes.
    pub fn empty() -> Self {
        Self {
            inner: None,
            remaining: Some(0),
        }
    }

    pub(crate) fn channel(length: Option<u64>) -> (Sender, Self) {
        let shared = Arc::new(Shared::default());
        let sender = Sender {
            shared: Arc::clone(&shared),
            closed: false,
        };
        let body = Self {
            inner: Some(shared),
            remaining: length,
        };
        (sender, body)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let Some(shared) = &this.inner else {
            return Poll::Ready(None);
        };
        let mut state = shared.lock();
        if let Some(frame) = state.frame.take() {
            if let (Some(data), Some(remaining)) = (frame.data_ref(), &mut this.remaining) {
                *remaining = remaining.saturating_sub(data.len() as u64);
            }
            let waker = state.sender_waker.take();
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Some(Ok(frame)));
        }
        match &state.end {
            Some(Ok(())) => return Poll::Ready(None),
            Some(Err(e)) => return Poll::Ready(Some(Err(e.clone()))),
            None => {}
        }
        state.body_waker = Some(cx.waker().clone());
        let newly_wanted = !std::mem::replace(&mut state.wanted, true);
        let waker = newly_wanted.then(|| state.sender_waker.take()).flatten();
        drop(state);
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            None => true,
            Some(shared) => {
                let state = shared.lock();
                state.frame.is_none() && matches!(state.end, Some(Ok(())))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self.remaining {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        if let Some(shared) = &self.inner {
            let mut state = shared.lock();
            state.body_dropped = true;
            let waker = state.sender_waker.take();
            drop(state);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl Sender {
    /// Ready when the slot is free (and, with `need_want`, once the service asked for data);
    /// `Err` when the body was dropped. The `bool` says whether the service is waiting for data.
    pub(crate) fn poll_ready(
        &mut self,
        cx: &mut Context<'_>,
        need_want: bool,
    ) -> Poll<Result<bool, ()>> {
        let mut state = self.shared.lock();
        if state.body_dropped {
            return Poll::Ready(Err(()));
        }
        if state.frame.is_none() && (state.wanted || !need_want) {
            return Poll::Ready(Ok(state.wanted));
        }
        state.sender_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Puts a frame in the slot; call only after [`poll_ready`](Self::poll_ready).
    pub(crate) fn send(&mut self, frame: Frame<Bytes>) {
        let mut state = self.shared.lock();
        debug_assert!(state.frame.is_none(), "send without poll_ready");
        state.frame = Some(frame);
        wake_body(state);
    }

    /// The body ended as its framing said.
    pub(crate) fn finish(&mut self) {
        self.close(Ok(()));
    }

    /// The body cannot be completed.
    pub(crate) fn abort(&mut self, e: BodyError) {
        self.close(Err(e));
    }

    fn close(&mut self, end: Result<(), BodyError>) {
        self.closed = true;
        let mut state = self.shared.lock();
        state.end = Some(end);
        wake_body(state);
    }
}

impl Drop for Sender {
    /// A sender dropped before the body ended (the connection failed) fails the body, so the
    /// upstream never takes a cut body for a whole one.
    fn drop(&mut self) {
        if !self.closed {
            self.close(Err(BodyError::Incomplete));
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every change to the state is a whole assignment; a panic cannot leave it half-done.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn wake_body(mut state: MutexGuard<'_, State>) {
    let waker = state.body_waker.take();
    drop(state);
    if let Some(w) = waker {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use http_body::Body as _;
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn frames_flow_one_at_a_time_and_end() {
        let (mut tx, mut body) = Body::channel(Some(5));
        assert_eq!(body.size_hint().exact(), Some(5));
        let waker = futures_noop();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(tx.poll_ready(&mut cx, false), Poll::Ready(Ok(false)));
        // With `need_want`, nothing goes until the body is polled.
        assert!(tx.poll_ready(&mut cx, true).is_pending());
        assert!(Pin::new(&mut body).poll_frame(&mut cx).is_pending());
        assert_eq!(tx.poll_ready(&mut cx, true), Poll::Ready(Ok(true)));
        tx.send(Frame::data(Bytes::from_static(b"hel")));
        assert!(
            tx.poll_ready(&mut cx, false).is_pending(),
            "one frame in flight"
        );
        let frame = body.frame().await.unwrap().unwrap();
        assert_eq!(frame.into_data().unwrap(), "hel");
        assert_eq!(body.size_hint().exact(), Some(2));
        tx.send(Frame::data(Bytes::from_static(b"lo")));
        tx.finish();
        let rest = body.collect().await.unwrap().to_bytes();
        assert_eq!(rest, "lo");
    }

    #[tokio::test]
    async fn a_dropped_sender_fails_the_body_and_a_dropped_body_is_seen() {
        let (tx, body) = Body::channel(None);
        drop(tx);
        assert!(matches!(body.collect().await, Err(BodyError::Incomplete)));

        let (mut tx, body) = Body::channel(None);
        drop(body);
        let waker = futures_noop();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(tx.poll_ready(&mut cx, false), Poll::Ready(Err(())));
    }

    #[test]
    fn the_empty_body_ends_at_once() {
        let body = Body::empty();
        assert!(body.is_end_stream());
        assert_eq!(body.size_hint().exact(), Some(0));
    }

    fn futures_noop() -> Waker {
        Waker::noop().clone()
    }
}
