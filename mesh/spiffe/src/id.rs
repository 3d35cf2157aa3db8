//! SPIFFE IDs and trust domains, parsed and validated per the SPIFFE ID specification.

use std::fmt;
use std::str::FromStr;

/// The only scheme a SPIFFE ID may carry, lowercase.
const SCHEME: &str = "spiffe://";
/// The SPIFFE ID spec caps a whole ID at 2048 bytes so that it fits URI limits everywhere.
pub const MAX_ID_BYTES: usize = 2048;
/// The SPIFFE ID spec caps the trust domain at 255 bytes, the length of a DNS name.
pub const MAX_TRUST_DOMAIN_BYTES: usize = 255;

/// A SPIFFE trust domain: lowercase letters, digits, `.`, `-` and `_`, nothing else.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(String);

/// A validated SPIFFE ID, `spiffe://<trust-domain>[/<segment>...]`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpiffeId {
    id: String,
    /// Byte offset in `id` where the path starts (the end of the trust domain).
    path_start: usize,
}

/// Why a string is not a SPIFFE ID or a trust domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("spiffe id is empty")]
    Empty,
    #[error("spiffe id is {len} bytes, more than the {MAX_ID_BYTES} allowed")]
    TooLong { len: usize },
    #[error("spiffe id must start with the lowercase scheme `spiffe://`")]
    WrongScheme,
    #[error("spiffe id has no trust domain")]
    MissingTrustDomain,
    #[error("trust domain is {len} bytes, more than the {MAX_TRUST_DOMAIN_BYTES} allowed")]
    TrustDomainTooLong { len: usize },
    #[error(
        "trust domain has the character {ch:?}; only lowercase letters, digits, `.`, `-` and `_` are allowed"
    )]
    BadTrustDomainChar { ch: char },
    #[error("spiffe id must not have a query or a fragment")]
    QueryOrFragment,
    #[error("spiffe id path has an empty segment (`//` or a trailing `/`)")]
    EmptySegment,
    #[error("spiffe id path has a `.` or `..` segment")]
    DotSegment,
    #[error(
        "spiffe id path has the character {ch:?}; only letters, digits, `.`, `-` and `_` are allowed"
    )]
    BadPathChar { ch: char },
}

impl TrustDomain {
    /// Parses a bare trust domain name such as `rigging.local`.
    pub fn new(name: &str) -> Result<Self, IdError> {
        validate_trust_domain(name)?;
        Ok(Self(name.to_owned()))
    }

    /// The trust domain's name, without scheme.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The SPIFFE ID of the trust domain itself, `spiffe://<td>`.
    pub fn id(&self) -> SpiffeId {
        SpiffeId {
            id: format!("{SCHEME}{}", self.0),
            path_start: SCHEME.len() + self.0.len(),
        }
    }
}

impl SpiffeId {
    /// Parses and validates a SPIFFE ID.
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.is_empty() {
            return Err(IdError::Empty);
        }
        if s.len() > MAX_ID_BYTES {
            return Err(IdError::TooLong { len: s.len() });
        }
        let rest = s.strip_prefix(SCHEME).ok_or(IdError::WrongScheme)?;
        if rest.contains(['?', '#']) {
            return Err(IdError::QueryOrFragment);
        }
        let td_len = rest.find('/').unwrap_or(rest.len());
        validate_trust_domain(&rest[..td_len])?;
        let path = &rest[td_len..];
        if !path.is_empty() {
            for segment in path[1..].split('/') {
                validate_segment(segment)?;
            }
        }
        Ok(Self {
            id: s.to_owned(),
            path_start: SCHEME.len() + td_len,
        })
    }

    /// Consul's layout, `spiffe://<td>/ns/<ns>/dc/<dc>/svc/<service>`; each part must be a valid path segment.
    pub fn service(td: &TrustDomain, ns: &str, dc: &str, service: &str) -> Result<Self, IdError> {
        for segment in [ns, dc, service] {
            validate_segment(segment)?;
        }
        let id = format!("{SCHEME}{}/ns/{ns}/dc/{dc}/svc/{service}", td.0);
        if id.len() > MAX_ID_BYTES {
            return Err(IdError::TooLong { len: id.len() });
        }
        Ok(Self {
            id,
            path_start: SCHEME.len() + td.0.len(),
        })
    }

    /// The whole ID as a string.
    pub fn as_str(&self) -> &str {
        &self.id
    }

    /// The trust domain's name.
    pub fn trust_domain_name(&self) -> &str {
        &self.id[SCHEME.len()..self.path_start]
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> TrustDomain {
        TrustDomain(self.trust_domain_name().to_owned())
    }

    /// Whether this ID belongs to `td`.
    pub fn is_member_of(&self, td: &TrustDomain) -> bool {
        self.trust_domain_name() == td.0
    }

    /// The path, empty or starting with `/`.
    pub fn path(&self) -> &str {
        &self.id[self.path_start..]
    }

    /// The service name, when the ID has Consul's layout (`service` is the constructor).
    pub fn service_name(&self) -> Option<&str> {
        self.consul_parts().map(|(_, _, svc)| svc)
    }

    /// The namespace, when the ID has Consul's layout.
    pub fn namespace(&self) -> Option<&str> {
        self.consul_parts().map(|(ns, _, _)| ns)
    }

    /// The datacenter, when the ID has Consul's layout.
    pub fn datacenter(&self) -> Option<&str> {
        self.consul_parts().map(|(_, dc, _)| dc)
    }

    fn consul_parts(&self) -> Option<(&str, &str, &str)> {
        let mut it = self.path().strip_prefix('/')?.split('/');
        let parts = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        match (parts, it.next()) {
            (("ns", ns, "dc", dc, "svc", svc), None) => Some((ns, dc, svc)),
            _ => None,
        }
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TrustDomain({})", self.0)
    }
}

impl FromStr for TrustDomain {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::new(s)
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id)
    }
}

impl fmt::Debug for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpiffeId({})", self.id)
    }
}

impl FromStr for SpiffeId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for SpiffeId {
    type Error = IdError;
    fn try_from(s: &str) -> Result<Self, IdError> {
        Self::parse(s)
    }
}

fn validate_trust_domain(td: &str) -> Result<(), IdError> {
    if td.is_empty() {
        return Err(IdError::MissingTrustDomain);
    }
    if td.len() > MAX_TRUST_DOMAIN_BYTES {
        return Err(IdError::TrustDomainTooLong { len: td.len() });
    }
    match td
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '.' | '-' | '_'))
    {
        Some(ch) => Err(IdError::BadTrustDomainChar { ch }),
        None => Ok(()),
    }
}

fn validate_segment(segment: &str) -> Result<(), IdError> {
    match segment {
        "" => return Err(IdError::EmptySegment),
        "." | ".." => return Err(IdError::DotSegment),
        _ => {}
    }
    match segment
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        Some('?' | '#') => Err(IdError::QueryOrFragment),
        Some(ch) => Err(IdError::BadPathChar { ch }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_ids() -> Result<(), IdError> {
        for s in [
            "spiffe://example.org",
            "spiffe://a_b-c.9/x/Y.z/-_",
            "spiffe://rigging.local/ns/default/dc/dc1/svc/web",
        ] {
            assert_eq!(SpiffeId::parse(s)?.as_str(), s);
        }
        Ok(())
    }

    #[test]
    fn rejects_invalid_ids() {
        let long = format!("spiffe://td/{}", "a".repeat(MAX_ID_BYTES));
        let long_td = format!("spiffe://{}", "a".repeat(MAX_TRUST_DOMAIN_BYTES + 1));
        let table: &[(&str, IdError)] = &[
            ("", IdError::Empty),
            ("http://example.org/a", IdError::WrongScheme),
            ("SPIFFE://example.org/a", IdError::WrongScheme),
            ("spiffe:/example.org", IdError::WrongScheme),
            ("spiffe://", IdError::MissingTrustDomain),
            ("spiffe:///a", IdError::MissingTrustDomain),
            (
                "spiffe://Example.org/a",
                IdError::BadTrustDomainChar { ch: 'E' },
            ),
            (
                "spiffe://example.org:8080/a",
                IdError::BadTrustDomainChar { ch: ':' },
            ),
            (
                "spiffe://user@example.org/a",
                IdError::BadTrustDomainChar { ch: '@' },
            ),
            ("spiffe://example.org/a?x=1", IdError::QueryOrFragment),
            ("spiffe://example.org/a#frag", IdError::QueryOrFragment),
            ("spiffe://example.org//a", IdError::EmptySegment),
            ("spiffe://example.org/a/", IdError::EmptySegment),
            ("spiffe://example.org/", IdError::EmptySegment),
            ("spiffe://example.org/a/./b", IdError::DotSegment),
            ("spiffe://example.org/a/..", IdError::DotSegment),
            (
                "spiffe://example.org/a%20b",
                IdError::BadPathChar { ch: '%' },
            ),
            ("spiffe://example.org/a b", IdError::BadPathChar { ch: ' ' }),
        ];
        for (s, want) in table {
            assert_eq!(SpiffeId::parse(s).as_ref(), Err(want), "{s:?}");
        }
        assert!(matches!(
            SpiffeId::parse(&long),
            Err(IdError::TooLong { .. })
        ));
        assert!(matches!(
            SpiffeId::parse(&long_td),
            Err(IdError::TrustDomainTooLong { .. })
        ));
    }

    #[test]
    fn consul_layout_round_trips() -> Result<(), IdError> {
        let td = TrustDomain::new("rigging.local")?;
        let id = SpiffeId::service(&td, "default", "dc1", "web")?;
        assert_eq!(
            id.as_str(),
            "spiffe://rigging.local/ns/default/dc/dc1/svc/web"
        );
        assert_eq!(id.service_name(), Some("web"));
        assert_eq!(id.namespace(), Some("default"));
        assert_eq!(id.datacenter(), Some("dc1"));
        assert_eq!(id.trust_domain(), td);
        assert!(id.is_member_of(&td));
        assert_eq!(SpiffeId::parse(id.as_str())?, id);
        Ok(())
    }

    #[test]
    fn other_layouts_have_no_consul_parts() -> Result<(), IdError> {
        for s in [
            "spiffe://td",
            "spiffe://td/ns/a/dc/b/svc",
            "spiffe://td/ns/a/dc/b/svc/c/extra",
            "spiffe://td/ns/a/dc/b/service/c",
        ] {
            assert_eq!(SpiffeId::parse(s)?.service_name(), None, "{s}");
        }
        Ok(())
    }

    #[test]
    fn service_constructor_rejects_bad_segments() -> Result<(), IdError> {
        let td = TrustDomain::new("td")?;
        assert_eq!(
            SpiffeId::service(&td, "", "dc", "web"),
            Err(IdError::EmptySegment)
        );
        assert_eq!(
            SpiffeId::service(&td, "ns", "..", "web"),
            Err(IdError::DotSegment)
        );
        assert_eq!(
            SpiffeId::service(&td, "ns", "dc", "a/b"),
            Err(IdError::BadPathChar { ch: '/' })
        );
        Ok(())
    }
}
