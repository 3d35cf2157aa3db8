//! A terminating gateway's resources, from its `terminating-gateway` config entry: the
//! mesh's exit to services outside it.
//!
//! The gateway is a registered service of the entry's name; its instance at the gateway's
//! bind address gives the port it listens on. Callers of a linked service reach that port
//! over mesh mTLS with the service's name as SNI (see `links`); the gateway terminates the
//! mTLS and relays the connection to the service's own instances, originating TLS with the
//! entry's `CAFile`, `CertFile`, `KeyFile` and `SNI` when it has them.
//!
//! Connections are relayed at L4, so an HTTP request keeps the Host header its caller sent
//! (Consul's `DisableAutoHostRewrite = true`); the caller's own routes, retries and
//! timeouts apply before the gateway.

use std::collections::BTreeSet;
use std::net::IpAddr;

use rigging_mesh_config_entries::LinkedService;
use rigging_mesh_model::{Catalog, ServiceName};

use crate::emit::terminating as emit;
use crate::links::{Links, is_external};
use crate::{CompileError, CompileOptions, Entries, ProxyResources, TerminatingNode, protocol_of};

/// What a terminating gateway is sent, and what of its entry is not served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TerminatingResources {
    pub resources: ProxyResources,
    /// The linked services it relays to, sorted.
    pub services: Vec<ServiceName>,
    /// What of the entry is not served, and why, for logs; empty normally.
    pub notes: Vec<String>,
}

/// Compiles gateway `node`'s resources from its `terminating-gateway` entry.
///
/// Fails when the entry is missing, when the mesh has no mTLS (callers name the service
/// they want in the TLS handshake), and when the gateway's service has no single instance
/// at `node.bind` to take its port from.
pub fn compile_terminating(
    catalog: &Catalog,
    entries: &Entries,
    node: &TerminatingNode,
    opts: &CompileOptions,
) -> Result<TerminatingResources, CompileError> {
    let gw = entries
        .terminating_gateway(node.name.as_str())
        .ok_or_else(|| CompileError::UnknownTerminatingGateway(node.name.clone()))?;
    if opts.security.is_none() {
        return Err(CompileError::GatewayNeedsMtls(node.name.clone()));
    }
    let port = gateway_port(catalog, &node.name, node.bind)?;
    let links = Links::new(catalog, entries, true);
    let mut out = TerminatingResources::default();
    let mut services: BTreeSet<ServiceName> = BTreeSet::new();
    for link in &gw.services {
        if link.name == "*" {
            services.extend(
                catalog
                    .services
                    .keys()
                    .filter(|n| is_external(catalog, n.as_str()))
                    .filter(|n| links.gateway_of(n.as_str()).as_ref() == Some(&node.name))
                    .cloned(),
            );
            continue;
        }
        let Ok(name) = ServiceName::new(&link.name) else {
            out.notes.push(format!(
                "service {:?}: not a service name; not served",
                link.name
            ));
            continue;
        };
        if links.gateway_of(name.as_str()).as_ref() != Some(&node.name) {
            out.notes.push(format!(
                "service {name}: also linked by another terminating gateway, which callers use"
            ));
            continue;
        }
        if catalog
            .service(&name)
            .is_none_or(|s| s.endpoints.is_empty())
        {
            out.notes.push(format!(
                "service {name}: no instance in any registry; connections to it are closed"
            ));
        }
        services.insert(name);
    }
    for name in &services {
        let Some(link) = links.link(name.as_str()).map(|l| l.link) else {
            continue;
        };
        out.resources.clusters.push(emit::external_cluster(
            catalog,
            name,
            protocol_of(catalog, name),
            link,
        ));
        out.resources
            .endpoints
            .push(emit::external_load_assignment(catalog, name));
        if let Some(note) = tls_note(name, link) {
            out.notes.push(note);
        }
    }
    out.services = services.into_iter().collect();
    out.resources
        .listeners
        .push(emit::gateway_listener(node.bind, port, &out.services));
    out.resources.sort();
    Ok(out)
}

/// The port of the gateway's instance at `bind` (any instance's when `bind` is the
/// unspecified address), which must be one.
fn gateway_port(catalog: &Catalog, name: &ServiceName, bind: IpAddr) -> Result<u16, CompileError> {
    let mut ports: Vec<u16> = catalog
        .service(name)
        .map(|s| {
            s.endpoints
                .iter()
                .filter(|e| bind.is_unspecified() || e.address.ip() == bind)
                .map(|e| e.address.port())
                .collect()
        })
        .unwrap_or_default();
    ports.sort_unstable();
    ports.dedup();
    match ports.as_slice() {
        [port] => Ok(*port),
        _ => Err(CompileError::GatewayNotRegistered {
            name: name.clone(),
            bind,
            ports,
        }),
    }
}

/// A link whose TLS is half set up: Consul's validation refuses a certificate without its
/// key; here, a `CertFile` or `KeyFile` without `CAFile` would silently send plaintext.
fn tls_note(name: &ServiceName, link: &LinkedService) -> Option<String> {
    (link.ca_file.is_none() && (link.cert_file.is_some() || link.key_file.is_some())).then(|| {
        format!(
            "service {name}: CertFile and KeyFile without CAFile; connections to it are plaintext"
        )
    })
}
