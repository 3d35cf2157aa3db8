//! The proxy's HTTP/1.1, both sides, without a task or a buffer per idle connection.
//!
//! [`serve`] is the downstream server: one task per connection that parses requests with
//! `httparse` into a buffer held only while a request is being read, streams bodies both ways,
//! and writes responses with vectored writes. An idle keep-alive connection holds no buffer at
//! all: it waits for readability (see [`Io::poll_read_ready`]) and takes a read buffer only once
//! bytes arrive. A connection that opens with the HTTP/2 preface is handed back to the caller (to
//! serve it with an HTTP/2 server); a request that switches protocols hands its connection to
//! the service through [`OnUpgrade`].
//!
//! [`client`] is the upstream side: a pooled connection is driven by the task of the request
//! that borrowed it (no connection task, no channels), and holds only its socket while idle.

mod body;
pub mod client;
mod conn;
mod date;
mod decode;
mod head;
mod io;
mod read;
mod response;
mod upgrade;
mod write;

pub use body::{Body, BodyError};
pub use conn::{Error, Outcome, serve};
pub use date::header_value as date_header;
pub use head::HeadError;
pub use io::{Io, Rewind};
pub use upgrade::{OnUpgrade, UpgradeError, Upgraded};
pub use write::LengthError;

/// The largest request head (request line and header fields) a connection reads; a larger one
/// is answered 431. Envoy's `max_request_headers_kb` defaults to 60 KiB; hyper allows about
/// 400 KiB. A round 64 KiB keeps a slow or hostile client from pinning more per connection.
pub const DEFAULT_MAX_HEAD_BYTES: usize = 64 * 1024;
/// The most header fields in one request head (or trailer section); more is answered 431.
/// The same as hyper's and Envoy's defaults.
pub const MAX_HEADERS: usize = 100;

/// How a connection serves requests.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// The largest request head, and the largest trailer section of a chunked request body.
    pub max_head_bytes: usize,
}

/// Runs untrusted bytes through the request-head parser and the body decoders, as the fuzz
/// target `http1_request` does: any input must end in a value or an error, never a panic.
#[doc(hidden)]
pub fn fuzz_request(data: &[u8]) {
    use decode::{Decoded, Decoder};
    let Some((&mode, data)) = data.split_first() else {
        return;
    };
    let mut buf = bytes::BytesMut::from(data);
    let decoder = match mode % 3 {
        0 => match head::parse(&mut buf, DEFAULT_MAX_HEAD_BYTES) {
            Ok(Some(head)) => head.body,
            _ => None,
        },
        1 => Some(Decoder::chunked(DEFAULT_MAX_HEAD_BYTES)),
        _ => Some(Decoder::Length(u64::from(mode))),
    };
    if let Some(mut decoder) = decoder {
        while let Ok(Decoded::Data(_) | Decoded::Trailers(_)) = decoder.decode(&mut buf) {}
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_head_bytes: DEFAULT_MAX_HEAD_BYTES,
        }
    }
}
