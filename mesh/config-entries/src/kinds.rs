//! The config entry kinds, one module each, and the [`ConfigEntry`] that holds any of them.

use std::fmt;
use std::str::FromStr;

use crate::common::Header;
use crate::decode;
use crate::error::{Diag, Origin};
use crate::tree::Node;

pub(crate) mod extensions;
pub(crate) mod failover;
pub(crate) mod filter;
pub(crate) mod ingress;
pub(crate) mod intentions;
pub(crate) mod load_balancer;
pub(crate) mod matching;
pub(crate) mod mesh;
pub(crate) mod proxy_defaults;
pub(crate) mod resolver;
pub(crate) mod router;
pub(crate) mod service_defaults;
pub(crate) mod splitter;
pub(crate) mod terminating;
pub(crate) mod tls;

use ingress::IngressGateway;
use intentions::ServiceIntentions;
use mesh::MeshConfig;
use proxy_defaults::ProxyDefaults;
use resolver::ServiceResolver;
use router::ServiceRouter;
use service_defaults::ServiceDefaults;
use splitter::ServiceSplitter;
use terminating::TerminatingGateway;

/// The `Kind` of a config entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    ServiceDefaults,
    ProxyDefaults,
    ServiceRouter,
    ServiceSplitter,
    ServiceResolver,
    IngressGateway,
    TerminatingGateway,
    ServiceIntentions,
    Mesh,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::ServiceDefaults,
        Kind::ProxyDefaults,
        Kind::ServiceRouter,
        Kind::ServiceSplitter,
        Kind::ServiceResolver,
        Kind::IngressGateway,
        Kind::TerminatingGateway,
        Kind::ServiceIntentions,
        Kind::Mesh,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ServiceDefaults => "service-defaults",
            Self::ProxyDefaults => "proxy-defaults",
            Self::ServiceRouter => "service-router",
            Self::ServiceSplitter => "service-splitter",
            Self::ServiceResolver => "service-resolver",
            Self::IngressGateway => "ingress-gateway",
            Self::TerminatingGateway => "terminating-gateway",
            Self::ServiceIntentions => "service-intentions",
            Self::Mesh => "mesh",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a kind this crate reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown config entry kind {0:?}; expected one of: service-defaults, proxy-defaults, service-router, service-splitter, service-resolver, ingress-gateway, terminating-gateway, service-intentions, mesh"
)]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// One decoded and validated config entry of any kind.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigEntry {
    ServiceDefaults(ServiceDefaults),
    ProxyDefaults(ProxyDefaults),
    ServiceRouter(ServiceRouter),
    ServiceSplitter(ServiceSplitter),
    ServiceResolver(ServiceResolver),
    IngressGateway(IngressGateway),
    TerminatingGateway(TerminatingGateway),
    ServiceIntentions(ServiceIntentions),
    Mesh(MeshConfig),
}

impl ConfigEntry {
    pub fn kind(&self) -> Kind {
        match self {
            Self::ServiceDefaults(_) => Kind::ServiceDefaults,
            Self::ProxyDefaults(_) => Kind::ProxyDefaults,
            Self::ServiceRouter(_) => Kind::ServiceRouter,
            Self::ServiceSplitter(_) => Kind::ServiceSplitter,
            Self::ServiceResolver(_) => Kind::ServiceResolver,
            Self::IngressGateway(_) => Kind::IngressGateway,
            Self::TerminatingGateway(_) => Kind::TerminatingGateway,
            Self::ServiceIntentions(_) => Kind::ServiceIntentions,
            Self::Mesh(_) => Kind::Mesh,
        }
    }

    /// Name, namespace, partition, meta and origin.
    pub fn header(&self) -> &Header {
        match self {
            Self::ServiceDefaults(e) => &e.header,
            Self::ProxyDefaults(e) => &e.header,
            Self::ServiceRouter(e) => &e.header,
            Self::ServiceSplitter(e) => &e.header,
            Self::ServiceResolver(e) => &e.header,
            Self::IngressGateway(e) => &e.header,
            Self::TerminatingGateway(e) => &e.header,
            Self::ServiceIntentions(e) => &e.header,
            Self::Mesh(e) => &e.header,
        }
    }

    pub fn name(&self) -> &str {
        &self.header().name
    }

    /// Where the entry was read, for messages about it.
    pub fn origin(&self) -> &Origin {
        &self.header().origin
    }

    /// Decodes and checks one entry object; errors go to `d`, and `None` means the entry
    /// could not be built at all (an unknown kind, or not an object).
    pub(crate) fn decode(d: &mut Diag, node: &Node) -> Option<Self> {
        let members = decode::as_object(d, node, "config entry")?;
        let Some(kind_member) = members.iter().find(|m| decode::norm(&m.key) == "kind") else {
            d.err(
                &node.at,
                "missing Kind; expected Kind = \"service-router\" (or another config entry kind)",
            );
            return None;
        };
        let kind_text = decode::string(d, &kind_member.value, "Kind")?;
        let kind: Kind = match kind_text.parse() {
            Ok(k) => k,
            Err(e) => {
                d.err(&kind_member.value.at, format!("Kind: {e}"));
                return None;
            }
        };
        let origin = Origin::new(kind_member.key_at.clone());
        Some(match kind {
            Kind::ServiceDefaults => {
                Self::ServiceDefaults(ServiceDefaults::decode(d, node, origin)?)
            }
            Kind::ProxyDefaults => Self::ProxyDefaults(ProxyDefaults::decode(d, node, origin)?),
            Kind::ServiceRouter => Self::ServiceRouter(ServiceRouter::decode(d, node, origin)?),
            Kind::ServiceSplitter => {
                Self::ServiceSplitter(ServiceSplitter::decode(d, node, origin)?)
            }
            Kind::ServiceResolver => {
                Self::ServiceResolver(ServiceResolver::decode(d, node, origin)?)
            }
            Kind::IngressGateway => Self::IngressGateway(IngressGateway::decode(d, node, origin)?),
            Kind::TerminatingGateway => {
                Self::TerminatingGateway(TerminatingGateway::decode(d, node, origin)?)
            }
            Kind::ServiceIntentions => {
                Self::ServiceIntentions(ServiceIntentions::decode(d, node, origin)?)
            }
            Kind::Mesh => Self::Mesh(MeshConfig::decode(d, node, origin)?),
        })
    }
}
