use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{HealthStatus, Locality as XdsLocality};
use envoy_types::pb::envoy::config::endpoint::v3::{
    self as eds, cluster_load_assignment, lb_endpoint,
};
use envoy_types::pb::google::protobuf::{UInt32Value, Value, value};

use super::fixtures::{cla, endpoint_address, endpoint_at, lb_endpoint, rigging_metadata};
use super::{Case, assert_rejects};
use crate::types::{ClusterEndpoints, Endpoint, EndpointHealth, Locality};

#[test]
fn accepts_the_load_assignment_pilot_sends() {
    let ce = ClusterEndpoints::try_from(cla()).unwrap();
    let locality = Locality {
        region: "eu".into(),
        zone: "eu-1".into(),
    };
    assert_eq!(
        ce,
        ClusterEndpoints {
            cluster: "api".into(),
            endpoints: vec![
                Endpoint {
                    addr: "10.0.0.1:9090".parse().unwrap(),
                    health: EndpointHealth::Healthy,
                    locality: locality.clone(),
                    weight: 1,
                    metadata: BTreeMap::from([("version".into(), "v1".into())]),
                    priority: 0,
                },
                Endpoint {
                    addr: "10.0.0.2:9090".parse().unwrap(),
                    health: EndpointHealth::Degraded,
                    locality,
                    weight: 1,
                    metadata: BTreeMap::new(),
                    priority: 0,
                },
            ],
        }
    );
}

#[test]
fn maps_every_health_status_and_weight() {
    let table = [
        (HealthStatus::Unknown, EndpointHealth::Unknown),
        (HealthStatus::Healthy, EndpointHealth::Healthy),
        (HealthStatus::Unhealthy, EndpointHealth::Unhealthy),
        (HealthStatus::Draining, EndpointHealth::Draining),
        (HealthStatus::Timeout, EndpointHealth::Unhealthy),
        (HealthStatus::Degraded, EndpointHealth::Degraded),
    ];
    for (xds, want) in table {
        let mut c = cla();
        let mut lb = lb_endpoint("10.0.0.3", 1, xds);
        lb.load_balancing_weight = Some(UInt32Value { value: 7 });
        c.endpoints = vec![eds::LocalityLbEndpoints {
            lb_endpoints: vec![lb],
            ..Default::default()
        }];
        let ep = &ClusterEndpoints::try_from(c).unwrap().endpoints[0];
        assert_eq!((ep.health, ep.weight), (want, 7), "{xds:?}");
        assert_eq!(ep.locality, Locality::default());
    }
}

#[test]
fn rejects_endpoint_features_it_does_not_implement() {
    let cases: &[Case<eds::ClusterLoadAssignment>] = &[
        (
            "empty name",
            |c| c.cluster_name.clear(),
            r#"cluster load assignment "": cluster_name: missing"#,
        ),
        (
            "policy",
            |c| {
                c.policy = Some(cluster_load_assignment::Policy {
                    overprovisioning_factor: Some(UInt32Value { value: 100 }),
                    ..Default::default()
                })
            },
            "policy: unsupported field",
        ),
        (
            "named endpoints",
            |c| {
                c.named_endpoints.insert("a".into(), Default::default());
            },
            "named_endpoints: unsupported field",
        ),
        (
            "sub zone",
            |c| {
                c.endpoints[0].locality = Some(XdsLocality {
                    sub_zone: "rack1".into(),
                    ..Default::default()
                })
            },
            "endpoints[0].locality.sub_zone: unsupported field",
        ),
        (
            "zero weight",
            |c| endpoint_at(c, 0, 0).load_balancing_weight = Some(UInt32Value { value: 0 }),
            "endpoints[0].lb_endpoints[0].load_balancing_weight: must be at least 1",
        ),
        (
            "bad health",
            |c| endpoint_at(c, 0, 1).health_status = 17,
            "endpoints[0].lb_endpoints[1].health_status: unknown value 17",
        ),
        (
            "endpoint name",
            |c| {
                endpoint_at(c, 0, 0).host_identifier =
                    Some(lb_endpoint::HostIdentifier::EndpointName("a".into()))
            },
            "lb_endpoints[0].endpoint_name: unsupported field",
        ),
        (
            "no endpoint",
            |c| endpoint_at(c, 0, 0).host_identifier = None,
            "lb_endpoints[0].endpoint: missing",
        ),
        (
            "port 0",
            |c| {
                endpoint_address(endpoint_at(c, 0, 0)).port_specifier = Some(envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(0))
            },
            "lb_endpoints[0].endpoint.address.socket_address.port_value: port 0 not in 1..=65535",
        ),
        (
            "host name",
            |c| endpoint_address(endpoint_at(c, 0, 1)).address = "api.internal".into(),
            r#"endpoint.address.socket_address.address: "api.internal" is not an IP address"#,
        ),
        (
            "no address",
            |c| {
                *endpoint_at(c, 0, 0) = eds::LbEndpoint {
                    host_identifier: Some(
                        lb_endpoint::HostIdentifier::Endpoint(Default::default()),
                    ),
                    ..Default::default()
                }
            },
            "lb_endpoints[0].endpoint.address: missing",
        ),
        (
            "health check config",
            |c| {
                if let Some(lb_endpoint::HostIdentifier::Endpoint(e)) =
                    &mut endpoint_at(c, 0, 0).host_identifier
                {
                    e.health_check_config = Some(Default::default())
                }
            },
            "endpoint.health_check_config: unsupported field",
        ),
        (
            "number metadata",
            |c| {
                endpoint_at(c, 0, 0).metadata = Some(rigging_metadata(&[(
                    "n",
                    Value {
                        kind: Some(value::Kind::NumberValue(1.0)),
                    },
                )]))
            },
            r#"lb_endpoints[0].metadata.filter_metadata["rigging"]["n"]: not a string"#,
        ),
    ];
    assert_rejects::<_, ClusterEndpoints>(cla, cases);
}
