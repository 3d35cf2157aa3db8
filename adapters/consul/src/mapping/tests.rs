use rigging_mesh_model::{Health, ServiceName};
use rigging_mesh_test_util::fake_consul::{HEALTH_SERVICE_SAMPLE, instance, sidecar};
use serde_json::Value;

use super::{META_DATACENTER, health, service};
use crate::api::HealthEntry;

fn entries(values: Vec<Value>) -> Vec<HealthEntry> {
    serde_json::from_value(Value::Array(values)).expect("health entries decode")
}

fn name(s: &str) -> ServiceName {
    ServiceName::new(s).expect("name")
}

#[test]
fn the_docs_sample_maps_to_one_passing_endpoint() {
    let plain: Vec<HealthEntry> = serde_json::from_str(HEALTH_SERVICE_SAMPLE).expect("sample");
    let (svc, proxies) = service(&name("redis"), &plain, &[], "").expect("a service");
    assert!(proxies.is_empty());
    assert_eq!(svc.endpoints.len(), 1);
    let e = &svc.endpoints[0];
    assert_eq!(e.instance, "redis");
    assert_eq!(e.address, "10.1.10.12:8000".parse().expect("addr"));
    assert_eq!(e.health, Health::Passing);
    assert_eq!(e.tags, vec!["primary".to_owned()]);
    assert_eq!(e.metadata["redis_version"], "4.0");
    assert_eq!(e.metadata[META_DATACENTER], "dc1");
    assert_eq!(e.locality.region, "dc1");
    assert!(!e.sidecar);
}

#[test]
fn worst_check_wins_and_the_node_check_counts() {
    let cases: &[(&str, &str, Health)] = &[
        ("passing", "passing", Health::Passing),
        ("warning", "passing", Health::Warning),
        ("passing", "warning", Health::Warning),
        ("critical", "warning", Health::Critical),
        ("passing", "critical", Health::Critical),
    ];
    for (svc_status, node_status, want) in cases {
        let mut e = instance("n1", "10.0.0.1", "web", "web-1", "", 8080);
        for c in e["Checks"].as_array_mut().expect("checks") {
            let status = if c["CheckID"] == "serfHealth" {
                node_status
            } else {
                svc_status
            };
            c["Status"] = Value::from(*status);
        }
        let got = health(&entries(vec![e])[0].checks);
        assert_eq!(got, *want, "service {svc_status}, node {node_status}");
    }
    let maint: Vec<crate::api::Check> = serde_json::from_str(
        r#"[{"CheckID": "_service_maintenance:web-1", "Status": "critical"}]"#,
    )
    .expect("checks");
    assert_eq!(health(&maint), Health::Maintenance);
}

#[test]
fn empty_service_address_falls_back_to_the_node() {
    let plain = entries(vec![instance("n1", "10.0.0.7", "web", "web-1", "", 8080)]);
    let (svc, _) = service(&name("web"), &plain, &[], "dc9").expect("service");
    assert_eq!(
        svc.endpoints[0].address,
        "10.0.0.7:8080".parse().expect("addr")
    );
}

#[test]
fn unusable_instances_are_skipped_not_fatal() {
    let plain = entries(vec![
        instance("n1", "10.0.0.1", "web", "web-1", "web.example.com", 8080),
        instance("n1", "10.0.0.1", "web", "web-2", "", 0),
        instance("n2", "10.0.0.2", "web", "web-3", "", 8080),
    ]);
    let (svc, _) = service(&name("web"), &plain, &[], "").expect("service");
    let ids: Vec<&str> = svc.endpoints.iter().map(|e| e.instance.as_str()).collect();
    assert_eq!(ids, ["web-3"]);
}

#[test]
fn a_sidecar_replaces_its_instance_and_yields_a_proxy() {
    let mut app = instance("n1", "10.0.0.1", "web", "web-1", "", 8080);
    app["Service"]["Tags"] = serde_json::json!(["v2"]);
    let plain = entries(vec![
        app,
        instance("n2", "10.0.0.2", "web", "web-2", "", 8080),
    ]);
    let connect = entries(vec![sidecar(
        "n1",
        "10.0.0.1",
        "web",
        "web-1",
        21000,
        8080,
        &[("db", 9191)],
    )]);
    let (svc, proxies) = service(&name("web"), &plain, &connect, "").expect("service");
    assert_eq!(svc.endpoints.len(), 2);
    let side = &svc.endpoints[0];
    assert_eq!(side.instance, "web-1");
    assert!(side.sidecar);
    assert_eq!(side.address, "10.0.0.1:21000".parse().expect("addr"));
    assert_eq!(side.tags, ["v2"], "the instance's tags");
    assert!(!svc.endpoints[1].sidecar);
    assert_eq!(proxies.len(), 1);
    let p = &proxies[0];
    assert_eq!(p.id.as_str(), "web-1-sidecar-proxy");
    assert_eq!(p.service.as_str(), "web");
    assert_eq!(p.inbound, side.address);
    assert_eq!(p.local_app, "127.0.0.1:8080".parse().expect("addr"));
    assert_eq!(p.upstreams.len(), 1);
    assert_eq!(p.upstreams[0].service.as_str(), "db");
    assert_eq!(
        p.upstreams[0].local_bind,
        "127.0.0.1:9191".parse().expect("addr")
    );
}

#[test]
fn a_sidecar_nomad_registered_keeps_its_proxy() {
    // Nomad registers group services and their sidecars in Consul under IDs starting with `_`.
    let parent = "_nomad-task-5c2e1f0a-api-group-api-api-http";
    let plain = entries(vec![instance("n1", "10.0.0.1", "api", parent, "", 23456)]);
    let connect = entries(vec![sidecar(
        "n1",
        "10.0.0.1",
        "api",
        parent,
        25678,
        23456,
        &[("db", 9191)],
    )]);
    let (svc, proxies) = service(&name("api"), &plain, &connect, "").expect("service");
    assert_eq!(svc.endpoints.len(), 1);
    assert!(svc.endpoints[0].sidecar);
    assert_eq!(proxies.len(), 1, "the proxy is kept");
    assert_eq!(proxies[0].id.as_str(), format!("{parent}-sidecar-proxy"));
}

#[test]
fn a_sidecar_is_as_unhealthy_as_its_instance() {
    let mut app = instance("n1", "10.0.0.1", "web", "web-1", "", 8080);
    app["Checks"][0]["Status"] = Value::from("critical");
    let plain = entries(vec![app]);
    let connect = entries(vec![sidecar(
        "n1",
        "10.0.0.1",
        "web",
        "web-1",
        21000,
        0,
        &[],
    )]);
    let (svc, proxies) = service(&name("web"), &plain, &connect, "").expect("service");
    assert_eq!(svc.endpoints[0].health, Health::Critical);
    assert_eq!(
        proxies[0].local_app.port(),
        8080,
        "LocalServicePort 0 is the parent's port"
    );
}

#[test]
fn a_service_made_only_of_sidecars_is_not_a_service() {
    let plain = entries(vec![sidecar(
        "n1",
        "10.0.0.1",
        "web",
        "web-1",
        21000,
        8080,
        &[],
    )]);
    assert!(service(&name("web-sidecar-proxy"), &plain, &[], "").is_none());
}

/// Nomad in bridge networking registers the host's address and port and tells the proxy
/// where to listen in `Proxy.Config`; `Expose.Paths` become exposed paths, the unusable
/// ones skipped.
#[test]
fn bind_override_and_exposed_paths() {
    let mut side = sidecar("n1", "10.0.0.1", "web", "web-1", 25123, 8080, &[]);
    side["Service"]["Proxy"]["Config"] = serde_json::json!({
        "bind_address": "0.0.0.0", "bind_port": 25123, "envoy_stats_tags": ["nomad.group=web"],
    });
    side["Service"]["Proxy"]["Expose"] = serde_json::json!({
        "Checks": false,
        "Paths": [
            { "ListenerPort": 21500, "Path": "/health", "LocalPathPort": 8081, "Protocol": "http" },
            { "ListenerPort": 21501, "Path": "/grpc", "LocalPathPort": 8082, "Protocol": "http2" },
            { "ListenerPort": 21500, "Path": "/again", "LocalPathPort": 8081 },
            { "ListenerPort": 21502, "Path": "no-slash", "LocalPathPort": 8081 },
            { "ListenerPort": 21503, "Path": "/tcp", "LocalPathPort": 8081, "Protocol": "tcp" },
        ],
    });
    let plain = entries(vec![instance("n1", "10.0.0.1", "web", "web-1", "", 8080)]);
    let (svc, proxies) = service(&name("web"), &plain, &entries(vec![side]), "").expect("service");
    assert_eq!(
        svc.endpoints[0].address,
        "10.0.0.1:25123".parse().expect("addr"),
        "callers use the registration"
    );
    let p = &proxies[0];
    assert_eq!(
        p.inbound,
        "0.0.0.0:25123".parse().expect("addr"),
        "the proxy binds Config's address"
    );
    let exposed: Vec<(&str, u16, u16, rigging_mesh_model::Protocol)> = p
        .expose
        .iter()
        .map(|e| {
            (
                e.path.as_str(),
                e.listener_port,
                e.local_path_port,
                e.protocol,
            )
        })
        .collect();
    assert_eq!(
        exposed,
        [
            ("/health", 21500, 8081, rigging_mesh_model::Protocol::Http),
            ("/grpc", 21501, 8082, rigging_mesh_model::Protocol::Http2),
        ]
    );
}
