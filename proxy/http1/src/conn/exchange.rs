//! One request and its response, driven together: the request body is fed to the service while
//! the response is streamed out, so neither side waits on the other.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http::{Request, StatusCode};
use http_body::Frame;
use tokio::sync::oneshot;

use super::{BoxError, Conn, Error};
use crate::Upgraded;
use crate::body::{Body, BodyError, Sender};
use crate::decode::{Decoded, Decoder};
use crate::head::Head;
use crate::io::Io;
use crate::response::{BodyHint, RequestInfo, encode_head, encode_refusal};
use crate::upgrade::OnUpgrade;
use crate::write::{Encoder, WriteBuf};

/// The interim response that tells a client waiting on `Expect: 100-continue` to send its body.
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the connection does after an exchange.
pub(super) enum End {
    KeepAlive,
    Close,
    /// The response switched protocols: hand the connection over.
    Upgrade(oneshot::Sender<Upgraded>),
}

pub(super) struct Exchange<F, B> {
    info: RequestInfo,
    pump: Option<Pump>,
    /// The request body was cut short or malformed: the connection cannot carry another
    /// request, whatever the response says.
    body_failed: bool,
    upgrade: Option<oneshot::Sender<Upgraded>>,
    state: State<F, B>,
    wbuf: WriteBuf,
    keep_alive: bool,
    switching: bool,
}

enum State<F, B> {
    Waiting(Pin<Box<F>>),
    Streaming {
        body: B,
        encoder: Encoder,
    },
    /// Everything is queued; write it out and flush.
    Flushing,
    Done,
}

/// Feeds the request body from the connection to the service, one frame at a time.
struct Pump {
    decoder: Decoder,
    /// `None` once the service dropped the body: the rest is only drained, if it is buffered.
    sender: Option<Sender>,
    expect_continue: bool,
}

enum PumpStep {
    Progress,
    Done,
    /// The body cannot be completed (the client closed, or sent a malformed chunk).
    Failed(Option<Error>),
}

impl<F, B, E> Exchange<F, B>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    E: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    /// Builds the request of `head` and hands it to `call`.
    pub(super) fn new(head: Head, drained: bool, call: impl FnOnce(Request<Body>) -> F) -> Self {
        let Head {
            method,
            uri,
            version,
            headers,
            body,
            keep_alive,
            expect_continue,
            wants_upgrade,
        } = head;
        let mut info = RequestInfo::new(&method, version, wants_upgrade);
        info.keep_alive = keep_alive && !drained;
        let (body, pump) = match body {
            None => (Body::empty(), None),
            Some(decoder) => {
                let length = match decoder {
                    Decoder::Length(n) => Some(n),
                    Decoder::Chunked(_) => None,
                };
                let (sender, body) = Body::channel(length);
                let pump = Pump {
                    decoder,
                    sender: Some(sender),
                    expect_continue,
                };
                (body, Some(pump))
            }
        };
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.version_mut() = version;
        *req.headers_mut() = headers;
        let upgrade = wants_upgrade.then(|| {
            let (tx, on) = OnUpgrade::pair();
            req.extensions_mut().insert(on);
            tx
        });
        Self {
            info,
            pump,
            body_failed: false,
            upgrade,
            state: State::Waiting(Box::pin(call(req))),
            wbuf: WriteBuf::default(),
            keep_alive: false,
            switching: false,
        }
    }

    /// Whether the request has no body to read.
    pub(super) fn reads_nothing(&self) -> bool {
        self.pump.is_none()
    }

    /// Drives the exchange until the response is written (and flushed).
    pub(super) fn poll<I: Io, D: Future<Output = ()>>(
        &mut self,
        conn: &mut Conn<'_, I, D>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<End, Error>> {
        conn.poll_drain(cx);
        loop {
            let mut progress = self.poll_request_body(conn, cx);
            if !self.wbuf.is_empty() {
                match self.wbuf.poll_write(&mut conn.io, cx) {
                    Poll::Ready(Ok(())) => progress = true,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e.into())),
                    Poll::Pending => {}
                }
            }
            progress |= self.poll_response(conn, cx)?;
            if matches!(self.state, State::Done) {
                return Poll::Ready(Ok(self.end(conn)));
            }
            if !progress {
                return Poll::Pending;
            }
        }
    }

    fn poll_request_body<I: Io, D>(
        &mut self,
        conn: &mut Conn<'_, I, D>,
        cx: &mut Context<'_>,
    ) -> bool {
        let Some(pump) = &mut self.pump else {
            return false;
        };
        let responding = !matches!(self.state, State::Waiting(_));
        match pump.poll(conn, &mut self.wbuf, responding, cx) {
            Poll::Pending => false,
            Poll::Ready(PumpStep::Progress) => true,
            Poll::Ready(PumpStep::Done) => {
                self.pump = None;
                true
            }
            Poll::Ready(PumpStep::Failed(e)) => {
                if let Some(e) = e {
                    tracing::debug!(error = %e, "request body failed");
                }
                self.pump = None;
                self.body_failed = true;
                true
            }
        }
    }

    /// Advances the response as far as it goes without writing, so the head and the first
    /// body frame (often the whole body) leave in one write; `Ok(true)` when something moved.
    fn poll_response<I: Io, D>(
        &mut self,
        conn: &mut Conn<'_, I, D>,
        cx: &mut Context<'_>,
    ) -> Result<bool, Error> {
        let mut progress = false;
        while self.step_response(conn, cx)? {
            progress = true;
        }
        Ok(progress)
    }

    fn step_response<I: Io, D>(
        &mut self,
        conn: &mut Conn<'_, I, D>,
        cx: &mut Context<'_>,
    ) -> Result<bool, Error> {
        match &mut self.state {
            State::Waiting(fut) => {
                let Poll::Ready(result) = fut.as_mut().poll(cx) else {
                    return Ok(false);
                };
                let resp = result.map_err(|e| Error::Service(e.into()))?;
                self.start(resp, conn.drained);
                Ok(true)
            }
            State::Streaming { body, encoder } => {
                if !self.wbuf.can_stage() {
                    return Ok(false);
                }
                match Pin::new(&mut *body).poll_frame(cx) {
                    Poll::Ready(Some(Ok(frame))) => {
                        let last = body.is_end_stream();
                        match frame.into_data() {
                            Ok(data) => encoder.data(data, last, &mut self.wbuf)?,
                            Err(frame) => {
                                if let Ok(trailers) = frame.into_trailers() {
                                    encoder.trailers(&trailers, &mut self.wbuf);
                                }
                            }
                        }
                        if last {
                            self.state = State::Flushing;
                        }
                        Ok(true)
                    }
                    Poll::Ready(Some(Err(e))) => Err(Error::ResponseBody(e.into())),
                    Poll::Ready(None) => {
                        encoder.finish(&mut self.wbuf)?;
                        self.state = State::Flushing;
                        Ok(true)
                    }
                    Poll::Pending => {
                        // Nothing more for now: what went to the stream must reach the client.
                        if self.wbuf.is_empty()
                            && let Poll::Ready(Err(e)) = self.wbuf.poll_flush(&mut conn.io, cx)
                        {
                            return Err(e.into());
                        }
                        Ok(false)
                    }
                }
            }
            State::Flushing => {
                if !self.wbuf.is_empty() {
                    return Ok(false);
                }
                match self.wbuf.poll_flush(&mut conn.io, cx) {
                    Poll::Ready(Ok(())) => {
                        self.state = State::Done;
                        Ok(true)
                    }
                    Poll::Ready(Err(e)) => Err(e.into()),
                    Poll::Pending => Ok(false),
                }
            }
            State::Done => Ok(false),
        }
    }

    /// Writes the response head and decides how its body goes.
    fn start(&mut self, resp: http::Response<B>, drained: bool) {
        let (parts, body) = resp.into_parts();
        self.info.keep_alive &= !drained;
        let Some(staging) = self.wbuf.staging() else {
            // Only `100 Continue` can be queued before a head, and it is staged, not a frame.
            self.state = State::Done;
            return;
        };
        let status = parts.status;
        let switches = status == StatusCode::SWITCHING_PROTOCOLS && self.info.wants_upgrade;
        if status.is_informational() && !switches {
            // One response per request: an interim status cannot be the answer (as hyper).
            tracing::debug!(%status, "service answered with an interim status");
            encode_refusal(StatusCode::INTERNAL_SERVER_ERROR, staging);
            self.state = State::Flushing;
            return;
        }
        let hint = BodyHint {
            end_stream: body.is_end_stream(),
            exact: body.size_hint().exact(),
        };
        let encoded = encode_head(status, &parts.headers, hint, &self.info, staging);
        self.keep_alive = encoded.keep_alive;
        self.switching = encoded.upgrade;
        self.state = match encoded.encoder {
            Encoder::Empty | Encoder::Length(0) => State::Flushing,
            encoder => State::Streaming { body, encoder },
        };
    }

    fn end<I: Io, D>(&mut self, conn: &mut Conn<'_, I, D>) -> End {
        if self.switching {
            return match self.upgrade.take() {
                Some(tx) => End::Upgrade(tx),
                None => End::Close,
            };
        }
        if let Some(mut pump) = self.pump.take() {
            // The response is out before the request body was read whole (an early answer,
            // or a body the service dropped): what is buffered may finish it; if not, the
            // connection cannot find the next request.
            if !pump.drain_buffered(conn.rbuf.get_mut()) {
                self.body_failed = true;
            }
        }
        if self.keep_alive && !self.body_failed && !conn.drained {
            End::KeepAlive
        } else {
            End::Close
        }
    }
}

impl Pump {
    fn poll<I: Io, D>(
        &mut self,
        conn: &mut Conn<'_, I, D>,
        wbuf: &mut WriteBuf,
        responding: bool,
        cx: &mut Context<'_>,
    ) -> Poll<PumpStep> {
        let Some(sender) = &mut self.sender else {
            return Poll::Pending;
        };
        // A client that sent `Expect: 100-continue` waits for the go-ahead, which goes out when
        // the service first asks for the body (and not at all once the response started).
        let await_demand = self.expect_continue && !responding;
        match sender.poll_ready(cx, await_demand) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(())) => {
                self.sender = None;
                return Poll::Ready(PumpStep::Progress);
            }
            Poll::Ready(Ok(_)) => {}
        }
        if std::mem::take(&mut self.expect_continue)
            && !responding
            && let Some(staging) = wbuf.staging()
        {
            staging.extend_from_slice(CONTINUE);
        }
        match self.decoder.decode(conn.rbuf.get_mut()) {
            Ok(Decoded::Data(data)) => sender.send(Frame::data(data)),
            Ok(Decoded::Trailers(trailers)) => sender.send(Frame::trailers(trailers)),
            Ok(Decoded::End) => {
                sender.finish();
                return Poll::Ready(PumpStep::Done);
            }
            Ok(Decoded::NeedMore) => match conn.rbuf.poll_fill(&mut conn.io, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    sender.abort(BodyError::Incomplete);
                    return Poll::Ready(PumpStep::Failed(None));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    sender.abort(BodyError::Io);
                    return Poll::Ready(PumpStep::Failed(Some(e.into())));
                }
            },
            Err(e) => {
                sender.abort(BodyError::Malformed(e.0));
                return Poll::Ready(PumpStep::Failed(Some(Error::RequestBody(e.0))));
            }
        }
        Poll::Ready(PumpStep::Progress)
    }

    /// Reads the rest of the body out of what is buffered, discarding it; `true` when it
    /// ended there.
    fn drain_buffered(&mut self, buf: &mut BytesMut) -> bool {
        loop {
            match self.decoder.decode(buf) {
                Ok(Decoded::Data(_) | Decoded::Trailers(_)) => {}
                Ok(Decoded::End) => {
                    if let Some(sender) = &mut self.sender {
                        sender.finish();
                    }
                    return true;
                }
                Ok(Decoded::NeedMore) | Err(_) => return false,
            }
        }
    }
}
