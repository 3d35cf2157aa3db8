//! Checking a name before it goes into a leaf as a DNS SAN: the preferred name syntax of
//! RFC 1035 §2.3.1 (as relaxed by RFC 1123 §2.1), with RFC 6125's left-most wildcard.

use std::net::IpAddr;

use rcgen::SanType;

use crate::authority::IssueError;

/// The longest DNS name in text form (RFC 1035 §2.3.4: 255 octets on the wire, less the
/// first length octet and the root label).
pub const MAX_DNS_NAME_LEN: usize = 253;
/// The longest label (RFC 1035 §2.3.4).
pub const MAX_DNS_LABEL_LEN: usize = 63;
/// Labels a wildcard needs after it: `*.example.com`, never `*.com`, which would cover a
/// whole top-level domain (and which rustls-webpki refuses to match anyway).
const WILDCARD_MIN_LABELS_AFTER: usize = 2;

/// Why a name cannot be a DNS SAN.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsNameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name is {0} characters long, more than {MAX_DNS_NAME_LEN}")]
    TooLong(usize),
    #[error("label {0} (counting from 0) is empty (no leading, trailing or doubled dots)")]
    EmptyLabel(usize),
    #[error("label {0} (counting from 0) is longer than {MAX_DNS_LABEL_LEN} characters")]
    LabelTooLong(usize),
    #[error("label {0} (counting from 0) may hold only letters, digits and inner hyphens")]
    BadLabel(usize),
    #[error(
        "a wildcard must be the whole left-most label, followed by at least {WILDCARD_MIN_LABELS_AFTER} labels"
    )]
    BadWildcard,
    #[error("an ip address (or a name ending in a numeric label) is not a dns name")]
    IpAddress,
    #[error(
        "names in the .{RESERVED_DOMAIN} domain are the control plane's (citadel's own name is one)"
    )]
    Reserved,
}

/// Rigging's own domain: Citadel's server name is in it, and a workload holding a
/// certificate for any name there could pose as a control-plane server. No workload
/// certificate names one.
pub const RESERVED_DOMAIN: &str = "rigging";

/// Checks that `name` can be a DNS SAN of a leaf: letters, digits and hyphens (not at either
/// end of a label), labels of 1 to [`MAX_DNS_LABEL_LEN`] characters, at most
/// [`MAX_DNS_NAME_LEN`] in all, no trailing dot, `*` only as the whole left-most label, and
/// nothing that reads as an IP address (those belong in IP SANs).
pub fn check_dns_name(name: &str) -> Result<(), DnsNameError> {
    if name.is_empty() {
        return Err(DnsNameError::Empty);
    }
    if name.len() > MAX_DNS_NAME_LEN {
        return Err(DnsNameError::TooLong(name.len()));
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err(DnsNameError::IpAddress);
    }
    let labels: Vec<&str> = name.split('.').collect();
    let wildcard = labels.first() == Some(&"*");
    if wildcard && labels.len() < 1 + WILDCARD_MIN_LABELS_AFTER {
        return Err(DnsNameError::BadWildcard);
    }
    let skip = usize::from(wildcard);
    for (index, label) in labels.iter().enumerate().skip(skip) {
        check_label(index, label)?;
    }
    // An all-numeric last label would make `10.0.0` or `1.2.3.4` read as an address.
    if labels
        .last()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(DnsNameError::IpAddress);
    }
    if labels
        .last()
        .is_some_and(|l| l.eq_ignore_ascii_case(RESERVED_DOMAIN))
    {
        return Err(DnsNameError::Reserved);
    }
    Ok(())
}

/// The DNS SANs for `names`, each checked, duplicates (in any case) dropped.
pub(crate) fn dns_sans(names: &[String]) -> Result<Vec<SanType>, IssueError> {
    let mut seen: Vec<&str> = Vec::with_capacity(names.len());
    let mut sans = Vec::with_capacity(names.len());
    for name in names {
        check_dns_name(name).map_err(|source| IssueError::DnsName {
            name: name.clone(),
            source,
        })?;
        if seen.iter().any(|s| s.eq_ignore_ascii_case(name)) {
            continue;
        }
        seen.push(name);
        // Checked above: printable ASCII, so this conversion cannot fail.
        let ia5 = name
            .as_str()
            .try_into()
            .map_err(|source| IssueError::Sign {
                identity: name.clone(),
                source,
            })?;
        sans.push(SanType::DnsName(ia5));
    }
    Ok(sans)
}

fn check_label(index: usize, label: &str) -> Result<(), DnsNameError> {
    if label.is_empty() {
        return Err(DnsNameError::EmptyLabel(index));
    }
    if label.len() > MAX_DNS_LABEL_LEN {
        return Err(DnsNameError::LabelTooLong(index));
    }
    if label.contains('*') {
        return Err(DnsNameError::BadWildcard);
    }
    let ldh = label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !ldh || label.starts_with('-') || label.ends_with('-') {
        return Err(DnsNameError::BadLabel(index));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for name in [
            "web.ingress.consul",
            "*.ingress.dc1.consul",
            "Example.COM",
            "xn--bcher-kva.example",
            "a",
            "a-b.c1",
            &format!("{}.example", "a".repeat(63)),
        ] {
            assert_eq!(check_dns_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn invalid_names() {
        let long = format!("{}.example", vec!["a".repeat(60); 5].join("."));
        let cases: &[(&str, DnsNameError)] = &[
            ("", DnsNameError::Empty),
            (&long, DnsNameError::TooLong(long.len())),
            ("example.com.", DnsNameError::EmptyLabel(2)),
            (".example.com", DnsNameError::EmptyLabel(0)),
            ("a..b", DnsNameError::EmptyLabel(1)),
            (
                &format!("{}.example", "a".repeat(64)),
                DnsNameError::LabelTooLong(0),
            ),
            ("under_score.example", DnsNameError::BadLabel(0)),
            ("-web.example", DnsNameError::BadLabel(0)),
            ("web-.example", DnsNameError::BadLabel(0)),
            ("space .example", DnsNameError::BadLabel(0)),
            ("caf\u{e9}.example", DnsNameError::BadLabel(0)),
            ("*", DnsNameError::BadWildcard),
            ("*.com", DnsNameError::BadWildcard),
            ("w*.example.com", DnsNameError::BadWildcard),
            ("a.*.example.com", DnsNameError::BadWildcard),
            ("**.example.com", DnsNameError::BadWildcard),
            ("10.0.0.1", DnsNameError::IpAddress),
            ("::1", DnsNameError::IpAddress),
            ("citadel.rigging", DnsNameError::Reserved),
            ("*.pilot.Rigging", DnsNameError::Reserved),
            ("rigging", DnsNameError::Reserved),
            ("10.0.0", DnsNameError::IpAddress),
            ("host.123", DnsNameError::IpAddress),
        ];
        for (name, want) in cases {
            assert_eq!(check_dns_name(name).as_ref(), Err(want), "{name:?}");
        }
    }
}
