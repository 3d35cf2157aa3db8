//! Failover to another datacenter: endpoints carry their datacenter (the Consul registry of
//! each datacenter says it), a remote target takes that datacenter's endpoints, the local
//! target every other, and the cluster accepts the remote instances' SPIFFE IDs.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)]
#[path = "compile/mtls.rs"]
mod mtls;
#[allow(unused_imports)]
#[path = "compile/support.rs"]
mod support;

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    UpstreamTlsContext, common_tls_context::ValidationContextType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;
use rigging_mesh_model::{Catalog, Health, META_DATACENTER, Protocol, ProxyId};
use rigging_mesh_spiffe::TrustDomain;
use rigging_mesh_xds::{ClusterLoadAssignment, UPSTREAM_TLS_CONTEXT, unpack};
use rigging_pilot_compiler::{CompileOptions, MeshSecurity, compile};
use support::*;

fn secured() -> CompileOptions {
    CompileOptions {
        security: Some(
            MeshSecurity::new(TrustDomain::new("rigging.local").unwrap(), "dc1").unwrap(),
        ),
    }
}

fn in_dc(addr: &str, id: &str, dc: Option<&str>) -> rigging_mesh_model::Endpoint {
    let mut e = endpoint(id, addr, Health::Passing, "a");
    e.sidecar = true;
    if let Some(dc) = dc {
        e.metadata.insert(META_DATACENTER.to_owned(), dc.to_owned());
    }
    e
}

/// `db` in dc1 (one endpoint without a datacenter, one saying dc1), dc2 and dc3; `web-1`
/// calls it.
fn mesh() -> Catalog {
    catalog(
        vec![
            service(
                "db",
                Protocol::Tcp,
                vec![
                    in_dc("10.1.0.1:21000", "db-local", None),
                    in_dc("10.1.0.2:21000", "db-dc1", Some("dc1")),
                    in_dc("10.2.0.1:21000", "db-dc2", Some("dc2")),
                    in_dc("10.3.0.1:21000", "db-dc3", Some("dc3")),
                ],
            ),
            service(
                "web",
                Protocol::Http,
                vec![in_dc("10.1.0.9:21000", "web-1", None)],
            ),
        ],
        vec![proxy("web-1", "web", 21000, 8080, &[("db", 9191)])],
    )
}

fn cla<'r>(
    res: &'r rigging_pilot_compiler::ProxyResources,
    name: &str,
) -> &'r ClusterLoadAssignment {
    res.endpoints
        .iter()
        .find(|e| e.cluster_name == name)
        .unwrap_or_else(|| {
            panic!(
                "no CLA {name}: {:?}",
                res.endpoints
                    .iter()
                    .map(|e| &e.cluster_name)
                    .collect::<Vec<_>>()
            )
        })
}

fn by_priority(cla: &ClusterLoadAssignment) -> Vec<(u32, Vec<String>)> {
    cla.endpoints
        .iter()
        .map(|g| {
            let one = ClusterLoadAssignment {
                endpoints: vec![g.clone()],
                ..Default::default()
            };
            (g.priority, mtls::addresses(&one))
        })
        .collect()
}

#[test]
fn failover_to_another_datacenter_takes_its_endpoints() {
    let e = entries(&[r#"
Kind = "service-resolver"
Name = "db"
Failover = {
  "*" = { Datacenters = ["dc2"] }
}
"#]);
    let res = compile(&mesh(), &e, &ProxyId::new("web-1").unwrap(), &secured()).unwrap();
    let local = cla(&res, "db");
    let groups = by_priority(local);
    assert_eq!(groups.len(), 2, "{groups:?}");
    assert_eq!(groups[0].0, 0);
    assert_eq!(
        groups[0].1,
        ["10.1.0.1:21000", "10.1.0.2:21000", "10.3.0.1:21000"],
        "the local target keeps every endpoint not in a datacenter the chain fails over to"
    );
    assert_eq!(
        (groups[1].0, groups[1].1.clone()),
        (1, vec!["10.2.0.1:21000".to_owned()])
    );

    let cluster = res
        .clusters
        .iter()
        .find(|c| c.name == local.cluster_name)
        .unwrap();
    let any = match &cluster.transport_socket.as_ref().unwrap().config_type {
        Some(
            envoy_types::pb::envoy::config::core::v3::transport_socket::ConfigType::TypedConfig(a),
        ) => a,
        other => panic!("{other:?}"),
    };
    let ctx: UpstreamTlsContext = unpack(UPSTREAM_TLS_CONTEXT, any).unwrap();
    let Some(ValidationContextType::CombinedValidationContext(v)) =
        ctx.common_tls_context.unwrap().validation_context_type
    else {
        panic!("combined validation context")
    };
    let sans: Vec<String> = v
        .default_validation_context
        .unwrap()
        .match_typed_subject_alt_names
        .into_iter()
        .filter_map(|m| match m.matcher?.match_pattern? {
            MatchPattern::Exact(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(
        sans,
        [
            "spiffe://rigging.local/ns/default/dc/dc1/svc/db",
            "spiffe://rigging.local/ns/default/dc/dc2/svc/db",
        ]
    );
}

/// A redirect to another datacenter sends every call there; without cross-datacenter rules
/// the endpoints of every datacenter stay together, as before.
#[test]
fn redirects_and_meshes_without_rules() {
    let e = entries(&[r#"
Kind = "service-resolver"
Name = "db"
Redirect { Datacenter = "dc3" }
"#]);
    let res = compile(&mesh(), &e, &ProxyId::new("web-1").unwrap(), &secured()).unwrap();
    let remote = res
        .endpoints
        .iter()
        .find(|c| c.cluster_name.contains("dc3"))
        .unwrap();
    assert_eq!(
        by_priority(remote),
        [(0, vec!["10.3.0.1:21000".to_owned()])]
    );

    let plain = compile(
        &mesh(),
        &entries(&[]),
        &ProxyId::new("web-1").unwrap(),
        &secured(),
    )
    .unwrap();
    assert_eq!(mtls::addresses(cla(&plain, "db")).len(), 4);
}
