//! Validated names for services and proxies.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest name accepted, as a DNS name (RFC 1035 section 2.3.4).
pub const MAX_NAME_LEN: usize = 253;

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is {len} characters long, the limit is {MAX_NAME_LEN}")]
    TooLong { len: usize },
    #[error("name {name:?} has the character {ch:?}; expected letters, digits, '-', '_' or '.'")]
    BadChar { name: String, ch: char },
    #[error("name {name:?} must start and end with a letter or digit")]
    BadEdge { name: String },
    #[error(
        "proxy id {name:?} must start with a letter, a digit or '_' and end with a letter or digit"
    )]
    BadProxyEdge { name: String },
}

/// `leading_underscore`: whether the name may start with `_`, as the service IDs Nomad registers
/// in Consul do (`_nomad-task-<alloc>-<task>-<service>-<port>`).
fn validate(name: &str, leading_underscore: bool) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong { len: name.len() });
    }
    if let Some(ch) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(NameError::BadChar {
            name: name.to_owned(),
            ch,
        });
    }
    let edge_ok = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let first = name.chars().next();
    let first_ok = edge_ok(first) || (leading_underscore && first == Some('_') && name.len() > 1);
    if !first_ok || !edge_ok(name.chars().last()) {
        let name = name.to_owned();
        return Err(if leading_underscore {
            NameError::BadProxyEdge { name }
        } else {
            NameError::BadEdge { name }
        });
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, leading_underscore: $underscore:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// Validates `name`.
            pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
                let name = name.into();
                validate(&name, $underscore)?;
                Ok(Self(name))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl From<$ty> for String {
            fn from(n: $ty) -> String {
                n.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// A service's name, as Consul, Nomad and Kubernetes spell it.
    ServiceName,
    leading_underscore: false
);
name_type!(
    /// A proxy's identity towards Pilot: the xDS `node.id`, usually the instance id of the workload
    /// it fronts: also a sidecar's Consul service ID, which Nomad starts with `_`.
    ProxyId,
    leading_underscore: true
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_table() {
        let cases: &[(&str, bool)] = &[
            ("web", true),
            ("api-v2", true),
            ("redis_cache", true),
            ("svc.consul", true),
            ("A1", true),
            ("", false),
            ("-web", false),
            ("web-", false),
            ("we b", false),
            ("wé", false),
            ("a/b", false),
        ];
        for (name, ok) in cases {
            assert_eq!(ServiceName::new(*name).is_ok(), *ok, "{name:?}");
        }
        assert!(ServiceName::new("_nomad-task-1").is_err());
        for (id, ok) in [
            (
                "_nomad-task-5c2e-api-api-sidecar-proxy-connect-proxy-api",
                true,
            ),
            ("web-sidecar-proxy", true),
            ("_", false),
            ("__", false),
            ("-web", false),
            ("web_", false),
        ] {
            assert_eq!(ProxyId::new(id).is_ok(), ok, "{id:?}");
        }
        assert!(matches!(
            ServiceName::new("x".repeat(254)),
            Err(NameError::TooLong { len: 254 })
        ));
    }

    #[test]
    fn serde_validates() {
        let ok: ServiceName = serde_json::from_str("\"api\"").unwrap();
        assert_eq!(ok.as_str(), "api");
        assert!(serde_json::from_str::<ServiceName>("\"a b\"").is_err());
    }
}
