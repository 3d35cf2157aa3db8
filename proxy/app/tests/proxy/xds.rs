use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    ClusterDiscoveryType, DiscoveryType, LbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::{SocketAddress, address, socket_address};
use envoy_types::pb::envoy::config::endpoint::v3::{LbEndpoint, LocalityLbEndpoints, lb_endpoint};
use envoy_types::pb::google::protobuf::Any;
use rigging_mesh_xds::{Cluster, ClusterLoadAssignment, ResourceType, pack};
use rigging_proxy_app::{Proxy, ProxyOptions};

use super::support::*;

fn static_cluster(name: &str, port: u32) -> Any {
    use envoy_types::pb::envoy::config::core::v3::Address;
    use envoy_types::pb::envoy::config::endpoint::v3::Endpoint;
    let endpoint = LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(Address {
                address: Some(address::Address::SocketAddress(SocketAddress {
                    address: "127.0.0.1".into(),
                    port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        })),
        ..Default::default()
    };
    let cluster = Cluster {
        name: name.into(),
        connect_timeout: Some(envoy_types::pb::google::protobuf::Duration {
            seconds: 1,
            nanos: 0,
        }),
        lb_policy: LbPolicy::RoundRobin as i32,
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::Static as i32)),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![endpoint],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    pack(ResourceType::Cluster.type_url(), &cluster)
}

#[tokio::test]
async fn xds_updates_are_acked_or_nacked_and_dumped() {
    let proxy = proxy().await;
    let sink = proxy.config_sink();

    let bad = Any {
        type_url: ResourceType::Cluster.type_url().into(),
        value: vec![0xff, 0xff, 0xff],
    };
    let err = sink.apply(ResourceType::Cluster, "v1", &[bad]).unwrap_err();
    assert!(err.contains("cluster"), "{err}");

    let good = static_cluster("local_app", 8080);
    sink.apply(ResourceType::Cluster, "v2", &[good]).unwrap();
    assert!(
        sink.names(ResourceType::Endpoint).is_empty(),
        "a static cluster needs no EDS"
    );

    let admin = format!("http://{}", proxy.admin_addr());
    let (_, dump) = get(&h1_client(), format!("{admin}/config_dump")).await;
    let json: serde_json::Value = serde_json::from_str(&dump).unwrap();
    assert_eq!(json["versions"]["CDS"], "v2");
    assert_eq!(json["last_nack"]["version"], "v1");
    assert!(
        json["config"]["clusters"]["local_app"].is_object(),
        "{dump}"
    );

    let (_, metrics) = get(&h1_client(), format!("{admin}/metrics")).await;
    assert!(
        metrics.contains(r#"rig_xds_updates_total{type="CDS",result="nack"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"rig_xds_updates_total{type="CDS",result="ack"} 1"#),
        "{metrics}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn unreachable_pilot_keeps_the_proxy_up_and_not_ready() {
    let dead = std::net::TcpListener::bind(LOOPBACK0)
        .unwrap()
        .local_addr()
        .unwrap();
    let mut opts = ProxyOptions::new("p1", format!("http://{dead}"));
    opts.admin_addr = LOOPBACK0.parse().unwrap();
    let proxy = Proxy::start(opts).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (resp, _) = get(&h1_client(), format!("http://{}/ready", proxy.admin_addr())).await;
    assert_eq!(resp.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    tokio::time::timeout(Duration::from_secs(1), proxy.shutdown())
        .await
        .unwrap();

    let mut opts = ProxyOptions::new("p1", "not a url");
    opts.admin_addr = LOOPBACK0.parse().unwrap();
    assert!(Proxy::start(opts).await.is_err());
}
