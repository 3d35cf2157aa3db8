//! Arbitrary bytes as a downstream HTTP/1.1 request (head, chunked body, sized body): the
//! proxy's parser must answer with a request or an error, never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    rigging_proxy_http1::fuzz_request(data);
});
