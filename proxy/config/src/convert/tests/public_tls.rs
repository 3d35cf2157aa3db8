//! An ingress gateway's TLS listener: TLS to clients outside the mesh with the workload
//! certificate and no client certificate, on an outbound (gateway) listener only.

use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3 as lds;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3 as tls;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::tls_parameters::TlsProtocol;
use envoy_types::pb::google::protobuf::BoolValue;
use rigging_mesh_xds::{DOWNSTREAM_TLS_CONTEXT, TRUST_BUNDLE_SECRET, WORKLOAD_CERT_SECRET};

use super::fixtures::*;
use super::{Case, assert_rejects};
use crate::types::{
    Direction, InboundTls, InboundTlsMode, Listener, PublicCertificate, PublicTls, TlsClients,
    TlsVersion,
};

/// What Pilot sends for `TLS { Enabled = true, TLSMinVersion = "TLSv1_2",
/// CipherSuites = [...] }` on an HTTP listener.
fn public_context() -> tls::DownstreamTlsContext {
    tls::DownstreamTlsContext {
        require_client_certificate: Some(BoolValue { value: false }),
        common_tls_context: Some(tls::CommonTlsContext {
            tls_params: Some(tls::TlsParameters {
                tls_minimum_protocol_version: TlsProtocol::TlSv12 as i32,
                tls_maximum_protocol_version: TlsProtocol::TlSv13 as i32,
                cipher_suites: vec![
                    "ECDHE-ECDSA-AES256-GCM-SHA384".into(),
                    "ECDHE-ECDSA-AES128-GCM-SHA256".into(),
                ],
                ..Default::default()
            }),
            tls_certificate_sds_secret_configs: vec![secret(WORKLOAD_CERT_SECRET)],
            alpn_protocols: vec!["h2".into(), "http/1.1".into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn gateway_listener() -> lds::Listener {
    http_listener().tap(|l| {
        l.filter_chains[0].transport_socket =
            Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &public_context()))
    })
}

fn edit_public(l: &mut lds::Listener, f: impl FnOnce(&mut tls::DownstreamTlsContext)) {
    let mut ctx = public_context();
    f(&mut ctx);
    l.filter_chains[0].transport_socket = Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &ctx));
}

fn edit_params(l: &mut lds::Listener, f: impl FnOnce(&mut tls::TlsParameters)) {
    edit_public(l, |c| {
        f(c.common_tls_context
            .as_mut()
            .and_then(|c| c.tls_params.as_mut())
            .unwrap())
    });
}

#[test]
fn accepts_the_gateway_listener_pilot_sends() {
    let l = Listener::try_from(gateway_listener()).unwrap();
    assert_eq!(l.direction, Direction::Outbound);
    assert_eq!(
        l.tls,
        Some(InboundTls {
            mode: InboundTlsMode::Strict,
            alpn: vec!["h2".into(), "http/1.1".into()],
            clients: TlsClients::Public(PublicTls {
                min_version: TlsVersion::V1_2,
                max_version: TlsVersion::V1_3,
                cipher_suites: vec![
                    "ECDHE-ECDSA-AES256-GCM-SHA384".into(),
                    "ECDHE-ECDSA-AES128-GCM-SHA256".into(),
                ],
                certificate: Some(PublicCertificate::Workload),
                by_server_name: Vec::new(),
            }),
        })
    );
    // Without parameters: Envoy's defaults, TLS 1.2 to 1.3, the proxy's suites.
    let bare = gateway_listener().tap(|l| {
        edit_public(l, |c| {
            c.require_client_certificate = None;
            c.common_tls_context.as_mut().unwrap().tls_params = None;
        })
    });
    let tls = Listener::try_from(bare).unwrap().tls.unwrap();
    assert_eq!(
        tls.clients,
        TlsClients::Public(PublicTls {
            min_version: TlsVersion::V1_2,
            max_version: TlsVersion::V1_3,
            cipher_suites: Vec::new(),
            certificate: Some(PublicCertificate::Workload),
            by_server_name: Vec::new(),
        })
    );
}

/// Consul's SDS secret: the resource by name from an `envoy_grpc` cluster.
fn sds_secret() -> tls::SdsSecretConfig {
    use envoy_types::pb::envoy::config::core::v3::{
        ApiConfigSource, ApiVersion, ConfigSource, GrpcService, api_config_source,
        config_source::ConfigSourceSpecifier, grpc_service,
    };
    tls::SdsSecretConfig {
        name: "www-cert".into(),
        sds_config: Some(ConfigSource {
            config_source_specifier: Some(ConfigSourceSpecifier::ApiConfigSource(
                ApiConfigSource {
                    api_type: api_config_source::ApiType::Grpc as i32,
                    transport_api_version: ApiVersion::V3 as i32,
                    grpc_services: vec![GrpcService {
                        target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(
                            grpc_service::EnvoyGrpc {
                                cluster_name: "sds-cluster".into(),
                                ..Default::default()
                            },
                        )),
                        timeout: Some(secs(5)),
                        ..Default::default()
                    }],
                    ..Default::default()
                },
            )),
            resource_api_version: ApiVersion::V3 as i32,
            ..Default::default()
        }),
    }
}

fn edit_sds(l: &mut lds::Listener, f: impl FnOnce(&mut tls::SdsSecretConfig)) {
    edit_public(l, |c| {
        let mut s = sds_secret();
        f(&mut s);
        c.common_tls_context
            .as_mut()
            .unwrap()
            .tls_certificate_sds_secret_configs = vec![s];
    });
}

fn sds_listener() -> lds::Listener {
    gateway_listener().tap(|l| edit_sds(l, |_| {}))
}

#[test]
fn accepts_a_certificate_from_sds() {
    let tls = Listener::try_from(sds_listener()).unwrap().tls.unwrap();
    let TlsClients::Public(p) = tls.clients else {
        panic!("{tls:?}")
    };
    assert_eq!(
        p.certificate,
        Some(PublicCertificate::Sds {
            cluster: "sds-cluster".into(),
            resource: "www-cert".into(),
        })
    );
}

#[test]
fn rejects_other_sds_sources() {
    use envoy_types::pb::envoy::config::core::v3::{
        AggregatedConfigSource, api_config_source, config_source::ConfigSourceSpecifier,
    };
    fn api(
        s: &mut tls::SdsSecretConfig,
    ) -> &mut envoy_types::pb::envoy::config::core::v3::ApiConfigSource {
        match s
            .sds_config
            .as_mut()
            .unwrap()
            .config_source_specifier
            .as_mut()
            .unwrap()
        {
            ConfigSourceSpecifier::ApiConfigSource(a) => a,
            _ => unreachable!(),
        }
    }
    let cases: &[Case<lds::Listener>] = &[
        (
            "no resource name",
            |l| edit_sds(l, |s| s.name.clear()),
            "tls_certificate_sds_secret_configs[0].name: missing",
        ),
        (
            "ADS",
            |l| {
                edit_sds(l, |s| {
                    s.sds_config.as_mut().unwrap().config_source_specifier =
                        Some(ConfigSourceSpecifier::Ads(AggregatedConfigSource {}))
                })
            },
            "unsupported secret source (only api_config_source",
        ),
        (
            "REST",
            |l| {
                edit_sds(l, |s| {
                    api(s).api_type = api_config_source::ApiType::Rest as i32
                })
            },
            "api_type: unsupported API type (only GRPC)",
        ),
        (
            "two gRPC services",
            |l| {
                edit_sds(l, |s| {
                    let a = api(s);
                    a.grpc_services.push(a.grpc_services[0].clone());
                })
            },
            "grpc_services: unsupported 2 gRPC services (only one)",
        ),
        (
            "no cluster name",
            |l| {
                edit_sds(l, |s| {
                    api(s).grpc_services[0].target_specifier = Some(
                        envoy_types::pb::envoy::config::core::v3::grpc_service::TargetSpecifier::EnvoyGrpc(
                            Default::default(),
                        ),
                    )
                })
            },
            "envoy_grpc.cluster_name: missing",
        ),
        (
            "an SDS certificate on a mesh mTLS listener",
            |l| {
                *l = strict_listener();
                let mut ctx = downstream_tls();
                ctx.common_tls_context
                    .as_mut()
                    .unwrap()
                    .tls_certificate_sds_secret_configs = vec![sds_secret()];
                l.filter_chains[0].transport_socket =
                    Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &ctx));
            },
            "sds_config: unsupported secret source",
        ),
    ];
    assert_rejects::<_, Listener>(sds_listener, cases);
}

#[test]
fn rejects_what_the_proxy_cannot_serve() {
    let cases: &[Case<lds::Listener>] = &[
        (
            "TLS 1.1 minimum",
            |l| {
                edit_params(l, |p| {
                    p.tls_minimum_protocol_version = TlsProtocol::TlSv11 as i32
                })
            },
            "tls_minimum_protocol_version: unsupported version TLSv1_1 (only TLSv1_2, TLSv1_3 or TLS_AUTO)",
        ),
        (
            "maximum below minimum",
            |l| {
                edit_params(l, |p| {
                    p.tls_minimum_protocol_version = TlsProtocol::TlSv13 as i32;
                    p.tls_maximum_protocol_version = TlsProtocol::TlSv12 as i32;
                })
            },
            "tls_maximum_protocol_version: lower than tls_minimum_protocol_version",
        ),
        (
            "a CBC suite",
            |l| edit_params(l, |p| p.cipher_suites = vec!["ECDHE-RSA-AES128-SHA".into()]),
            "cipher_suites[0]: unsupported cipher suite \"ECDHE-RSA-AES128-SHA\"",
        ),
        (
            "a suite twice",
            |l| {
                edit_params(l, |p| {
                    p.cipher_suites = vec![
                        "ECDHE-RSA-AES128-GCM-SHA256".into(),
                        "ECDHE-RSA-AES128-GCM-SHA256".into(),
                    ]
                })
            },
            "cipher_suites[1]: \"ECDHE-RSA-AES128-GCM-SHA256\" is listed twice",
        ),
        (
            "client validation without requiring a certificate",
            |l| {
                edit_public(l, |c| {
                    c.common_tls_context.as_mut().unwrap().validation_context_type = Some(
                        tls::common_tls_context::ValidationContextType::ValidationContextSdsSecretConfig(
                            secret(TRUST_BUNDLE_SECRET),
                        ),
                    )
                })
            },
            "validation_context_sds_secret_config: client validation without require_client_certificate",
        ),
        (
            "a certificate other than the workload's",
            |l| {
                edit_public(l, |c| {
                    c.common_tls_context
                        .as_mut()
                        .unwrap()
                        .tls_certificate_sds_secret_configs = vec![secret("api.example.com")]
                })
            },
            "unsupported secret \"api.example.com\"",
        ),
        (
            "public TLS on a sidecar's inbound listener",
            |l| l.traffic_direction = TrafficDirection::Inbound as i32,
            "TLS without client certificates on an inbound listener",
        ),
    ];
    assert_rejects::<_, Listener>(gateway_listener, cases);
}

/// The gateway listener behind the TLS inspector: `shop.example.com` gets its own
/// certificate from SDS, any other name the workload certificate.
fn sni_listener() -> lds::Listener {
    use rigging_mesh_xds::TRANSPORT_PROTOCOL_TLS;
    gateway_listener().tap(|l| {
        l.listener_filters = vec![tls_inspector()];
        let default = l.filter_chains[0].clone();
        let mut shop = default.clone();
        let mut ctx = public_context();
        ctx.common_tls_context
            .as_mut()
            .unwrap()
            .tls_certificate_sds_secret_configs = vec![sds_secret()];
        shop.transport_socket = Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &ctx));
        shop.filter_chain_match = Some(lds::FilterChainMatch {
            server_names: vec!["shop.example.com".into()],
            transport_protocol: TRANSPORT_PROTOCOL_TLS.into(),
            ..Default::default()
        });
        let mut any = default;
        any.filter_chain_match = Some(lds::FilterChainMatch {
            transport_protocol: TRANSPORT_PROTOCOL_TLS.into(),
            ..Default::default()
        });
        l.filter_chains = vec![shop, any];
    })
}

#[test]
fn certificates_by_server_name() {
    let l = Listener::try_from(sni_listener()).unwrap();
    assert!(matches!(l.kind, crate::types::ListenerKind::Http { .. }));
    let TlsClients::Public(p) = l.tls.unwrap().clients else {
        panic!("not public")
    };
    assert_eq!(p.certificate, Some(PublicCertificate::Workload));
    assert_eq!(
        p.by_server_name,
        [crate::types::NamedCertificate {
            server_names: vec!["shop.example.com".into()],
            certificate: PublicCertificate::Sds {
                cluster: "sds-cluster".into(),
                resource: "www-cert".into(),
            },
        }]
    );
    let cases: &[Case<lds::Listener>] = &[
        (
            "two chains for any name",
            |l| {
                let mut again = l.filter_chains[1].clone();
                again.filter_chain_match.as_mut().unwrap().server_names = Vec::new();
                l.filter_chains.push(again);
            },
            "filter_chains[2].filter_chain_match: a second chain without server names",
        ),
        (
            "a name twice",
            |l| {
                let again = l.filter_chains[0].clone();
                l.filter_chains.insert(1, again);
            },
            "\"shop.example.com\" is matched by an earlier chain too",
        ),
        (
            "other TLS settings per chain",
            |l| {
                let mut ctx = public_context();
                ctx.common_tls_context
                    .as_mut()
                    .unwrap()
                    .tls_params
                    .as_mut()
                    .unwrap()
                    .cipher_suites
                    .clear();
                l.filter_chains[1].transport_socket =
                    Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &ctx));
            },
            "TLS settings other than the certificate differ from filter_chains[0]'s",
        ),
        (
            "mesh mTLS beside public TLS",
            |l| {
                l.filter_chains[1].transport_socket =
                    Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &downstream_tls()))
            },
            "mTLS on an outbound listener",
        ),
    ];
    assert_rejects::<_, Listener>(sni_listener, cases);
}
