//! Terminating gateways compiled from `terminating-gateway` entries: golden files for the
//! gateway (SNI chains, TLS origination) and for a caller of the linked services (sent to
//! the gateway, expecting its identity); the wildcard, the rules and what the proxy accepts.
//! `UPDATE_GOLDEN=1` rewrites the goldens.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "compile/mtls.rs"]
mod mtls;
#[allow(unused_imports)]
#[path = "compile/support.rs"]
mod support;

use std::net::IpAddr;

use mtls::addresses;
use rigging_mesh_model::{Catalog, Health, Protocol, ProxyId, ServiceName};
use rigging_mesh_spiffe::TrustDomain;
use rigging_pilot_compiler::{
    CompileError, CompileOptions, MeshSecurity, NodeId, TerminatingNode, compile,
    compile_terminating,
};
use support::*;

fn secured() -> CompileOptions {
    CompileOptions {
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
    }
}

fn sidecar(mut e: rigging_mesh_model::Endpoint) -> rigging_mesh_model::Endpoint {
    e.sidecar = true;
    e
}

/// `web` (calling billing, ledger and api), `api` in the mesh; `billing` (HTTP) and
/// `ledger` (tcp) outside it; the gateway `egress` with an instance on two addresses.
fn mesh() -> Catalog {
    catalog(
        vec![
            service(
                "web",
                Protocol::Http,
                vec![sidecar(endpoint(
                    "web-1",
                    "127.0.0.1:21000",
                    Health::Passing,
                    "a",
                ))],
            ),
            service(
                "api",
                Protocol::Http,
                vec![sidecar(endpoint(
                    "api-1",
                    "127.0.0.1:21001",
                    Health::Passing,
                    "a",
                ))],
            ),
            service(
                "billing",
                Protocol::Http,
                vec![endpoint("billing-1", "10.0.0.5:443", Health::Passing, "a")],
            ),
            service(
                "ledger",
                Protocol::Tcp,
                vec![endpoint("ledger-1", "10.0.0.6:5432", Health::Passing, "a")],
            ),
            service(
                "egress",
                Protocol::Tcp,
                vec![
                    endpoint("egress-1", "127.0.0.1:8443", Health::Passing, "a"),
                    endpoint("egress-2", "127.0.0.2:8443", Health::Passing, "a"),
                ],
            ),
        ],
        vec![proxy(
            "web-1",
            "web",
            21000,
            8080,
            &[("billing", 9191), ("ledger", 9192), ("api", 9193)],
        )],
    )
}

/// `billing` with one-way TLS and SNI, everything else outside the mesh (`ledger`) with
/// mutual TLS through the wildcard.
const EGRESS: &str = r#"
Kind = "terminating-gateway"
Name = "egress"
Services = [
  {
    Name   = "billing"
    CAFile = "/etc/ssl/billing-ca.pem"
    SNI    = "billing.example.com"
  },
  {
    Name     = "*"
    CAFile   = "/etc/ssl/partners-ca.pem"
    CertFile = "/etc/ssl/egress.pem"
    KeyFile  = "/etc/ssl/egress-key.pem"
    SNI      = "partners.example.com"
  },
]
"#;

fn node(name: &str, bind: &str) -> TerminatingNode {
    TerminatingNode::new(
        ServiceName::new(name).unwrap(),
        bind.parse::<IpAddr>().unwrap(),
    )
}

#[test]
fn golden_gateway() {
    let res = compile_terminating(
        &mesh(),
        &entries(&[EGRESS]),
        &node("egress", "127.0.0.1"),
        &secured(),
    )
    .unwrap();
    assert!(res.notes.is_empty(), "{:?}", res.notes);
    let names: Vec<&str> = res.services.iter().map(ServiceName::as_str).collect();
    assert_eq!(
        names,
        ["billing", "ledger"],
        "api is in the mesh: the wildcard leaves it"
    );
    check("terminating-gateway", &render(&res.resources));
    assert_proxy_accepts("gateway", &res.resources);
}

#[test]
fn golden_caller_goes_through_the_gateway() {
    let id = ProxyId::new("web-1").unwrap();
    let res = compile(&mesh(), &entries(&[EGRESS]), &id, &secured()).unwrap();
    check("web-1-via-terminating", &render(&res));
    assert_proxy_accepts("caller", &res);
    let billing = res
        .endpoints
        .iter()
        .find(|e| e.cluster_name == "billing")
        .unwrap();
    assert_eq!(
        addresses(billing),
        ["127.0.0.1:8443", "127.0.0.2:8443"],
        "billing's callers reach the gateway's instances"
    );
}

/// Without mTLS there is no SNI: callers reach the external service directly and the
/// gateway is refused with the reason.
#[test]
fn without_mtls_callers_go_direct_and_the_gateway_is_refused() {
    let plain = CompileOptions::default();
    let id = ProxyId::new("web-1").unwrap();
    let res = compile(&mesh(), &entries(&[EGRESS]), &id, &plain).unwrap();
    let billing = res
        .endpoints
        .iter()
        .find(|e| e.cluster_name == "billing")
        .unwrap();
    assert_eq!(addresses(billing), ["10.0.0.5:443"]);
    let err = compile_terminating(
        &mesh(),
        &entries(&[EGRESS]),
        &node("egress", "127.0.0.1"),
        &plain,
    )
    .unwrap_err();
    assert!(matches!(err, CompileError::GatewayNeedsMtls(_)), "{err}");
    assert!(err.to_string().contains("SNI"), "{err}");
}

#[test]
fn the_gateway_needs_its_entry_and_an_instance_at_its_address() {
    let e = entries(&[EGRESS]);
    let err = compile_terminating(&mesh(), &e, &node("exit", "127.0.0.1"), &secured()).unwrap_err();
    assert!(
        matches!(err, CompileError::UnknownTerminatingGateway(_)),
        "{err}"
    );
    let err =
        compile_terminating(&mesh(), &e, &node("egress", "127.0.0.9"), &secured()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "terminating gateway egress: its listener port is its registered instance's at 127.0.0.9, and the registry has none"
    );
    let any = compile_terminating(&mesh(), &e, &node("egress", "0.0.0.0"), &secured()).unwrap();
    assert_eq!(any.resources.listeners[0].name, "terminating:0.0.0.0:8443");
}

/// A named service no registry knows is served (it may appear) and noted; a named link
/// wins over the wildcard; a node id names the gateway.
#[test]
fn notes_and_node_ids() {
    let e = entries(&[r#"
Kind = "terminating-gateway"
Name = "egress"
Services = [ { Name = "mainframe" }, { Name = "ledger" } ]
"#]);
    let res = compile_terminating(&mesh(), &e, &node("egress", "127.0.0.2"), &secured()).unwrap();
    assert_eq!(
        res.notes,
        ["service mainframe: no instance in any registry; connections to it are closed"]
    );
    let names: Vec<&str> = res.services.iter().map(ServiceName::as_str).collect();
    assert_eq!(names, ["ledger", "mainframe"], "billing is not linked");
    assert!(
        res.resources
            .clusters
            .iter()
            .all(|c| c.transport_socket.is_none()),
        "no CAFile: plaintext"
    );
    let parsed = NodeId::parse("terminating-gateway~127.0.0.2~egress").unwrap();
    assert_eq!(parsed, NodeId::Terminating(node("egress", "127.0.0.2")));
}
