//! [`DnsNames`]: which DNS names an identity's certificate carries besides its SPIFFE ID
//! (an ingress gateway's TLS hosts), decided inside Citadel and never read from the CSR.

use std::fmt;

use rigging_citadel_ca::{RESERVED_DOMAIN, check_dns_name};
use rigging_mesh_spiffe::SpiffeId;

use crate::server::CITADEL_DNS_NAME;

/// Tells Citadel the DNS names a workload's certificate carries, by identity.
///
/// Called on every sign request, on the request path: answer from memory (a snapshot of the
/// config entries), never by waiting on I/O. Names in Rigging's own domain (`*.rigging`, and
/// so [`CITADEL_DNS_NAME`]) and names that are not valid DNS names are dropped with a warning.
pub trait DnsNames: Send + Sync + fmt::Debug {
    /// The DNS names for `identity`'s certificate; empty for most workloads.
    fn dns_names(&self, identity: &SpiffeId) -> Vec<String>;
}

/// The names `hook` gives `identity`, less reserved and invalid ones, each once; none without
/// a hook.
pub(crate) fn names_for(hook: Option<&dyn DnsNames>, identity: &SpiffeId) -> Vec<String> {
    let Some(hook) = hook else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for name in hook.dns_names(identity) {
        if is_reserved(&name) {
            tracing::warn!(%identity, name, "refused a reserved dns name for a workload certificate");
            continue;
        }
        if let Err(reason) = check_dns_name(&name) {
            tracing::warn!(%identity, name, %reason, "dropped an invalid dns name");
            continue;
        }
        if !out.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
            out.push(name);
        }
    }
    out
}

/// True for [`CITADEL_DNS_NAME`] and any name in [`RESERVED_DOMAIN`], in any case and with or
/// without a trailing dot, since certificate name matching ignores both.
fn is_reserved(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let in_domain = name
        .strip_suffix(RESERVED_DOMAIN)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'));
    name == CITADEL_DNS_NAME || in_domain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citadels_name_is_in_the_reserved_domain() {
        assert!(is_reserved(CITADEL_DNS_NAME));
    }

    #[test]
    fn reserved_names() {
        for (name, reserved) in [
            ("citadel.rigging", true),
            ("CITADEL.Rigging", true),
            ("citadel.rigging.", true),
            ("*.rigging", true),
            ("pilot.rigging", true),
            ("rigging", true),
            ("a.b.rigging", true),
            ("rigging.example", false),
            ("notrigging", false),
            ("citadel.rigging.example", false),
            ("shop.example.com", false),
        ] {
            assert_eq!(is_reserved(name), reserved, "{name}");
        }
    }
}
