//! A terminating gateway's resources: the SNI listener (mTLS chains picked by server name)
//! and clusters that originate TLS to services outside the mesh, from files.

use envoy_types::pb::envoy::config::cluster::v3 as cds;
use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::listener::v3 as lds;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3 as tls;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use rigging_mesh_xds::{TRANSPORT_PROTOCOL_TLS, UPSTREAM_TLS_CONTEXT};

use super::fixtures::*;
use super::{Case, assert_rejects};
use crate::types::{
    CertificateFiles, Cluster, ClusterTls, InboundTlsMode, Listener, ListenerKind, OriginationTls,
    SniRoute,
};

/// The strict listener's mTLS chain once per service, each matching its server name.
fn sni_listener() -> lds::Listener {
    strict_listener().tap(|l| {
        l.listener_filters = vec![tls_inspector()];
        let chain = l.filter_chains[0].clone();
        l.filter_chains = ["billing", "ledger"]
            .into_iter()
            .map(|name| {
                let mut c = chain.clone();
                c.filter_chain_match = Some(lds::FilterChainMatch {
                    server_names: vec![name.into()],
                    transport_protocol: TRANSPORT_PROTOCOL_TLS.into(),
                    ..Default::default()
                });
                c
            })
            .collect();
    })
}

fn file(path: &str) -> Option<DataSource> {
    Some(DataSource {
        specifier: Some(data_source::Specifier::Filename(path.into())),
        ..Default::default()
    })
}

fn origination_context() -> tls::UpstreamTlsContext {
    tls::UpstreamTlsContext {
        sni: "billing.example.com".into(),
        common_tls_context: Some(tls::CommonTlsContext {
            tls_certificates: vec![tls::TlsCertificate {
                certificate_chain: file("/etc/ssl/gw.pem"),
                private_key: file("/etc/ssl/gw-key.pem"),
                ..Default::default()
            }],
            alpn_protocols: vec!["http/1.1".into()],
            validation_context_type: Some(
                tls::common_tls_context::ValidationContextType::ValidationContext(
                    tls::CertificateValidationContext {
                        trusted_ca: file("/etc/ssl/ca.pem"),
                        match_typed_subject_alt_names: vec![tls::SubjectAltNameMatcher {
                            san_type: tls::subject_alt_name_matcher::SanType::Dns as i32,
                            matcher: Some(StringMatcher {
                                match_pattern: Some(string_matcher::MatchPattern::Exact(
                                    "billing.example.com".into(),
                                )),
                                ..Default::default()
                            }),
                            ..Default::default()
                        }],
                        ..Default::default()
                    },
                ),
            ),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn origination_cluster() -> cds::Cluster {
    eds_cluster().tap(|c| {
        c.transport_socket = Some(tls_socket(UPSTREAM_TLS_CONTEXT, &origination_context()))
    })
}

#[test]
fn the_sni_listener() {
    let l = Listener::try_from(sni_listener()).unwrap();
    assert_eq!(
        l.kind,
        ListenerKind::Sni {
            routes: vec![
                SniRoute {
                    server_names: vec!["billing".into()],
                    cluster: "local_app".into(),
                },
                SniRoute {
                    server_names: vec!["ledger".into()],
                    cluster: "local_app".into(),
                },
            ]
        }
    );
    let tls = l.tls.unwrap();
    assert_eq!(tls.mode, InboundTlsMode::Strict);
    assert_eq!(tls.alpn, ["h2", "http/1.1"]);
}

fn names(l: &mut lds::Listener) -> &mut Vec<String> {
    &mut l.filter_chains[1]
        .filter_chain_match
        .as_mut()
        .unwrap()
        .server_names
}

#[test]
fn sni_listener_rejections() {
    let cases: &[Case<lds::Listener>] = &[
        (
            "a name twice",
            |l| names(l)[0] = "billing".into(),
            r#"filter_chains[1].filter_chain_match.server_names: "billing" is matched by an earlier chain too"#,
        ),
        (
            "a chain without names",
            |l| names(l).clear(),
            "filter_chains[1].filter_chain_match.server_names",
        ),
        (
            "a wildcard name",
            |l| names(l)[0] = "*.example.com".into(),
            "an exact server name (no wildcard)",
        ),
        (
            "a plaintext chain",
            |l| l.filter_chains[1].transport_socket = None,
            "filter_chains[1].transport_socket",
        ),
        (
            "an HTTP chain",
            |l| l.filter_chains[1].filters = http_listener().filter_chains[0].filters.clone(),
            "an HTTP connection manager behind server names",
        ),
    ];
    assert_rejects::<_, Listener>(sni_listener, cases);
}

#[test]
fn origination_from_files() {
    let c = Cluster::try_from(origination_cluster()).unwrap();
    assert_eq!(
        c.tls,
        Some(ClusterTls::Origination(OriginationTls {
            ca_file: "/etc/ssl/ca.pem".into(),
            client_certificate: Some(CertificateFiles {
                certificate_chain: "/etc/ssl/gw.pem".into(),
                private_key: "/etc/ssl/gw-key.pem".into(),
            }),
            sni: Some("billing.example.com".into()),
            verify_names: vec!["billing.example.com".into()],
            alpn: vec!["http/1.1".into()],
        }))
    );
    // One-way TLS without SNI: the chain alone is checked.
    let mut ctx = origination_context();
    ctx.sni.clear();
    let common = ctx.common_tls_context.as_mut().unwrap();
    common.tls_certificates.clear();
    if let Some(tls::common_tls_context::ValidationContextType::ValidationContext(v)) =
        common.validation_context_type.as_mut()
    {
        v.match_typed_subject_alt_names.clear();
    }
    let c =
        eds_cluster().tap(|c| c.transport_socket = Some(tls_socket(UPSTREAM_TLS_CONTEXT, &ctx)));
    let Some(ClusterTls::Origination(o)) = Cluster::try_from(c).unwrap().tls else {
        panic!("origination expected")
    };
    assert_eq!(
        (o.sni, o.verify_names, o.client_certificate),
        (None, vec![], None)
    );
}

#[test]
fn origination_rejections() {
    fn context(c: &mut cds::Cluster, f: impl FnOnce(&mut tls::UpstreamTlsContext)) {
        let mut ctx = origination_context();
        f(&mut ctx);
        c.transport_socket = Some(tls_socket(UPSTREAM_TLS_CONTEXT, &ctx));
    }
    fn validation(ctx: &mut tls::UpstreamTlsContext) -> &mut tls::CertificateValidationContext {
        match ctx
            .common_tls_context
            .as_mut()
            .and_then(|c| c.validation_context_type.as_mut())
        {
            Some(tls::common_tls_context::ValidationContextType::ValidationContext(v)) => v,
            _ => unreachable!("the fixture has a validation context"),
        }
    }
    let cases: &[Case<cds::Cluster>] = &[
        (
            "no CA file",
            |c| context(c, |x| validation(x).trusted_ca = None),
            "validation_context.trusted_ca.filename: missing",
        ),
        (
            "an inline CA",
            |c| {
                context(c, |x| {
                    validation(x).trusted_ca = Some(DataSource {
                        specifier: Some(data_source::Specifier::InlineString("PEM".into())),
                        ..Default::default()
                    })
                })
            },
            "only filename",
        ),
        (
            "a URI SAN",
            |c| {
                context(c, |x| {
                    validation(x).match_typed_subject_alt_names[0].san_type =
                        tls::subject_alt_name_matcher::SanType::Uri as i32
                })
            },
            "SAN type (only DNS)",
        ),
        (
            "skipping verification",
            |c| {
                context(c, |x| {
                    validation(x).trust_chain_verification =
                        tls::certificate_validation_context::TrustChainVerification::AcceptUntrusted
                            as i32
                })
            },
            "trust_chain_verification",
        ),
        (
            "a bad SNI",
            |c| context(c, |x| x.sni = "billing example".into()),
            "sni",
        ),
        (
            "an unknown ALPN",
            |c| {
                context(c, |x| {
                    x.common_tls_context.as_mut().unwrap().alpn_protocols = vec!["spdy/3".into()]
                })
            },
            "alpn_protocols[0]",
        ),
    ];
    assert_rejects::<_, Cluster>(origination_cluster, cases);
}
