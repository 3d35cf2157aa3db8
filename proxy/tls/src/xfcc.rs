//! The caller's identity for the application: Envoy's `x-forwarded-client-cert` header.

use http::header::{HeaderName, HeaderValue};
use rigging_mesh_spiffe::SpiffeId;

/// `x-forwarded-client-cert`, as Envoy names it. The proxy removes it from every request it
/// forwards (a caller cannot forge it) and sets it on requests that arrived over mTLS.
pub const XFCC: HeaderName = HeaderName::from_static("x-forwarded-client-cert");

/// The header's value for a request that reached `by` (this proxy's identity) from `peer`:
/// `By=<uri>;URI=<uri>`, in Envoy's element syntax. SPIFFE IDs hold no `;`, `,` or `"`, so
/// no quoting is needed.
pub fn xfcc_value(by: Option<&SpiffeId>, peer: &SpiffeId) -> Option<HeaderValue> {
    let value = match by {
        Some(by) => format!("By={by};URI={peer}"),
        None => format!("URI={peer}"),
    };
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envoy_element_syntax() {
        let by = SpiffeId::parse("spiffe://rigging.local/ns/default/dc/dc1/svc/api").unwrap();
        let peer = SpiffeId::parse("spiffe://rigging.local/ns/default/dc/dc1/svc/web").unwrap();
        assert_eq!(
            xfcc_value(Some(&by), &peer).unwrap(),
            "By=spiffe://rigging.local/ns/default/dc/dc1/svc/api;URI=spiffe://rigging.local/ns/default/dc/dc1/svc/web"
        );
        assert_eq!(
            xfcc_value(None, &peer).unwrap(),
            "URI=spiffe://rigging.local/ns/default/dc/dc1/svc/web"
        );
    }
}
