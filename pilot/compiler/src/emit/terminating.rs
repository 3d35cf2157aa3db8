//! A terminating gateway's listener, clusters and TLS origination: `pilot/XDS.md`,
//! "Terminating gateways".

use std::net::{IpAddr, SocketAddr};

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, EdsClusterConfig,
};
use envoy_types::pb::envoy::config::core::v3::{DataSource, TrafficDirection, data_source};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher, TlsCertificate,
    UpstreamTlsContext, common_tls_context::ValidationContextType,
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use rigging_mesh_config_entries::LinkedService;
use rigging_mesh_model::{Catalog, LbPolicy, Protocol, ServiceName};
use rigging_mesh_xds::{
    Cluster, ClusterLoadAssignment, Listener, TRANSPORT_PROTOCOL_TLS, UPSTREAM_TLS_CONTEXT, pack,
};

use crate::emit::{ads, cluster, listener, load_assignment, tcp_filter_for, tls};

/// `terminating:<bind ip>:<port>`.
pub(crate) fn listener_name(bind: IpAddr, port: u16) -> String {
    format!("terminating:{}", SocketAddr::new(bind, port))
}

/// `external:<service>`: the gateway's cluster of a linked service.
pub(crate) fn cluster_name(service: &ServiceName) -> String {
    format!("external:{service}")
}

/// The gateway's one listener: mesh mTLS, then one filter chain per linked service, picked
/// by the SNI callers send (the service's name), relaying to the service's cluster.
pub(crate) fn gateway_listener(bind: IpAddr, port: u16, services: &[ServiceName]) -> Listener {
    let name = listener_name(bind, port);
    let mut l = listener(
        name.clone(),
        SocketAddr::new(bind, port),
        TrafficDirection::Inbound,
        tcp_filter_for(&name, ""),
    );
    l.listener_filters = vec![tls::tls_inspector()];
    l.filter_chains = services
        .iter()
        .map(|s| FilterChain {
            filter_chain_match: Some(FilterChainMatch {
                server_names: vec![s.as_str().to_owned()],
                transport_protocol: TRANSPORT_PROTOCOL_TLS.to_owned(),
                ..Default::default()
            }),
            filters: vec![tcp_filter_for(&name, &cluster_name(s))],
            transport_socket: Some(tls::downstream_socket()),
            ..Default::default()
        })
        .collect();
    l
}

/// The gateway's cluster of linked service `name`: EDS over the service's own instances,
/// with the registry's load balancer and connect timeout, and TLS as `link` asks.
pub(crate) fn external_cluster(
    catalog: &Catalog,
    name: &ServiceName,
    protocol: Protocol,
    link: &LinkedService,
) -> Cluster {
    let (lb, timeout) = catalog.service(name).map_or(
        (
            LbPolicy::RoundRobin,
            rigging_mesh_model::DEFAULT_CONNECT_TIMEOUT,
        ),
        |s| (s.lb_policy, s.connect_timeout),
    );
    // Connections are relayed whole: no HTTP options, whatever the service speaks.
    let mut c = cluster(&cluster_name(name), Protocol::Tcp, lb, timeout);
    c.cluster_discovery_type = Some(ClusterDiscoveryType::Type(DiscoveryType::Eds as i32));
    c.eds_cluster_config = Some(EdsClusterConfig {
        eds_config: Some(ads()),
        service_name: String::new(),
    });
    c.transport_socket =
        origination(link, protocol).map(|ctx| tls::socket(pack(UPSTREAM_TLS_CONTEXT, &ctx)));
    c
}

/// The endpoints of a linked service: its own instances, as registered.
pub(crate) fn external_load_assignment(
    catalog: &Catalog,
    name: &ServiceName,
) -> ClusterLoadAssignment {
    let mut cla = load_assignment(name, catalog.service(name), false);
    cla.cluster_name = cluster_name(name);
    cla
}

/// TLS to the external service, as Consul's terminating gateway originates it: with a
/// `CAFile` the server is verified against it (its name too when `SNI` is set), with
/// `CertFile` and `KeyFile` the gateway presents that certificate; without `CAFile`,
/// plaintext.
fn origination(link: &LinkedService, protocol: Protocol) -> Option<UpstreamTlsContext> {
    let ca = link.ca_file.as_ref()?;
    let sans = link
        .sni
        .iter()
        .map(|sni| SubjectAltNameMatcher {
            san_type: SanType::Dns as i32,
            matcher: Some(StringMatcher {
                match_pattern: Some(MatchPattern::Exact(sni.clone())),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    let validation = CertificateValidationContext {
        trusted_ca: Some(file(ca)),
        match_typed_subject_alt_names: sans,
        ..Default::default()
    };
    let certificates = match (&link.cert_file, &link.key_file) {
        (Some(cert), Some(key)) => vec![TlsCertificate {
            certificate_chain: Some(file(cert)),
            private_key: Some(file(key)),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    Some(UpstreamTlsContext {
        sni: link.sni.clone().unwrap_or_default(),
        common_tls_context: Some(CommonTlsContext {
            tls_certificates: certificates,
            validation_context_type: Some(ValidationContextType::ValidationContext(validation)),
            alpn_protocols: tls::upstream_alpn(protocol),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn file(path: &str) -> DataSource {
    DataSource {
        specifier: Some(data_source::Specifier::Filename(path.to_owned())),
        ..Default::default()
    }
}
