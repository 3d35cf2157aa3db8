use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::{
    self as cds, CircuitBreakers, OutlierDetection, cluster,
};
use envoy_types::pb::envoy::config::core::v3::{
    ApiConfigSource, Http2ProtocolOptions, TransportSocket, config_source,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::google::protobuf::{Any, UInt32Value};
use rigging_mesh_xds::{HTTP_PROTOCOL_OPTIONS, HTTP_PROTOCOL_OPTIONS_KEY, pack};

use super::fixtures::{eds_cluster, secs, static_cluster};
use super::{Case, assert_rejects};
use crate::DEFAULT_CONNECT_TIMEOUT;
use crate::types::{
    CircuitBreakers as ModelCircuitBreakers, Cluster, DEFAULT_CHOICE_COUNT, Discovery,
    EndpointHealth, LbPolicy, UpstreamProtocol,
};

fn protocol_options(c: &mut cds::Cluster, opts: HttpProtocolOptions) {
    c.typed_extension_protocol_options.insert(
        HTTP_PROTOCOL_OPTIONS_KEY.into(),
        pack(HTTP_PROTOCOL_OPTIONS, &opts),
    );
}

fn explicit(
    config: http_protocol_options::explicit_http_config::ProtocolConfig,
) -> HttpProtocolOptions {
    HttpProtocolOptions {
        upstream_protocol_options: Some(
            http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
                http_protocol_options::ExplicitHttpConfig {
                    protocol_config: Some(config),
                },
            ),
        ),
        ..Default::default()
    }
}

#[test]
fn accepts_the_eds_cluster_pilot_sends() {
    let c = Cluster::try_from(eds_cluster()).unwrap();
    assert_eq!(
        c,
        Cluster {
            tls: None,
            name: "api".into(),
            lb_policy: LbPolicy::LeastRequest {
                choice_count: DEFAULT_CHOICE_COUNT,
            },
            connect_timeout: Duration::from_secs(1),
            protocol: UpstreamProtocol::Http2,
            discovery: Discovery::Eds,
            circuit_breakers: ModelCircuitBreakers::default(),
            outlier_detection: None,
        }
    );
}

#[test]
fn accepts_the_static_local_app_cluster() {
    let c = Cluster::try_from(static_cluster()).unwrap();
    assert_eq!(
        (c.lb_policy, c.protocol),
        (LbPolicy::RoundRobin, UpstreamProtocol::Http1)
    );
    let Discovery::Static(eps) = c.discovery else {
        panic!("not static")
    };
    assert_eq!(eps.len(), 1);
    assert_eq!(eps[0].addr, "127.0.0.1:8080".parse().unwrap());
    assert_eq!((eps[0].health, eps[0].weight), (EndpointHealth::Unknown, 1));
}

#[test]
fn defaults_and_informational_fields() {
    let mut c = eds_cluster();
    c.connect_timeout = None;
    c.cluster_discovery_type = None;
    c.eds_cluster_config = None;
    c.load_assignment = static_cluster().load_assignment;
    c.load_assignment.as_mut().unwrap().cluster_name = String::new();
    c.alt_stat_name = "stats".into();
    c.metadata = Some(Default::default());
    let c = Cluster::try_from(c).unwrap();
    assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    assert!(
        matches!(c.discovery, Discovery::Static(_)),
        "an absent type is STATIC"
    );
    let mut c = eds_cluster();
    c.eds_cluster_config.as_mut().unwrap().service_name = "api".into();
    c.typed_extension_protocol_options.clear();
    assert_eq!(
        Cluster::try_from(c).unwrap().protocol,
        UpstreamProtocol::Http1
    );
}

#[test]
#[allow(deprecated)]
fn rejects_cluster_features_it_does_not_implement() {
    use http_protocol_options::explicit_http_config::ProtocolConfig;
    let cases: &[Case<cds::Cluster>] = &[
        (
            "empty name",
            |c| c.name.clear(),
            r#"cluster "": name: missing"#,
        ),
        (
            "strict dns",
            |c| {
                c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(
                    cluster::DiscoveryType::StrictDns as i32,
                ))
            },
            "type: unsupported discovery type STRICT_DNS (only EDS or STATIC)",
        ),
        (
            "original dst",
            |c| c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(4)),
            "unsupported discovery type ORIGINAL_DST",
        ),
        (
            "unknown type",
            |c| c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::Type(42)),
            "type: unknown value 42",
        ),
        (
            "custom type",
            |c| {
                c.cluster_discovery_type = Some(cluster::ClusterDiscoveryType::ClusterType(
                    Default::default(),
                ))
            },
            "cluster_type: unsupported field",
        ),
        (
            "ring hash",
            |c| c.lb_policy = cluster::LbPolicy::ClusterProvided as i32,
            "lb_policy: unsupported policy CLUSTER_PROVIDED",
        ),
        (
            "maglev",
            |c| c.lb_policy = cluster::LbPolicy::LoadBalancingPolicyConfig as i32,
            "lb_policy: unsupported policy LOAD_BALANCING_POLICY_CONFIG",
        ),
        (
            "unknown lb",
            |c| c.lb_policy = 4,
            "lb_policy: unknown value 4",
        ),
        (
            "lb config",
            |c| c.lb_config = Some(cluster::LbConfig::RingHashLbConfig(Default::default())),
            "ring_hash_lb_config: unsupported config for lb_policy LEAST_REQUEST",
        ),
        (
            "tls",
            |c| c.transport_socket = Some(TransportSocket::default()),
            "transport_socket.name: missing",
        ),
        (
            "circuit breakers",
            |c| {
                c.circuit_breakers = Some(CircuitBreakers {
                    per_host_thresholds: vec![Default::default()],
                    ..Default::default()
                })
            },
            "circuit_breakers.per_host_thresholds: unsupported field",
        ),
        (
            "outlier detection",
            |c| {
                c.outlier_detection = Some(OutlierDetection {
                    enforcing_success_rate: Some(UInt32Value { value: 100 }),
                    ..Default::default()
                })
            },
            "outlier_detection.enforcing_success_rate: unsupported field",
        ),
        (
            "health checks",
            |c| c.health_checks.push(Default::default()),
            "health_checks: unsupported field",
        ),
        (
            "max requests",
            |c| c.max_requests_per_connection = Some(UInt32Value { value: 1 }),
            "max_requests_per_connection: unsupported field",
        ),
        (
            "old http2 options",
            |c| c.http2_protocol_options = Some(Http2ProtocolOptions::default()),
            "http2_protocol_options: unsupported field",
        ),
        (
            "zero connect timeout",
            |c| c.connect_timeout = Some(secs(0)),
            "connect_timeout: must be positive",
        ),
        (
            "negative connect timeout",
            |c| c.connect_timeout = Some(secs(-2)),
            "connect_timeout: negative duration -2s",
        ),
        (
            "eds without config",
            |c| c.eds_cluster_config = None,
            "eds_cluster_config: missing",
        ),
        (
            "eds without source",
            |c| c.eds_cluster_config.as_mut().unwrap().eds_config = None,
            "eds_cluster_config.eds_config: missing",
        ),
        (
            "eds over grpc",
            |c| {
                c.eds_cluster_config
                    .as_mut()
                    .unwrap()
                    .eds_config
                    .as_mut()
                    .unwrap()
                    .config_source_specifier =
                    Some(config_source::ConfigSourceSpecifier::ApiConfigSource(
                        ApiConfigSource::default(),
                    ))
            },
            "eds_cluster_config.eds_config: unsupported config source (only ads)",
        ),
        (
            "eds without ads",
            |c| {
                c.eds_cluster_config
                    .as_mut()
                    .unwrap()
                    .eds_config
                    .as_mut()
                    .unwrap()
                    .config_source_specifier = None
            },
            "eds_cluster_config.eds_config.ads: missing",
        ),
        (
            "eds service name",
            |c| c.eds_cluster_config.as_mut().unwrap().service_name = "other".into(),
            "eds_cluster_config.service_name: unsupported",
        ),
        (
            "eds inline endpoints",
            |c| c.load_assignment = Some(Default::default()),
            "load_assignment: unsupported field",
        ),
        (
            "unknown options",
            |c| {
                c.typed_extension_protocol_options.insert(
                    "envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions".into(),
                    Any::default(),
                );
            },
            r#"typed_extension_protocol_options["envoy.extensions.upstreams.tcp.v3.TcpProtocolOptions"]: unsupported protocol options"#,
        ),
        (
            "wrong options type",
            |c| {
                c.typed_extension_protocol_options.insert(
                    HTTP_PROTOCOL_OPTIONS_KEY.into(),
                    Any {
                        type_url: "type.googleapis.com/x".into(),
                        value: vec![],
                    },
                );
            },
            r#"unsupported type URL "type.googleapis.com/x""#,
        ),
        (
            "http3",
            |c| {
                protocol_options(
                    c,
                    explicit(ProtocolConfig::Http3ProtocolOptions(Default::default())),
                )
            },
            "explicit_http_config.http3_protocol_options: unsupported field",
        ),
        (
            "tuned http2",
            |c| {
                protocol_options(
                    c,
                    explicit(ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions {
                        max_concurrent_streams: Some(UInt32Value { value: 5 }),
                        ..Default::default()
                    })),
                )
            },
            "explicit_http_config.http2_protocol_options: unsupported protocol settings",
        ),
        (
            "downstream protocol",
            |c| {
                protocol_options(c, HttpProtocolOptions { upstream_protocol_options: Some(http_protocol_options::UpstreamProtocolOptions::UseDownstreamProtocolConfig(Default::default())), ..Default::default() })
            },
            "use_downstream_protocol_config: unsupported field",
        ),
        (
            "auto protocol",
            |c| {
                protocol_options(
                    c,
                    HttpProtocolOptions {
                        upstream_protocol_options: Some(
                            http_protocol_options::UpstreamProtocolOptions::AutoConfig(
                                Default::default(),
                            ),
                        ),
                        ..Default::default()
                    },
                )
            },
            "auto_config: unsupported field",
        ),
        (
            "no protocol",
            |c| protocol_options(c, HttpProtocolOptions::default()),
            "explicit_http_config: missing",
        ),
        (
            "common options",
            |c| {
                protocol_options(
                    c,
                    HttpProtocolOptions {
                        common_http_protocol_options: Some(Default::default()),
                        ..explicit(ProtocolConfig::HttpProtocolOptions(Default::default()))
                    },
                )
            },
            "common_http_protocol_options: unsupported field",
        ),
    ];
    assert_rejects::<_, Cluster>(eds_cluster, cases);
    let static_cases: &[Case<cds::Cluster>] = &[
        (
            "no assignment",
            |c| c.load_assignment = None,
            "load_assignment: missing",
        ),
        (
            "other name",
            |c| c.load_assignment.as_mut().unwrap().cluster_name = "api".into(),
            r#"load_assignment.cluster_name: "api" is not the cluster's name"#,
        ),
        (
            "bad endpoint port",
            |c| {
                let la = c.load_assignment.as_mut().unwrap();
                la.endpoints[0].lb_endpoints[0] =
                    super::fixtures::lb_endpoint("127.0.0.1", 0, Default::default());
            },
            "load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value: port 0",
        ),
        (
            "eds config on static",
            |c| c.eds_cluster_config = eds_cluster().eds_cluster_config,
            "eds_cluster_config: unsupported field",
        ),
    ];
    assert_rejects::<_, Cluster>(static_cluster, static_cases);
}
