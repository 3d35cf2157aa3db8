//! Exposed paths (Consul's `Expose.Paths`): a plaintext listener per path on the proxy's
//! inbound address, whose one route sends exactly the path to the local application's port,
//! in a secured mesh too; and what the proxy accepts of it.
#![allow(clippy::unwrap_used)]

#[allow(unused_imports)]
#[path = "compile/support.rs"]
mod support;

use envoy_types::pb::envoy::config::route::v3::route_match::PathSpecifier;
use rigging_mesh_model::{ExposePath, Health, Protocol, ProxyId};
use rigging_mesh_spiffe::TrustDomain;
use rigging_pilot_compiler::{CompileOptions, MeshSecurity, compile};
use support::*;

#[test]
fn each_path_is_a_plaintext_listener_routing_exactly_it() {
    let mut web = proxy("web-1", "web", 21000, 8080, &[]);
    web.expose = vec![
        ExposePath {
            path: "/health".to_owned(),
            local_path_port: 8081,
            listener_port: 21500,
            protocol: Protocol::Http,
        },
        ExposePath {
            path: "/grpc.health.v1.Health/Check".to_owned(),
            local_path_port: 8082,
            listener_port: 21501,
            protocol: Protocol::Http2,
        },
    ];
    let mut ep = endpoint("web-1", "127.0.0.1:21000", Health::Passing, "a");
    ep.sidecar = true;
    let cat = catalog(vec![service("web", Protocol::Http, vec![ep])], vec![web]);
    let secured = CompileOptions {
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
    };
    let res = compile(
        &cat,
        &entries(&[]),
        &ProxyId::new("web-1").unwrap(),
        &secured,
    )
    .unwrap();
    assert_proxy_accepts("exposed", &res);
    let l = res
        .listeners
        .iter()
        .find(|l| l.name == "exposed:21500")
        .unwrap();
    assert!(
        l.filter_chains.iter().all(|c| c.transport_socket.is_none()),
        "plaintext: checks come from outside the mesh"
    );
    let rc = res
        .routes
        .iter()
        .find(|r| r.name == "exposed:21500")
        .unwrap();
    let routes = &rc.virtual_hosts[0].routes;
    assert_eq!(routes.len(), 1);
    assert_eq!(
        routes[0].r#match.as_ref().unwrap().path_specifier,
        Some(PathSpecifier::Path("/health".to_owned()))
    );
    let grpc = res
        .clusters
        .iter()
        .find(|c| c.name == "exposed:21501")
        .unwrap();
    assert!(
        !grpc.typed_extension_protocol_options.is_empty(),
        "an http2 path's cluster speaks HTTP/2"
    );
    check("web-1-exposed", &render(&res));
}
