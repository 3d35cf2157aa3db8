//! `ingress-gateway`: listeners that let traffic from outside into mesh services.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::{
    Header, HeaderModifiers, Limits, PassiveHealthCheck, Protocol, header_modifiers, limit_fields,
    passive_health_check,
};
use crate::decode::{Fields, pick};
use crate::error::{Diag, Origin};
use crate::kinds::service_defaults::is_dns_name;
use crate::kinds::tls::{TlsParams, tls_params};
use crate::tree::Node;

/// An `ingress-gateway` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IngressGateway {
    pub header: Header,
    pub tls: GatewayTls,
    pub listeners: Vec<IngressListener>,
    /// `Defaults`: limits and health checks for every service's upstream cluster.
    pub defaults: Option<IngressDefaults>,
}

/// `TLS { Enabled, SDS, TLSMinVersion, TLSMaxVersion, CipherSuites }`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewayTls {
    pub enabled: bool,
    pub sds: Option<Sds>,
    pub params: TlsParams,
}

/// Certificates from an SDS server (`SDS { ClusterName, CertResource }`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sds {
    pub cluster_name: Option<String>,
    pub cert_resource: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressDefaults {
    pub limits: Limits,
    pub passive_health_check: Option<PassiveHealthCheck>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngressListener {
    pub port: u16,
    /// `tcp` when unset.
    pub protocol: Protocol,
    pub services: Vec<IngressService>,
    pub tls: Option<GatewayTls>,
}

/// A service reachable through a listener; `*` means every service of the listener's
/// protocol, reached as `<service>.ingress.*`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngressService {
    pub name: String,
    pub hosts: Vec<String>,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    /// `TLS { SDS }`: a certificate of its own for this service's hosts.
    pub sds: Option<Sds>,
    pub request_headers: Option<HeaderModifiers>,
    pub response_headers: Option<HeaderModifiers>,
    pub limits: Limits,
    pub passive_health_check: Option<PassiveHealthCheck>,
    pub meta: BTreeMap<String, String>,
}

/// Consul's DNS domain, in the default names of services behind an ingress gateway
/// (`<service>.ingress.consul`, `<service>.ingress.<datacenter>.consul`).
const CONSUL_DOMAIN: &str = "consul";

const KEYS: &[&str] = crate::entry_keys!["TLS", "Listeners", "Defaults"];
const TLS_KEYS: &[&str] = &[
    "Enabled",
    "SDS",
    "TLSMinVersion",
    "TLSMaxVersion",
    "CipherSuites",
];
const SERVICE_KEYS: &[&str] = &[
    "Name",
    "Hosts",
    "Namespace",
    "Partition",
    "TLS",
    "RequestHeaders",
    "ResponseHeaders",
    "MaxConnections",
    "MaxPendingRequests",
    "MaxConcurrentRequests",
    "PassiveHealthCheck",
    "Meta",
];

const PROTOCOLS: &[(&str, Protocol)] = &[
    ("tcp", Protocol::Tcp),
    ("http", Protocol::Http),
    ("http2", Protocol::Http2),
    ("grpc", Protocol::Grpc),
];

impl IngressGateway {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "ingress-gateway", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        let tls = f
            .node(d, "TLS")
            .and_then(|n| gateway_tls(d, n))
            .unwrap_or_default();
        let defaults = f.node(d, "Defaults").and_then(|n| {
            let g = Fields::of(
                d,
                n,
                "ingress-gateway Defaults",
                &[
                    "MaxConnections",
                    "MaxPendingRequests",
                    "MaxConcurrentRequests",
                    "PassiveHealthCheck",
                ],
            )?;
            Some(IngressDefaults {
                limits: limit_fields(d, &g),
                passive_health_check: passive_health_check(d, &g),
            })
        });
        let mut listeners: Vec<IngressListener> = Vec::new();
        for n in f.list(d, "Listeners") {
            let Some(l) = listener(d, n, &tls) else {
                continue;
            };
            if listeners.iter().any(|p| p.port == l.port) {
                d.err(
                    &n.at,
                    format!("port {} is declared on two listeners", l.port),
                );
            }
            listeners.push(l);
        }
        Some(Self {
            header,
            tls,
            listeners,
            defaults,
        })
    }

    /// The DNS names the gateway's own (Citadel-issued) certificate must carry to serve its TLS
    /// listeners, sorted, each once, lowercase, without a trailing dot.
    ///
    /// A listener serves TLS when the gateway's or its own `TLS.Enabled` is set (as in Consul,
    /// a listener cannot turn off TLS the gateway turns on). Its services whose certificate
    /// comes from SDS instead (a `CertResource` on the service, or on the listener or the
    /// gateway, which Consul merges field by field) add nothing. Every other service adds its
    /// `Hosts`, or when it has none Consul's names for it, `<service>.ingress.consul` and
    /// `<service>.ingress.<datacenter>.consul` (so `*.ingress…` for the wildcard service).
    /// A `*` host, which never names a certificate, is left out, as is the datacenter form
    /// when `datacenter` is empty. Names are not otherwise checked: Citadel checks them.
    pub fn tls_dns_names(&self, datacenter: &str) -> Vec<String> {
        let gateway_sds = has_cert_resource(self.tls.sds.as_ref());
        let mut names: BTreeSet<String> = BTreeSet::new();
        let mut add = |name: &str| {
            names.insert(name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase());
        };
        for l in &self.listeners {
            let own = l.tls.as_ref();
            let enabled = self.tls.enabled || own.is_some_and(|t| t.enabled);
            if !enabled || gateway_sds || has_cert_resource(own.and_then(|t| t.sds.as_ref())) {
                continue;
            }
            for s in &l.services {
                if has_cert_resource(s.sds.as_ref()) {
                    continue;
                }
                if s.hosts.is_empty() {
                    add(&format!("{}.ingress.{CONSUL_DOMAIN}", s.name));
                    if !datacenter.is_empty() {
                        add(&format!("{}.ingress.{datacenter}.{CONSUL_DOMAIN}", s.name));
                    }
                }
                s.hosts.iter().filter(|h| *h != "*").for_each(|h| add(h));
            }
        }
        names.into_iter().collect()
    }
}

/// An SDS block naming a certificate: the listener or service serves that one, not Citadel's.
fn has_cert_resource(sds: Option<&Sds>) -> bool {
    sds.is_some_and(|s| s.cert_resource.is_some())
}

fn sds(d: &mut Diag, f: &Fields<'_>) -> Option<Sds> {
    let node = f.node(d, "SDS")?;
    let s = Fields::of(d, node, "SDS", &["ClusterName", "CertResource"])?;
    let sds = Sds {
        cluster_name: s.string(d, "ClusterName").filter(|v| !v.is_empty()),
        cert_resource: s.string(d, "CertResource").filter(|v| !v.is_empty()),
    };
    Some(sds)
}

pub(crate) fn gateway_tls(d: &mut Diag, node: &Node) -> Option<GatewayTls> {
    let t = Fields::of(d, node, "TLS", TLS_KEYS)?;
    Some(GatewayTls {
        enabled: t.flag(d, "Enabled"),
        sds: sds(d, &t),
        params: tls_params(d, &t),
    })
}

fn listener(d: &mut Diag, node: &Node, gw_tls: &GatewayTls) -> Option<IngressListener> {
    let l = Fields::of(
        d,
        node,
        "ingress listener",
        &["Port", "Protocol", "Services", "TLS"],
    )?;
    let port = l
        .int(d, "Port", 1..=65535)
        .and_then(|p| u16::try_from(p).ok());
    if !l.has("Port") {
        d.err(l.at(), "listener: Port is required (1 to 65535)");
    }
    let protocol = match l.string(d, "Protocol").filter(|s| !s.is_empty()) {
        Some(p) => pick(
            d,
            &l.value_at("Protocol"),
            "Protocol",
            &p.to_ascii_lowercase(),
            PROTOCOLS,
        )?,
        None => Protocol::Tcp,
    };
    let tls = l.node(d, "TLS").and_then(|n| gateway_tls(d, n));
    let nodes = l.list(d, "Services");
    let port = port?;
    if nodes.is_empty() {
        d.err(
            l.at(),
            format!("no service is declared for the listener on port {port}"),
        );
    }
    if !protocol.is_l7() && nodes.len() > 1 {
        d.err(
            &l.value_at("Services"),
            format!("listener on port {port}: several services per listener need an L7 protocol (http, http2 or grpc), not {protocol}"),
        );
    }
    let mut services: Vec<IngressService> = Vec::new();
    for n in nodes {
        let Some(s) = service(d, n, port, &protocol, gw_tls, tls.as_ref()) else {
            continue;
        };
        if services
            .iter()
            .any(|p| p.name == s.name && p.namespace == s.namespace)
        {
            d.err(
                &n.at,
                format!(
                    "service {:?} is added more than once to the listener on port {port}",
                    s.name
                ),
            );
        }
        for h in &s.hosts {
            if services.iter().any(|p| p.hosts.contains(h)) {
                d.err(&n.at, format!("host {h:?} is used twice on the listener on port {port}; hosts must be unique per listener"));
            }
        }
        services.push(s);
    }
    Some(IngressListener {
        port,
        protocol,
        services,
        tls,
    })
}

fn service(
    d: &mut Diag,
    node: &Node,
    port: u16,
    protocol: &Protocol,
    gateway_tls: &GatewayTls,
    listener_tls: Option<&GatewayTls>,
) -> Option<IngressService> {
    let f = Fields::of(d, node, "ingress service", SERVICE_KEYS)?;
    let at = f.at().clone();
    let name = f.text(d, "Name");
    let hosts = f.strings(d, "Hosts");
    let svc_sds = f.node(d, "TLS").and_then(|n| {
        let t = Fields::of(d, n, "ingress service TLS", &["SDS"])?;
        sds(d, &t)
    });
    let s = IngressService {
        namespace: f.string(d, "Namespace").filter(|v| !v.is_empty()),
        partition: f.string(d, "Partition").filter(|v| !v.is_empty()),
        sds: svc_sds,
        request_headers: header_modifiers(d, &f, "RequestHeaders"),
        response_headers: header_modifiers(d, &f, "ResponseHeaders"),
        limits: limit_fields(d, &f),
        passive_health_check: passive_health_check(d, &f),
        meta: f.string_map(d, "Meta"),
        name,
        hosts,
    };
    let here = format!("listener on port {port}");
    if s.name.is_empty() {
        d.err(&at, format!("{here}: service Name is required"));
    }
    let headers_set = [&s.request_headers, &s.response_headers]
        .iter()
        .any(|h| h.as_ref().is_some_and(|h| !h.is_empty()));
    if headers_set && !protocol.is_l7() {
        d.err(
            &at,
            format!(
                "{here}: RequestHeaders and ResponseHeaders need an L7 protocol, not {protocol}"
            ),
        );
    }
    if *protocol == Protocol::Tcp {
        if s.name == "*" {
            d.err(
                &at,
                format!("{here}: the wildcard service \"*\" needs an L7 protocol, not tcp"),
            );
        }
        if !s.hosts.is_empty() {
            d.err(
                &f.value_at("Hosts"),
                format!("{here}: Hosts are not supported on tcp listeners"),
            );
        }
    }
    if s.name == "*" && !s.hosts.is_empty() {
        d.err(
            &f.value_at("Hosts"),
            format!("{here}: Hosts cannot be set on the wildcard service \"*\""),
        );
    }
    if s.namespace.as_deref() == Some("*") {
        d.err(
            &f.value_at("Namespace"),
            format!("{here}: a wildcard namespace is not supported for ingress services"),
        );
    }
    for h in &s.hosts {
        check_host(d, &f.value_at("Hosts"), gateway_tls.enabled, h);
    }
    check_sds(d, &at, &here, gateway_tls, listener_tls, &s);
    Some(s)
}

/// Consul's `validateHost`: `*` alone (without TLS), or a DNS name whose only wildcard is
/// a leading `*.`.
fn check_host(d: &mut Diag, at: &rigging_mesh_hcl::Location, tls: bool, host: &str) {
    if host == "*" {
        if tls {
            d.err(at, "Hosts: \"*\" is not allowed when TLS is enabled; every host must be a DNS name for the certificate");
        }
        return;
    }
    let rest = host.strip_prefix("*.").unwrap_or(host);
    if rest.contains('*') {
        d.err(
            at,
            format!(
                "Hosts: {host:?} is not valid; a wildcard is only allowed as the leftmost label"
            ),
        );
    } else if !is_dns_name(rest) {
        d.err(at, format!("Hosts: {host:?} must be a valid DNS host name"));
    }
}

/// Consul's `validateServiceSDS`: a certificate resource needs an SDS cluster at some level.
fn check_sds(
    d: &mut Diag,
    at: &rigging_mesh_hcl::Location,
    here: &str,
    gw: &GatewayTls,
    listener: Option<&GatewayTls>,
    svc: &IngressService,
) {
    let gw_sds = gw.sds.as_ref();
    let gw_cluster = gw_sds.is_some_and(|s| s.cluster_name.is_some());
    let gw_cert = gw_sds.is_some_and(|s| s.cert_resource.is_some());
    if gw_sds.is_some_and(|s| s.cluster_name.is_none() && s.cert_resource.is_some()) {
        d.err(at, "TLS.SDS.ClusterName is required if CertResource is set");
    }
    let l_sds = listener.and_then(|l| l.sds.as_ref());
    let l_cluster = l_sds.is_some_and(|s| s.cluster_name.is_some());
    let l_cert = l_sds.is_some_and(|s| s.cert_resource.is_some());
    if gw_cluster && !gw_cert && !l_cert {
        d.err(
            at,
            format!(
                "{here}: TLS.SDS.CertResource is required when the gateway sets only ClusterName"
            ),
        );
    }
    if l_cluster && !l_cert {
        d.err(
            at,
            format!("{here}: TLS.SDS.CertResource is required if ClusterName is set"),
        );
    }
    if l_cert && !l_cluster && !gw_cluster {
        d.err(
            at,
            format!("{here}: TLS.SDS.ClusterName is required if CertResource is set"),
        );
    }
    if let Some(s) = &svc.sds
        && s.cert_resource.is_some()
    {
        if svc.hosts.is_empty() {
            d.err(at, format!("{here}: service {:?} sets TLS.SDS.CertResource, so it needs at least one Hosts entry", svc.name));
        }
        if s.cluster_name.is_none() && !l_cluster && !gw_cluster {
            d.err(
                at,
                format!(
                    "{here}: service {:?}: TLS.SDS.ClusterName is required if CertResource is set",
                    svc.name
                ),
            );
        }
    }
}
