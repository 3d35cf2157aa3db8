//! The `Date` header value, formatted once per second per thread.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `Sun, 06 Nov 1994 08:49:37 GMT`: IMF-fixdate is always this long.
const DATE_LEN: usize = 29;

struct Cached {
    second: u64,
    text: [u8; DATE_LEN],
}

thread_local! {
    static CACHED: RefCell<Cached> = const {
        RefCell::new(Cached {
            second: u64::MAX,
            text: [0; DATE_LEN],
        })
    };
}

/// Appends the current date in IMF-fixdate form.
pub(crate) fn extend(dst: &mut Vec<u8>) {
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    CACHED.with_borrow_mut(|c| {
        if c.second != second {
            let text = httpdate::fmt_http_date(now);
            if text.len() == DATE_LEN {
                c.text.copy_from_slice(text.as_bytes());
                c.second = second;
            } else {
                dst.extend_from_slice(text.as_bytes());
                return;
            }
        }
        dst.extend_from_slice(&c.text);
    });
}

/// The current date as a header value, for the responses of another server (HTTP/2).
pub fn header_value() -> http::HeaderValue {
    let mut text = Vec::with_capacity(DATE_LEN);
    extend(&mut text);
    // IMF-fixdate is visible ASCII.
    http::HeaderValue::from_bytes(&text).unwrap_or_else(|_| http::HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_an_http_date() {
        let mut out = Vec::new();
        extend(&mut out);
        let text = std::str::from_utf8(&out).unwrap();
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
        let mut again = Vec::new();
        extend(&mut again);
        assert_eq!(again.len(), DATE_LEN);
    }

    #[test]
    fn the_header_value_is_the_same_date() {
        let value = header_value();
        let text = value.to_str().unwrap();
        assert!(httpdate::parse_http_date(text).is_ok(), "{text}");
    }
}
