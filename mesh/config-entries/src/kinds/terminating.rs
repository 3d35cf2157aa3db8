//! `terminating-gateway`: the services outside the mesh that a gateway lets it reach.

use crate::common::Header;
use crate::decode::Fields;
use crate::error::{Diag, Origin};
use crate::tree::Node;

/// A `terminating-gateway` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TerminatingGateway {
    pub header: Header,
    pub services: Vec<LinkedService>,
}

/// A service the gateway represents; `*` sets defaults for every service of the
/// namespace, and a named entry overrides them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkedService {
    pub name: String,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    /// Alone: one-way TLS to the service; with `cert_file` and `key_file`: mutual TLS.
    pub ca_file: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    /// The name sent in the TLS handshake.
    pub sni: Option<String>,
    /// Keep the request's Host header instead of rewriting it to the service's address.
    pub disable_auto_host_rewrite: bool,
}

const KEYS: &[&str] = crate::entry_keys!["Services"];

impl TerminatingGateway {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "terminating-gateway", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        let mut services: Vec<LinkedService> = Vec::new();
        for n in f.list(d, "Services") {
            let Some(s) = linked_service(d, n) else {
                continue;
            };
            if services
                .iter()
                .any(|p| p.name == s.name && p.namespace == s.namespace)
            {
                d.err(
                    &n.at,
                    format!("service {:?} is listed more than once", s.name),
                );
            }
            services.push(s);
        }
        Some(Self { header, services })
    }
}

fn linked_service(d: &mut Diag, node: &Node) -> Option<LinkedService> {
    let f = Fields::of(
        d,
        node,
        "terminating-gateway service",
        &[
            "Name",
            "Namespace",
            "Partition",
            "CAFile",
            "CertFile",
            "KeyFile",
            "SNI",
            "DisableAutoHostRewrite",
        ],
    )?;
    let mut s = |name| f.string(d, name).filter(|v| !v.is_empty());
    let svc = LinkedService {
        name: s("Name").unwrap_or_default(),
        namespace: s("Namespace"),
        partition: s("Partition"),
        ca_file: s("CAFile"),
        cert_file: s("CertFile"),
        key_file: s("KeyFile"),
        sni: s("SNI"),
        disable_auto_host_rewrite: f.flag(d, "DisableAutoHostRewrite"),
    };
    if svc.name.is_empty() {
        d.err(f.at(), "service Name cannot be blank");
    }
    if svc.namespace.as_deref() == Some("*") {
        d.err(
            &f.value_at("Namespace"),
            "a wildcard namespace is not supported for terminating gateway services",
        );
    }
    if (svc.cert_file.is_some() || svc.key_file.is_some())
        && !(svc.ca_file.is_some() && svc.cert_file.is_some() && svc.key_file.is_some())
    {
        d.err(
            f.at(),
            format!(
                "service {:?} must have a CertFile, CAFile and KeyFile for mutual TLS (CAFile alone gives one-way TLS)",
                svc.name
            ),
        );
    }
    let tls = svc.ca_file.is_some() || svc.cert_file.is_some() || svc.key_file.is_some();
    if tls && svc.sni.is_none() {
        d.warn(
            f.at(),
            format!(
                "TLS is configured but SNI is not set for service {:?}; setting SNI is strongly recommended",
                svc.name
            ),
        );
    }
    Some(svc)
}
