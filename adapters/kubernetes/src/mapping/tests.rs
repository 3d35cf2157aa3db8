use std::net::IpAddr;

use super::*;

const NAMING: Naming<'static> = Naming {
    primary_namespace: "default",
    region: "eu",
};

fn port(name: &str, port: i32, target: Option<&str>, app: Option<&str>) -> PortInfo {
    PortInfo {
        name: name.to_owned(),
        port,
        target_name: target.map(str::to_owned),
        app_protocol: app.map(str::to_owned),
        tcp: true,
    }
}

fn svc(ns: &str, name: &str, ports: Vec<PortInfo>) -> ServiceInfo {
    ServiceInfo {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        ports,
        port_annotation: None,
    }
}

fn ep(ip: &str, pod: &str, ready: bool, serving: bool, terminating: bool) -> EndpointInfo {
    EndpointInfo {
        address: ip.parse::<IpAddr>().expect("ip"),
        ready,
        serving,
        terminating,
        node: Some("node-1".to_owned()),
        zone: Some("eu-1a".to_owned()),
        pod: Some(pod.to_owned()),
        hostname: None,
    }
}

fn slice(
    ns: &str,
    name: &str,
    service: &str,
    eps: Vec<EndpointInfo>,
    ports: &[(&str, u16)],
) -> SliceInfo {
    SliceInfo {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        service: service.to_owned(),
        endpoints: eps,
        ports: ports
            .iter()
            .map(|(n, p)| SlicePortInfo {
                name: (*n).to_owned(),
                port: Some(*p),
                app_protocol: None,
                tcp: true,
            })
            .collect(),
    }
}

fn one(services: &[ServiceInfo], slices: &[SliceInfo]) -> Service {
    let (catalog, warnings) = build(NAMING, services, slices);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(catalog.services.len(), 1, "{catalog:?}");
    catalog.services.into_values().next().expect("one service")
}

#[test]
fn protocols_table() {
    let cases: &[(&str, Option<&str>, Option<&str>, Protocol)] = &[
        ("", Some("http"), None, Protocol::Http),
        ("", Some("HTTP"), None, Protocol::Http),
        ("", Some("kubernetes.io/h2c"), None, Protocol::Http2),
        ("", Some("http2"), None, Protocol::Http2),
        ("", Some("grpc"), None, Protocol::Grpc),
        ("", Some("tcp"), None, Protocol::Tcp),
        ("http", Some("kubernetes.io/ws"), None, Protocol::Tcp),
        ("", None, Some("grpc"), Protocol::Grpc),
        ("http-web", None, None, Protocol::Http),
        ("http", None, None, Protocol::Http),
        ("http2-api", None, None, Protocol::Http2),
        ("grpc-api", None, None, Protocol::Grpc),
        ("httpx", None, None, Protocol::Tcp),
        ("mysql", None, None, Protocol::Tcp),
        ("", None, None, Protocol::Tcp),
    ];
    for (name, app, slice_app, want) in cases {
        let p = port(name, 80, None, *app);
        assert_eq!(
            protocol(&p, *slice_app),
            *want,
            "{name:?} {app:?} {slice_app:?}"
        );
    }
}

#[test]
fn health_table() {
    // (ready, serving, terminating, any other ready) → health
    let cases = [
        ((true, true, false, true), Health::Passing),
        ((false, false, false, true), Health::Critical),
        ((false, true, true, true), Health::Maintenance),
        ((false, true, true, false), Health::Warning),
        ((false, false, true, false), Health::Critical),
        ((true, true, true, true), Health::Maintenance),
    ];
    for ((r, s, t, any), want) in cases {
        assert_eq!(
            health(&ep("10.0.0.1", "p", r, s, t), any),
            want,
            "{r} {s} {t} {any}"
        );
    }
}

#[test]
fn endpoints_take_the_slice_port_named_after_the_service_port() {
    let services = [svc(
        "default",
        "web",
        vec![port("http", 80, Some("web"), Some("http"))],
    )];
    let slices = [
        slice(
            "default",
            "web-a",
            "web",
            vec![ep("10.0.0.1", "web-1", true, true, false)],
            &[("http", 8080)],
        ),
        // a slice by hand that names the target port instead
        slice(
            "default",
            "web-b",
            "web",
            vec![ep("10.0.0.2", "web-2", false, false, false)],
            &[("web", 8081)],
        ),
        // another service's slice
        slice(
            "default",
            "other",
            "db",
            vec![ep("10.0.0.3", "db-1", true, true, false)],
            &[("", 5432)],
        ),
    ];
    let s = one(&services, &slices);
    assert_eq!(s.name.as_str(), "web");
    assert_eq!(s.protocol, Protocol::Http);
    let got: Vec<_> = s
        .endpoints
        .iter()
        .map(|e| (e.instance.as_str(), e.address.to_string(), e.health))
        .collect();
    assert_eq!(
        got,
        [
            ("web-1", "10.0.0.1:8080".to_owned(), Health::Passing),
            ("web-2", "10.0.0.2:8081".to_owned(), Health::Critical)
        ]
    );
    let e = &s.endpoints[0];
    assert_eq!(
        e.locality,
        Locality {
            region: "eu".into(),
            zone: "eu-1a".into()
        }
    );
    assert_eq!(e.metadata[META_NAMESPACE], "default");
    assert_eq!(e.metadata[META_SERVICE], "web");
    assert_eq!(e.metadata[META_NODE], "node-1");
    assert_eq!(e.metadata[META_POD], "web-1");
}

#[test]
fn multi_port_services_use_the_annotation_else_the_first_tcp_port() {
    let mut udp = port("dns", 53, None, None);
    udp.tcp = false;
    let mut s = svc(
        "default",
        "api",
        vec![
            udp,
            port("metrics", 9090, None, None),
            port("grpc", 9000, None, None),
        ],
    );
    let slices = [slice(
        "default",
        "api-a",
        "api",
        vec![ep("10.0.0.1", "api-1", true, true, false)],
        &[("dns", 53), ("metrics", 9090), ("grpc", 9000)],
    )];
    let got = one(&[s.clone()], &slices);
    assert_eq!(
        (got.protocol, got.endpoints[0].address.port()),
        (Protocol::Tcp, 9090)
    );
    for wanted in ["grpc", "9000"] {
        s.port_annotation = Some(wanted.to_owned());
        let got = one(&[s.clone()], &slices);
        assert_eq!(
            (got.protocol, got.endpoints[0].address.port()),
            (Protocol::Grpc, 9000)
        );
    }
    s.port_annotation = Some("dns".to_owned());
    let (catalog, warnings) = build(NAMING, &[s], &slices);
    assert!(catalog.services.is_empty());
    assert!(
        warnings[0].contains("rigging.io/service-port"),
        "{warnings:?}"
    );
}

#[test]
fn other_namespaces_are_suffixed_and_duplicates_count_once() {
    let services = [
        svc("default", "api", vec![port("", 80, None, None)]),
        svc("staging", "api", vec![port("", 80, None, None)]),
    ];
    let slices = [
        slice(
            "staging",
            "api-a",
            "api",
            vec![ep("10.0.1.1", "api-1", false, true, true)],
            &[("", 8080)],
        ),
        slice(
            "staging",
            "api-b",
            "api",
            vec![ep("10.0.1.1", "api-1", true, true, false)],
            &[("", 8080)],
        ),
    ];
    let (catalog, warnings) = build(NAMING, &services, &slices);
    assert!(warnings.is_empty());
    let names: Vec<_> = catalog.services.keys().map(ServiceName::as_str).collect();
    assert_eq!(names, ["api", "api.staging"]);
    let staging = &catalog.services[&ServiceName::new("api.staging").expect("name")];
    assert_eq!(staging.endpoints.len(), 1);
    assert_eq!(staging.endpoints[0].health, Health::Passing);
    assert!(
        catalog.services[&ServiceName::new("api").expect("name")]
            .endpoints
            .is_empty()
    );
}
