//! Who a proxy is, from its xDS `node.id`: a sidecar (its proxy id in the registry) or a
//! gateway, named as Istio names its routers: `<kind>~<bind ip>~<name>`.

use std::fmt;
use std::net::IpAddr;

use rigging_mesh_model::{NameError, ProxyId, ServiceName};

/// Separates the fields of a gateway's node id; no proxy id or service name contains it.
pub const NODE_ID_SEPARATOR: char = '~';

/// The kind field of an ingress gateway's node id: Consul's name for the entry and the
/// service kind.
pub const INGRESS_GATEWAY_KIND: &str = "ingress-gateway";

/// The kind field of a terminating gateway's node id.
pub const TERMINATING_GATEWAY_KIND: &str = "terminating-gateway";

/// What a `node.id` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeId {
    /// A sidecar: the proxy id of a registry instance.
    Sidecar(ProxyId),
    /// An ingress gateway serving the `ingress-gateway` entry of its name.
    Ingress(IngressNode),
    /// A terminating gateway serving the `terminating-gateway` entry of its name.
    Terminating(TerminatingNode),
}

/// An ingress gateway: the name of its `ingress-gateway` entry (and of its service, hence
/// its SPIFFE ID `…/svc/<name>`), and the address its listeners bind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IngressNode {
    pub name: ServiceName,
    pub bind: IpAddr,
}

/// A terminating gateway: the name of its `terminating-gateway` entry and of its service
/// (whose instances callers of the linked services reach, and whose SPIFFE ID they expect),
/// and the address its listener binds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TerminatingNode {
    pub name: ServiceName,
    pub bind: IpAddr,
}

/// Why a `node.id` names no proxy Pilot can serve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeIdError {
    #[error("node id {id:?}: {source}")]
    BadProxyId {
        id: String,
        #[source]
        source: NameError,
    },
    #[error(
        "node id {id:?}: a gateway's node id is `<kind>~<bind ip>~<name>`, e.g. `ingress-gateway~127.0.0.1~edge`"
    )]
    BadGatewayId { id: String },
    #[error(
        "node id {id:?}: {kind} is not supported (only {INGRESS_GATEWAY_KIND} and {TERMINATING_GATEWAY_KIND})"
    )]
    UnsupportedKind { id: String, kind: String },
    #[error("node id {id:?}: gateway name: {source}")]
    BadGatewayName {
        id: String,
        #[source]
        source: NameError,
    },
}

impl NodeId {
    /// Parses a `node.id`: a plain name is a sidecar's proxy id, `<kind>~<ip>~<name>` a
    /// gateway.
    pub fn parse(id: &str) -> Result<Self, NodeIdError> {
        if !id.contains(NODE_ID_SEPARATOR) {
            return ProxyId::new(id)
                .map(Self::Sidecar)
                .map_err(|source| NodeIdError::BadProxyId {
                    id: id.to_owned(),
                    source,
                });
        }
        let bad = || NodeIdError::BadGatewayId { id: id.to_owned() };
        let mut fields = id.split(NODE_ID_SEPARATOR);
        let (Some(kind), Some(ip), Some(name), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(bad());
        };
        if kind != INGRESS_GATEWAY_KIND && kind != TERMINATING_GATEWAY_KIND {
            return Err(NodeIdError::UnsupportedKind {
                id: id.to_owned(),
                kind: kind.to_owned(),
            });
        }
        let bind: IpAddr = ip.parse().map_err(|_| bad())?;
        let name = ServiceName::new(name).map_err(|source| NodeIdError::BadGatewayName {
            id: id.to_owned(),
            source,
        })?;
        Ok(if kind == INGRESS_GATEWAY_KIND {
            Self::Ingress(IngressNode { name, bind })
        } else {
            Self::Terminating(TerminatingNode { name, bind })
        })
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sidecar(id) => id.fmt(f),
            Self::Ingress(n) => n.fmt(f),
            Self::Terminating(n) => n.fmt(f),
        }
    }
}

impl IngressNode {
    pub fn new(name: ServiceName, bind: IpAddr) -> Self {
        Self { name, bind }
    }
}

/// The node id the gateway sends: `ingress-gateway~<bind ip>~<name>`.
impl fmt::Display for IngressNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = NODE_ID_SEPARATOR;
        write!(f, "{INGRESS_GATEWAY_KIND}{s}{}{s}{}", self.bind, self.name)
    }
}

impl TerminatingNode {
    pub fn new(name: ServiceName, bind: IpAddr) -> Self {
        Self { name, bind }
    }
}

/// The node id the gateway sends: `terminating-gateway~<bind ip>~<name>`.
impl fmt::Display for TerminatingNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = NODE_ID_SEPARATOR;
        write!(
            f,
            "{TERMINATING_GATEWAY_KIND}{s}{}{s}{}",
            self.bind, self.name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_table() {
        let ok = NodeId::parse("web-1");
        assert!(matches!(ok, Ok(NodeId::Sidecar(ref p)) if p.as_str() == "web-1"));
        let gw = NodeId::parse("ingress-gateway~0.0.0.0~edge");
        let Ok(NodeId::Ingress(n)) = gw else {
            panic!("{gw:?}")
        };
        assert_eq!(n.name.as_str(), "edge");
        assert_eq!(n.bind.to_string(), "0.0.0.0");
        assert_eq!(n.to_string(), "ingress-gateway~0.0.0.0~edge");
        let out = NodeId::parse("terminating-gateway~10.0.0.1~egress");
        let Ok(NodeId::Terminating(t)) = out else {
            panic!("{out:?}")
        };
        assert_eq!(t.name.as_str(), "egress");
        assert_eq!(t.to_string(), "terminating-gateway~10.0.0.1~egress");
        let v6 = NodeId::parse("ingress-gateway~::1~edge");
        assert!(matches!(v6, Ok(NodeId::Ingress(_))), "{v6:?}");
        for (id, want) in [
            ("", "BadProxyId"),
            ("ingress-gateway~edge", "BadGatewayId"),
            ("ingress-gateway~1.2.3.4~edge~x", "BadGatewayId"),
            ("ingress-gateway~nowhere~edge", "BadGatewayId"),
            ("ingress-gateway~1.2.3.4~-edge", "BadGatewayName"),
            ("mesh-gateway~1.2.3.4~out", "UnsupportedKind"),
        ] {
            let err = NodeId::parse(id).expect_err(id);
            assert!(format!("{err:?}").starts_with(want), "{id}: {err:?}");
        }
    }
}
