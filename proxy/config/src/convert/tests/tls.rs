//! Mesh mTLS: the strict and permissive inbound listeners and the mTLS cluster Pilot sends are
//! accepted, and every other TLS setting is rejected naming its field.

use envoy_types::pb::envoy::config::cluster::v3 as cds;
use envoy_types::pb::envoy::config::core::v3::{
    DataSource, TrafficDirection, TransportSocket, transport_socket,
};
use envoy_types::pb::envoy::config::listener::v3::{self as lds, FilterChainMatch};
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    self as tls, CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher,
    TlsSessionTicketKeys, common_tls_context::ValidationContextType, downstream_tls_context,
    subject_alt_name_matcher::SanType, tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use envoy_types::pb::google::protobuf::{Any, BoolValue};
use rigging_mesh_xds::{
    DOWNSTREAM_TLS_CONTEXT, RAW_BUFFER_TRANSPORT_SOCKET_NAME, ResourceType, TLS_INSPECTOR,
    UPSTREAM_TLS_CONTEXT, pack, unpack,
};
use serde_json::json;

use super::fixtures::{
    API_ID, Tap, ads, downstream_tls, http_listener, mtls_cluster, permissive_listener, secret,
    static_cluster, strict_listener, tls_socket, upstream_tls, with_hcm,
};
use super::{Case, assert_rejects};
use crate::types::{
    Cluster, ClusterTls, InboundTls, InboundTlsMode, Listener, ListenerKind, TlsClients,
    UpstreamTls,
};
use crate::{ConfigError, ProxyConfig};

/// The typed config of a TLS transport socket.
fn socket_any(socket: &mut Option<TransportSocket>) -> &mut Any {
    match socket.as_mut().and_then(|s| s.config_type.as_mut()) {
        Some(transport_socket::ConfigType::TypedConfig(any)) => any,
        None => panic!("no TLS transport socket"),
    }
}

/// Mutates the `DownstreamTlsContext` of filter chain `chain`.
fn edit_downstream(
    l: &mut lds::Listener,
    chain: usize,
    f: impl FnOnce(&mut tls::DownstreamTlsContext),
) {
    let any = socket_any(&mut l.filter_chains[chain].transport_socket);
    let mut context = unpack(DOWNSTREAM_TLS_CONTEXT, any).unwrap();
    f(&mut context);
    *any = pack(DOWNSTREAM_TLS_CONTEXT, &context);
}

/// Mutates the `CommonTlsContext` of the first chain's `DownstreamTlsContext`.
fn edit_server_common(l: &mut lds::Listener, f: impl FnOnce(&mut CommonTlsContext)) {
    edit_downstream(l, 0, |d| f(d.common_tls_context.as_mut().unwrap()));
}

fn edit_upstream(c: &mut cds::Cluster, f: impl FnOnce(&mut tls::UpstreamTlsContext)) {
    let any = socket_any(&mut c.transport_socket);
    let mut context = unpack(UPSTREAM_TLS_CONTEXT, any).unwrap();
    f(&mut context);
    *any = pack(UPSTREAM_TLS_CONTEXT, &context);
}

fn edit_client_common(c: &mut cds::Cluster, f: impl FnOnce(&mut CommonTlsContext)) {
    edit_upstream(c, |u| f(u.common_tls_context.as_mut().unwrap()));
}

/// Mutates the combined validation context of the cluster's upstream TLS.
fn edit_combined(
    c: &mut cds::Cluster,
    f: impl FnOnce(&mut tls::common_tls_context::CombinedCertificateValidationContext),
) {
    edit_client_common(c, |common| match common.validation_context_type.as_mut() {
        Some(ValidationContextType::CombinedValidationContext(combined)) => f(combined),
        _ => panic!("not a combined validation context"),
    });
}

fn edit_validation(c: &mut cds::Cluster, f: impl FnOnce(&mut CertificateValidationContext)) {
    edit_combined(c, |combined| {
        f(combined.default_validation_context.as_mut().unwrap())
    });
}

/// Mutates the first SAN matcher of the cluster's upstream TLS.
fn edit_san(c: &mut cds::Cluster, f: impl FnOnce(&mut SubjectAltNameMatcher)) {
    edit_validation(c, |v| f(&mut v.match_typed_subject_alt_names[0]));
}

fn alpn() -> Vec<String> {
    vec!["h2".into(), "http/1.1".into()]
}

#[test]
fn accepts_the_strict_listener_pilot_sends() {
    let l = Listener::try_from(strict_listener()).unwrap();
    assert_eq!(
        l.tls,
        Some(InboundTls {
            mode: InboundTlsMode::Strict,
            alpn: alpn(),
            clients: TlsClients::Mesh,
        })
    );
    assert_eq!(
        l.kind,
        ListenerKind::Tcp {
            cluster: "local_app".into()
        }
    );
    // TLS_AUTO as the maximum is Envoy's default, TLS 1.3; no ALPN is a valid subset.
    let auto = strict_listener().tap(|l| {
        edit_server_common(l, |c| {
            c.tls_params.as_mut().unwrap().tls_maximum_protocol_version =
                TlsProtocol::TlsAuto as i32;
            c.alpn_protocols.clear();
        })
    });
    assert_eq!(Listener::try_from(auto).unwrap().tls.unwrap().alpn, [""; 0]);
}

#[test]
fn accepts_the_permissive_listener_pilot_sends_in_either_order() {
    let expected = Some(InboundTls {
        mode: InboundTlsMode::Permissive,
        alpn: alpn(),
        clients: TlsClients::Mesh,
    });
    let l = Listener::try_from(permissive_listener()).unwrap();
    assert_eq!(l.tls, expected);
    assert_eq!(l.direction, crate::types::Direction::Inbound);
    let reversed = permissive_listener().tap(|l| l.filter_chains.reverse());
    assert_eq!(Listener::try_from(reversed).unwrap().tls, expected);
}

#[test]
fn accepts_the_mtls_cluster_pilot_sends() {
    let c = Cluster::try_from(mtls_cluster()).unwrap();
    assert_eq!(
        c.tls,
        Some(ClusterTls::Mesh(UpstreamTls {
            expected_ids: vec![API_ID.into()],
            sni: "api".into(),
            alpn: alpn(),
        }))
    );
    let two = mtls_cluster().tap(|c| {
        edit_validation(c, |v| {
            let mut other = v.match_typed_subject_alt_names[0].clone();
            other.matcher.as_mut().unwrap().match_pattern = Some(MatchPattern::Exact(
                "spiffe://rigging.local/ns/default/dc/dc1/svc/api-canary".into(),
            ));
            v.match_typed_subject_alt_names.push(other);
        })
    });
    let Some(ClusterTls::Mesh(tls)) = Cluster::try_from(two).unwrap().tls else {
        panic!("mesh mTLS expected")
    };
    assert_eq!(tls.expected_ids.len(), 2);
}

#[test]
fn a_bare_raw_buffer_socket_is_plaintext() {
    let raw = || {
        Some(TransportSocket {
            name: RAW_BUFFER_TRANSPORT_SOCKET_NAME.into(),
            config_type: None,
        })
    };
    let l = http_listener().tap(|l| l.filter_chains[0].transport_socket = raw());
    assert_eq!(Listener::try_from(l).unwrap().tls, None);
    let c = super::fixtures::eds_cluster().tap(|c| c.transport_socket = raw());
    assert_eq!(Cluster::try_from(c).unwrap().tls, None);
    let c = static_cluster().tap(|c| c.transport_socket = raw());
    assert_eq!(Cluster::try_from(c).unwrap().tls, None);
}

#[test]
fn tls_settings_are_in_the_config_dump() {
    let config = ProxyConfig::default()
        .with_resources(
            ResourceType::Listener,
            &[pack(
                ResourceType::Listener.type_url(),
                &permissive_listener(),
            )],
        )
        .unwrap()
        .with_resources(
            ResourceType::Cluster,
            &[
                pack(ResourceType::Cluster.type_url(), &mtls_cluster()),
                pack(ResourceType::Cluster.type_url(), &static_cluster()),
            ],
        )
        .unwrap();
    let dump = serde_json::to_value(&config).unwrap();
    assert_eq!(
        dump["listeners"]["inbound:10.0.0.5:20000"]["tls"],
        json!({ "mode": "permissive", "alpn": ["h2", "http/1.1"], "clients": { "type": "mesh" } })
    );
    assert_eq!(
        dump["clusters"]["api"]["tls"],
        json!({ "type": "mesh", "expected_ids": [API_ID], "sni": "api", "alpn": ["h2", "http/1.1"] })
    );
    assert_eq!(dump["clusters"]["local_app"]["tls"], json!(null));
}

#[test]
#[allow(deprecated)]
fn rejects_server_tls_it_does_not_implement() {
    let cases: &[Case<lds::Listener>] = &[
        (
            "another secret",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_certificate_sds_secret_configs[0] = secret("mine")
                })
            },
            r#"listener "inbound:10.0.0.5:20000": filter_chains[0].transport_socket.typed_config.common_tls_context.tls_certificate_sds_secret_configs[0].name: unsupported secret "mine" (only the proxy's own secrets 'default' and 'ROOTCA' are supported)"#,
        ),
        (
            "the bundle as the certificate",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_certificate_sds_secret_configs[0] = secret("ROOTCA")
                })
            },
            r#"tls_certificate_sds_secret_configs[0].name: "ROOTCA" is the trust bundle, expected "default" (the workload certificate) here"#,
        ),
        (
            "sds_config set",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_certificate_sds_secret_configs[0].sds_config = Some(ads())
                })
            },
            "tls_certificate_sds_secret_configs[0].sds_config: unsupported secret source (only the proxy's own secrets 'default' and 'ROOTCA' are supported)",
        ),
        (
            "no certificate",
            |l| edit_server_common(l, |c| c.tls_certificate_sds_secret_configs.clear()),
            "common_tls_context.tls_certificate_sds_secret_configs: missing",
        ),
        (
            "two certificates",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_certificate_sds_secret_configs.push(secret("default"))
                })
            },
            "tls_certificate_sds_secret_configs: unsupported 2 certificates",
        ),
        (
            "inline certificate",
            |l| edit_server_common(l, |c| c.tls_certificates.push(Default::default())),
            "common_tls_context.tls_certificates: unsupported field",
        ),
        (
            "another trust bundle",
            |l| {
                edit_server_common(l, |c| {
                    c.validation_context_type = Some(
                        ValidationContextType::ValidationContextSdsSecretConfig(secret("bundle")),
                    )
                })
            },
            r#"common_tls_context.validation_context_sds_secret_config.name: unsupported secret "bundle" (only the proxy's own secrets"#,
        ),
        (
            "trust bundle from sds",
            |l| {
                edit_server_common(l, |c| {
                    let mut bundle = secret("ROOTCA");
                    bundle.sds_config = Some(ads());
                    c.validation_context_type = Some(
                        ValidationContextType::ValidationContextSdsSecretConfig(bundle),
                    )
                })
            },
            "common_tls_context.validation_context_sds_secret_config.sds_config: unsupported secret source",
        ),
        (
            "no client validation",
            |l| edit_server_common(l, |c| c.validation_context_type = None),
            "common_tls_context.validation_context_sds_secret_config: missing",
        ),
        (
            "inline client validation",
            |l| {
                edit_server_common(l, |c| {
                    c.validation_context_type =
                        Some(ValidationContextType::ValidationContext(Default::default()))
                })
            },
            "common_tls_context.validation_context: unsupported client validation",
        ),
        (
            "client certificate not required",
            |l| {
                edit_downstream(l, 0, |d| {
                    d.require_client_certificate = Some(BoolValue { value: false })
                })
            },
            "filter_chains[0].transport_socket.typed_config.common_tls_context.validation_context_sds_secret_config: client validation without require_client_certificate",
        ),
        (
            "client certificate requirement absent",
            |l| edit_downstream(l, 0, |d| d.require_client_certificate = None),
            "validation_context_sds_secret_config: client validation without require_client_certificate",
        ),
        (
            "TLS 1.2 minimum",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_params.as_mut().unwrap().tls_minimum_protocol_version =
                        TlsProtocol::TlSv12 as i32
                })
            },
            "common_tls_context.tls_params.tls_minimum_protocol_version: unsupported minimum version TLSv1_2 (only TLSv1_3)",
        ),
        (
            "Envoy's default minimum",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_params.as_mut().unwrap().tls_minimum_protocol_version =
                        TlsProtocol::TlsAuto as i32
                })
            },
            "tls_minimum_protocol_version: unsupported minimum version TLS_AUTO",
        ),
        (
            "no TLS parameters",
            |l| edit_server_common(l, |c| c.tls_params = None),
            "common_tls_context.tls_params.tls_minimum_protocol_version: missing",
        ),
        (
            "TLS 1.2 maximum",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_params.as_mut().unwrap().tls_maximum_protocol_version =
                        TlsProtocol::TlSv12 as i32
                })
            },
            "tls_params.tls_maximum_protocol_version: unsupported maximum version TLSv1_2",
        ),
        (
            "unknown TLS version",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_params.as_mut().unwrap().tls_maximum_protocol_version = 9
                })
            },
            "tls_params.tls_maximum_protocol_version: unknown value 9",
        ),
        (
            "cipher suites",
            |l| {
                edit_server_common(l, |c| {
                    c.tls_params.as_mut().unwrap().cipher_suites = vec!["AES128".into()]
                })
            },
            "tls_params.cipher_suites: unsupported field",
        ),
        (
            "unknown ALPN",
            |l| edit_server_common(l, |c| c.alpn_protocols.push("h3".into())),
            r#"common_tls_context.alpn_protocols[2]: unsupported ALPN protocol "h3" (only h2, http/1.1)"#,
        ),
        (
            "ALPN twice",
            |l| edit_server_common(l, |c| c.alpn_protocols.push("h2".into())),
            r#"common_tls_context.alpn_protocols[2]: "h2" is listed twice"#,
        ),
        (
            "key log",
            |l| edit_server_common(l, |c| c.key_log = Some(Default::default())),
            "common_tls_context.key_log: unsupported field",
        ),
        (
            "OCSP stapling",
            |l| {
                edit_downstream(l, 0, |d| {
                    d.ocsp_staple_policy =
                        downstream_tls_context::OcspStaplePolicy::MustStaple as i32
                })
            },
            "filter_chains[0].transport_socket.typed_config.ocsp_staple_policy: unsupported field",
        ),
        (
            "session ticket keys",
            |l| {
                edit_downstream(l, 0, |d| {
                    d.session_ticket_keys_type = Some(
                        downstream_tls_context::SessionTicketKeysType::SessionTicketKeys(
                            TlsSessionTicketKeys {
                                keys: vec![DataSource::default()],
                            },
                        ),
                    )
                })
            },
            "filter_chains[0].transport_socket.typed_config.session_ticket_keys: unsupported field",
        ),
        (
            "require SNI",
            |l| edit_downstream(l, 0, |d| d.require_sni = Some(BoolValue { value: true })),
            "typed_config.require_sni: unsupported field",
        ),
        (
            "no common context",
            |l| edit_downstream(l, 0, |d| d.common_tls_context = None),
            "typed_config.common_tls_context: missing",
        ),
        (
            "another transport socket",
            |l| {
                l.filter_chains[0].transport_socket.as_mut().unwrap().name =
                    "envoy.transport_sockets.alts".into()
            },
            r#"filter_chains[0].transport_socket.name: unsupported transport socket "envoy.transport_sockets.alts" (only envoy.transport_sockets.tls)"#,
        ),
        (
            "nameless transport socket",
            |l| {
                l.filter_chains[0]
                    .transport_socket
                    .as_mut()
                    .unwrap()
                    .name
                    .clear()
            },
            "filter_chains[0].transport_socket.name: missing",
        ),
        (
            "raw buffer with settings",
            |l| {
                l.filter_chains[0].transport_socket.as_mut().unwrap().name =
                    RAW_BUFFER_TRANSPORT_SOCKET_NAME.into()
            },
            "filter_chains[0].transport_socket.typed_config: unsupported raw_buffer settings",
        ),
        (
            "client context on a listener",
            |l| {
                l.filter_chains[0].transport_socket =
                    Some(tls_socket(UPSTREAM_TLS_CONTEXT, &upstream_tls()))
            },
            "filter_chains[0].transport_socket.typed_config: unsupported type URL \"type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\"",
        ),
        (
            "no TLS context",
            |l| {
                l.filter_chains[0]
                    .transport_socket
                    .as_mut()
                    .unwrap()
                    .config_type = None
            },
            "filter_chains[0].transport_socket.typed_config: missing",
        ),
        (
            "undecodable TLS context",
            |l| {
                *socket_any(&mut l.filter_chains[0].transport_socket) = Any {
                    type_url: DOWNSTREAM_TLS_CONTEXT.into(),
                    value: vec![0xff, 0xff, 0xff],
                }
            },
            "filter_chains[0].transport_socket.typed_config: cannot decode",
        ),
        (
            "outbound",
            |l| l.traffic_direction = TrafficDirection::Outbound as i32,
            "filter_chains[0].transport_socket: unsupported mTLS on an outbound listener (the proxy terminates mesh mTLS only inbound)",
        ),
        (
            "chain match without the inspector",
            |l| {
                l.filter_chains[0].filter_chain_match = Some(FilterChainMatch {
                    transport_protocol: "tls".into(),
                    ..Default::default()
                })
            },
            "filter_chains[0].filter_chain_match: unsupported field",
        ),
    ];
    assert_rejects::<_, Listener>(strict_listener, cases);
    let outbound_http = http_listener().tap(|l| {
        l.filter_chains[0].transport_socket =
            Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &downstream_tls()))
    });
    assert!(
        Listener::try_from(outbound_http)
            .unwrap_err()
            .to_string()
            .contains("unsupported mTLS on an outbound listener")
    );
}

#[test]
fn rejects_permissive_listeners_it_does_not_implement() {
    let cases: &[Case<lds::Listener>] = &[
        (
            "three chains",
            |l| l.filter_chains.push(l.filter_chains[1].clone()),
            "filter_chains: unsupported 3 filter chains behind the tls_inspector (only two: one for tls, one for raw_buffer)",
        ),
        (
            "one chain",
            |l| {
                l.filter_chains.pop();
            },
            "filter_chains: unsupported 1 filter chains behind the tls_inspector",
        ),
        (
            "two chains without the inspector",
            |l| l.listener_filters.clear(),
            "filter_chains: unsupported 2 filter chains (only one, or two behind the tls_inspector)",
        ),
        (
            "mismatched chains",
            |l| {
                let http = http_listener().filter_chains[0].filters.clone();
                l.filter_chains[1].filters = http;
            },
            "filter_chains[1].filters: differ from filter_chains[0].filters; both chains of a permissive listener must do the same",
        ),
        (
            "two tls chains",
            |l| {
                l.filter_chains[1] = l.filter_chains[0].clone();
            },
            r#"filter_chains[1].filter_chain_match.transport_protocol: "tls" again; a permissive listener has one chain for tls and one for raw_buffer"#,
        ),
        (
            "plaintext chain with TLS",
            |l| l.filter_chains[1].transport_socket = l.filter_chains[0].transport_socket.clone(),
            "filter_chains[1].transport_socket: the raw_buffer chain of a permissive listener must be plaintext",
        ),
        (
            "tls chain without TLS",
            |l| l.filter_chains[0].transport_socket = None,
            "filter_chains[0].transport_socket: missing",
        ),
        (
            "no chain match",
            |l| l.filter_chains[0].filter_chain_match = None,
            "filter_chains[0].filter_chain_match.transport_protocol: missing",
        ),
        (
            "server names",
            |l| {
                l.filter_chains[0]
                    .filter_chain_match
                    .as_mut()
                    .unwrap()
                    .server_names = vec!["api".into()]
            },
            // server names make it an SNI listener, whose every chain names some
            "filter_chains[1].filter_chain_match.server_names: missing",
        ),
        (
            "application protocols",
            |l| {
                l.filter_chains[1]
                    .filter_chain_match
                    .as_mut()
                    .unwrap()
                    .application_protocols = vec!["h2".into()]
            },
            "filter_chains[1].filter_chain_match.application_protocols: unsupported field",
        ),
        (
            "another transport protocol",
            |l| {
                l.filter_chains[1]
                    .filter_chain_match
                    .as_mut()
                    .unwrap()
                    .transport_protocol = "quic".into()
            },
            r#"filter_chains[1].filter_chain_match.transport_protocol: unsupported transport protocol "quic" (only tls or raw_buffer)"#,
        ),
        (
            "unknown listener filter",
            |l| l.listener_filters[0].name = "envoy.filters.listener.http_inspector".into(),
            r#"listener_filters[0].name: unsupported listener filter "envoy.filters.listener.http_inspector" (only envoy.filters.listener.tls_inspector)"#,
        ),
        (
            "two listener filters",
            |l| l.listener_filters.push(l.listener_filters[0].clone()),
            "listener_filters: unsupported 2 listener filters (only the tls_inspector)",
        ),
        (
            "inspector settings",
            |l| {
                l.listener_filters[0].config_type =
                    Some(lds::listener_filter::ConfigType::TypedConfig(pack(
                        TLS_INSPECTOR,
                        &TlsInspector {
                            enable_ja3_fingerprinting: Some(BoolValue { value: true }),
                            ..Default::default()
                        },
                    )))
            },
            "listener_filters[0].typed_config.enable_ja3_fingerprinting: unsupported field",
        ),
        (
            "inspector of another type",
            |l| {
                l.listener_filters[0].config_type =
                    Some(lds::listener_filter::ConfigType::TypedConfig(Any {
                        type_url: DOWNSTREAM_TLS_CONTEXT.into(),
                        value: vec![],
                    }))
            },
            "listener_filters[0].typed_config: unsupported type URL",
        ),
        (
            "inspector without config",
            |l| l.listener_filters[0].config_type = None,
            "listener_filters[0].typed_config: missing",
        ),
        (
            "inspector disabled sometimes",
            |l| l.listener_filters[0].filter_disabled = Some(Default::default()),
            "listener_filters[0].filter_disabled: unsupported field",
        ),
        (
            "outbound",
            |l| l.traffic_direction = TrafficDirection::Outbound as i32,
            "filter_chains[0].transport_socket: unsupported mTLS on an outbound listener",
        ),
    ];
    assert_rejects::<_, Listener>(permissive_listener, cases);
    // the inspector alone, in front of one HTTP chain, is not a permissive listener either
    let lone = with_hcm(super::fixtures::hcm()).tap(|l| {
        l.listener_filters = permissive_listener().listener_filters;
    });
    assert!(
        Listener::try_from(lone)
            .unwrap_err()
            .to_string()
            .contains("unsupported 1 filter chains behind the tls_inspector")
    );
}

#[test]
#[allow(deprecated)]
fn rejects_client_tls_it_does_not_implement() {
    let cases: &[Case<cds::Cluster>] = &[
        (
            "no SAN matcher",
            |c| edit_validation(c, |v| v.match_typed_subject_alt_names.clear()),
            r#"cluster "api": transport_socket.typed_config.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names: an mTLS cluster must name the identities it accepts"#,
        ),
        (
            "no default validation context",
            |c| edit_combined(c, |v| v.default_validation_context = None),
            "default_validation_context.match_typed_subject_alt_names: an mTLS cluster must name the identities it accepts",
        ),
        (
            "trust bundle alone",
            |c| {
                edit_client_common(c, |common| {
                    common.validation_context_type = Some(
                        ValidationContextType::ValidationContextSdsSecretConfig(secret("ROOTCA")),
                    )
                })
            },
            "common_tls_context.validation_context_sds_secret_config: an mTLS cluster must name the identities it accepts",
        ),
        (
            "no validation",
            |c| edit_client_common(c, |common| common.validation_context_type = None),
            "common_tls_context.combined_validation_context: missing",
        ),
        (
            "DNS SAN type",
            |c| edit_san(c, |m| m.san_type = SanType::Dns as i32),
            "match_typed_subject_alt_names[0].san_type: unsupported SAN type DNS (only URI, for SPIFFE IDs)",
        ),
        (
            "unknown SAN type",
            |c| edit_san(c, |m| m.san_type = 42),
            "match_typed_subject_alt_names[0].san_type: unknown value 42",
        ),
        (
            "SAN oid",
            |c| edit_san(c, |m| m.oid = "1.2.3".into()),
            "match_typed_subject_alt_names[0].oid: unsupported field",
        ),
        (
            "prefix matcher",
            |c| {
                edit_san(c, |m| {
                    m.matcher.as_mut().unwrap().match_pattern =
                        Some(MatchPattern::Prefix("spiffe://rigging.local/".into()))
                })
            },
            "match_typed_subject_alt_names[0].matcher.prefix: unsupported matcher (only exact SPIFFE IDs)",
        ),
        (
            "case-insensitive matcher",
            |c| edit_san(c, |m| m.matcher.as_mut().unwrap().ignore_case = true),
            "match_typed_subject_alt_names[0].matcher.ignore_case: unsupported field",
        ),
        (
            "no matcher",
            |c| edit_san(c, |m| m.matcher = None),
            "match_typed_subject_alt_names[0].matcher.exact: missing",
        ),
        (
            "bad SPIFFE ID",
            |c| {
                edit_san(c, |m| {
                    m.matcher.as_mut().unwrap().match_pattern =
                        Some(MatchPattern::Exact("https://api.rigging.local".into()))
                })
            },
            r#"match_typed_subject_alt_names[0].matcher.exact: "https://api.rigging.local" is not a SPIFFE ID: spiffe id must start with the lowercase scheme `spiffe://`"#,
        ),
        (
            "deprecated SAN matchers",
            |c| edit_validation(c, |v| v.match_subject_alt_names.push(Default::default())),
            "default_validation_context.match_subject_alt_names: unsupported field",
        ),
        (
            "inline CA",
            |c| edit_validation(c, |v| v.trusted_ca = Some(DataSource::default())),
            "default_validation_context.trusted_ca: unsupported field",
        ),
        (
            "expired certificates",
            |c| edit_validation(c, |v| v.allow_expired_certificate = true),
            "default_validation_context.allow_expired_certificate: unsupported field",
        ),
        (
            "another trust bundle",
            |c| {
                edit_combined(c, |v| {
                    v.validation_context_sds_secret_config = Some(secret("bundle"))
                })
            },
            r#"combined_validation_context.validation_context_sds_secret_config.name: unsupported secret "bundle" (only the proxy's own secrets 'default' and 'ROOTCA' are supported)"#,
        ),
        (
            "trust bundle from sds",
            |c| {
                edit_combined(c, |v| {
                    v.validation_context_sds_secret_config
                        .as_mut()
                        .unwrap()
                        .sds_config = Some(ads())
                })
            },
            "combined_validation_context.validation_context_sds_secret_config.sds_config: unsupported secret source (only the proxy's own secrets",
        ),
        (
            "no trust bundle",
            |c| edit_combined(c, |v| v.validation_context_sds_secret_config = None),
            "combined_validation_context.validation_context_sds_secret_config: missing",
        ),
        (
            "another certificate",
            |c| {
                edit_client_common(c, |common| {
                    common.tls_certificate_sds_secret_configs[0] = secret("spire")
                })
            },
            r#"tls_certificate_sds_secret_configs[0].name: unsupported secret "spire""#,
        ),
        (
            "TLS 1.2 minimum",
            |c| {
                edit_client_common(c, |common| {
                    common
                        .tls_params
                        .as_mut()
                        .unwrap()
                        .tls_minimum_protocol_version = TlsProtocol::TlSv12 as i32
                })
            },
            "transport_socket.typed_config.common_tls_context.tls_params.tls_minimum_protocol_version: unsupported minimum version TLSv1_2",
        ),
        (
            "unknown ALPN",
            |c| edit_client_common(c, |common| common.alpn_protocols = vec!["spdy/3".into()]),
            r#"common_tls_context.alpn_protocols[0]: unsupported ALPN protocol "spdy/3""#,
        ),
        (
            "no SNI",
            |c| edit_upstream(c, |u| u.sni.clear()),
            "transport_socket.typed_config.sni: missing",
        ),
        (
            "SNI not a host name",
            |c| edit_upstream(c, |u| u.sni = "api service".into()),
            r#"transport_socket.typed_config.sni: "api service" has the character ' '; expected a host name"#,
        ),
        (
            "renegotiation",
            |c| edit_upstream(c, |u| u.allow_renegotiation = true),
            "transport_socket.typed_config.allow_renegotiation: unsupported field",
        ),
        (
            "auto SNI",
            |c| edit_upstream(c, |u| u.auto_host_sni = true),
            "transport_socket.typed_config.auto_host_sni: unsupported field",
        ),
        (
            "server context on a cluster",
            |c| c.transport_socket = Some(tls_socket(DOWNSTREAM_TLS_CONTEXT, &downstream_tls())),
            r#"transport_socket.typed_config: unsupported type URL "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext""#,
        ),
        (
            "static cluster",
            |c| {
                let local = static_cluster();
                c.cluster_discovery_type = local.cluster_discovery_type;
                c.eds_cluster_config = None;
                c.load_assignment = local.load_assignment;
                c.load_assignment.as_mut().unwrap().cluster_name = "api".into();
            },
            r#"cluster "api": transport_socket: unsupported mTLS to a static cluster (the local application is reached in plaintext)"#,
        ),
        (
            "socket matches",
            |c| c.transport_socket_matches.push(Default::default()),
            "transport_socket_matches: unsupported field",
        ),
    ];
    assert_rejects::<_, Cluster>(mtls_cluster, cases);
}

#[test]
fn the_errors_are_config_errors_naming_the_resource() {
    let l =
        strict_listener().tap(|l| edit_server_common(l, |c| c.alpn_protocols = vec!["x".into()]));
    assert!(matches!(
        Listener::try_from(l),
        Err(ConfigError::Unsupported { field, .. })
            if field == "filter_chains[0].transport_socket.typed_config.common_tls_context.alpn_protocols[0]"
    ));
}
