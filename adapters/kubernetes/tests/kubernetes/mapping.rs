//! Ports and protocols, as served by the API server.

use rigging_adapters_kubernetes::ANNOTATION_SERVICE_PORT;
use rigging_mesh_model::Protocol;
use rigging_mesh_test_util::fake_kube::{self, FakeKube, Kind};
use serde_json::json;

use crate::support::*;

/// Service `name` with `ports` (name, port, targetPort, appProtocol) and one pod whose slice
/// maps each port name to `slice_ports` (name, number).
fn add(
    fake: &FakeKube,
    name: &str,
    ports: &[(&str, u16, serde_json::Value, Option<&str>)],
    slice_ports: &[(&str, u16)],
) {
    let ports: Vec<_> = ports
        .iter()
        .map(|(n, p, t, a)| fake_kube::service_port(n, *p, t.clone(), *a))
        .collect();
    fake.apply(
        Kind::Service,
        fake_kube::service("default", name, json!(ports)),
    );
    let slice_ports: Vec<_> = slice_ports
        .iter()
        .map(|(n, p)| fake_kube::slice_port(n, *p, None))
        .collect();
    let pod = fake_kube::endpoint("10.3.0.1", &format!("{name}-0"), READY, "node-1", "eu-1b");
    fake.apply(
        Kind::EndpointSlice,
        fake_kube::endpoint_slice(
            "default",
            &format!("{name}-s"),
            name,
            vec![pod],
            json!(slice_ports),
        ),
    );
}

#[tokio::test]
async fn named_ports_and_app_protocols_map_to_the_model() {
    let fake = FakeKube::start().await;
    add(
        &fake,
        "h2",
        &[("web", 80, json!("h2c-port"), Some("kubernetes.io/h2c"))],
        &[("web", 8081)],
    );
    add(
        &fake,
        "rpc",
        &[("api", 9000, json!(9090), Some("grpc"))],
        &[("api", 9090)],
    );
    add(
        &fake,
        "istio-named",
        &[("http2-api", 80, json!(8080), None)],
        &[("http2-api", 8080)],
    );
    add(
        &fake,
        "grpc-named",
        &[("grpc-api", 80, json!(8080), None)],
        &[("grpc-api", 8080)],
    );
    add(
        &fake,
        "odd",
        &[("http", 80, json!(8080), Some("example.com/custom"))],
        &[("http", 8080)],
    );
    add(
        &fake,
        "plain",
        &[("", 6379, json!(6379), None)],
        &[("", 6379)],
    );
    // slices written by hand may name the target port instead of the service port
    add(
        &fake,
        "by-target",
        &[("http", 80, json!("web"), Some("http"))],
        &[("web", 8082)],
    );
    let mut h = Harness::start(fake, &["default"]);
    let snap = h.synced().await;
    let cases = [
        ("h2", Protocol::Http2, 8081),
        ("rpc", Protocol::Grpc, 9090),
        ("istio-named", Protocol::Http2, 8080),
        ("grpc-named", Protocol::Grpc, 8080),
        ("odd", Protocol::Tcp, 8080),
        ("plain", Protocol::Tcp, 6379),
        ("by-target", Protocol::Http, 8082),
    ];
    for (name, protocol, port) in cases {
        let s = service(&snap, name).unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(s.protocol, protocol, "{name}");
        let addrs: Vec<_> = s.endpoints.iter().map(|e| e.address.to_string()).collect();
        assert_eq!(addrs, [format!("10.3.0.1:{port}")], "{name}");
        assert_eq!(s.endpoints[0].locality.zone, "eu-1b");
    }
}

#[tokio::test]
async fn a_multi_port_service_uses_its_annotated_port() {
    let fake = FakeKube::start().await;
    let ports = [
        ("metrics", 9100, json!(9100), None),
        ("grpc", 9000, json!("grpc"), Some("grpc")),
    ];
    add(&fake, "multi", &ports, &[("metrics", 9100), ("grpc", 9001)]);
    let mut h = Harness::start(fake, &[]);
    let snap = h.synced().await;
    let s = service(&snap, "multi").expect("multi");
    assert_eq!(
        (s.protocol, s.endpoints[0].address.port()),
        (Protocol::Tcp, 9100),
        "first port by default"
    );
    let mut svc = fake_kube::service(
        "default",
        "multi",
        json!(
            ports
                .iter()
                .map(|(n, p, t, a)| fake_kube::service_port(n, *p, t.clone(), *a))
                .collect::<Vec<_>>()
        ),
    );
    svc["metadata"]["annotations"] = json!({ ANNOTATION_SERVICE_PORT: "grpc" });
    h.fake.apply(Kind::Service, svc.clone());
    let snap = h
        .wait("the annotated port", |s| {
            service(s, "multi").is_some_and(|s| s.protocol == Protocol::Grpc)
        })
        .await;
    assert_eq!(
        service(&snap, "multi").expect("multi").endpoints[0]
            .address
            .port(),
        9001
    );
    // an annotation naming no port leaves the service out rather than guess
    svc["metadata"]["annotations"] = json!({ ANNOTATION_SERVICE_PORT: "nope" });
    h.fake.apply(Kind::Service, svc);
    h.wait("multi left out", |s| service(s, "multi").is_none())
        .await;
}
