use envoy_types::pb::google::protobuf::Any;
use proptest::prelude::*;
use prost::Message;
use rigging_mesh_xds::{ResourceType, pack};

use super::*;
use crate::convert::tests::fixtures;

fn packed<M: Message>(ty: ResourceType, m: &M) -> Any {
    pack(ty.type_url(), m)
}

fn config() -> ProxyConfig {
    let l = |x| packed(ResourceType::Listener, &x);
    let c = |x| packed(ResourceType::Cluster, &x);
    ProxyConfig::default()
        .with_resources(
            ResourceType::Listener,
            &[l(fixtures::http_listener()), l(fixtures::tcp_listener())],
        )
        .unwrap()
        .with_resources(
            ResourceType::Cluster,
            &[c(fixtures::eds_cluster()), c(fixtures::static_cluster())],
        )
        .unwrap()
}

#[test]
fn decodes_whole_responses() {
    let ls = decode_listeners(&[
        packed(ResourceType::Listener, &fixtures::http_listener()),
        packed(ResourceType::Listener, &fixtures::tcp_listener()),
    ])
    .unwrap();
    assert_eq!(ls.len(), 2);
    assert_eq!(
        decode_routes(&[packed(ResourceType::Route, &fixtures::route_config())]).unwrap()[0].name,
        "api"
    );
    assert_eq!(
        decode_clusters(&[packed(ResourceType::Cluster, &fixtures::eds_cluster())]).unwrap()[0]
            .name,
        "api"
    );
    assert_eq!(
        decode_endpoints(&[packed(ResourceType::Endpoint, &fixtures::cla())]).unwrap()[0].cluster,
        "api"
    );
    assert_eq!(decode_clusters(&[]).unwrap(), vec![]);
}

#[test]
fn rejects_duplicates_wrong_types_and_garbage() {
    let l = packed(ResourceType::Listener, &fixtures::http_listener());
    let err = decode_listeners(&[l.clone(), l.clone()]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"listener "outbound:api:9191": name: duplicate"#
    );
    let err =
        decode_clusters(&[packed(ResourceType::Cluster, &fixtures::eds_cluster()), l]).unwrap_err();
    assert!(matches!(err, ConfigError::Decode { index: 1, .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("cluster resources[1]: expected a resource of type"),
        "{err}"
    );
    let garbage = Any {
        type_url: ResourceType::Endpoint.type_url().into(),
        value: vec![0xff; 3],
    };
    let err = decode_endpoints(&[garbage]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cluster load assignment resources[0]: cannot decode"),
        "{err}"
    );
    let mut bad = fixtures::route_config();
    bad.name.clear();
    let err = decode_routes(&[packed(ResourceType::Route, &bad)]).unwrap_err();
    assert_eq!(err.to_string(), r#"route configuration "": name: missing"#);
}

#[test]
fn with_resources_replaces_one_type_and_keeps_the_config_on_error() {
    let cfg = config();
    assert_eq!(cfg.listeners.len(), 2);
    assert_eq!(cfg.clusters.len(), 2);
    let bad = packed(ResourceType::Cluster, &rigging_mesh_xds::Cluster::default());
    assert!(cfg.with_resources(ResourceType::Cluster, &[bad]).is_err());
    let none = cfg.with_resources(ResourceType::Cluster, &[]).unwrap();
    assert!(none.clusters.is_empty());
    assert_eq!(none.listeners, cfg.listeners);
}

#[test]
fn names_to_subscribe_and_dangling_references() {
    let cfg = config();
    assert_eq!(cfg.eds_names(), ["api"]);
    assert_eq!(cfg.rds_names(), ["api"]);
    assert_eq!(
        cfg.check_references(),
        [r#"listener "outbound:api:9191": route configuration "api" not found"#]
    );
    let mut rc = fixtures::route_config();
    fixtures::first_action(&mut rc).cluster_specifier = Some(
        envoy_types::pb::envoy::config::route::v3::route_action::ClusterSpecifier::Cluster(
            "gone".into(),
        ),
    );
    let cfg = cfg
        .with_resources(ResourceType::Route, &[packed(ResourceType::Route, &rc)])
        .unwrap();
    assert_eq!(
        cfg.check_references(),
        [
            r#"route configuration "api": virtual host "api": route "default": cluster "gone" not found"#
        ]
    );
    let cfg = cfg.with_resources(ResourceType::Cluster, &[]).unwrap();
    assert_eq!(
        cfg.check_references().len(),
        2,
        "{:?}",
        cfg.check_references()
    );
    assert!(cfg.eds_names().is_empty());
}

/// Decodes `bytes` as every resource type; only the absence of a panic matters.
fn decode_everything(bytes: &[u8]) {
    for ty in ResourceType::ALL {
        let a = [Any {
            type_url: ty.type_url().into(),
            value: bytes.to_vec(),
        }];
        let _ = decode_listeners(&a);
        let _ = decode_routes(&a);
        let _ = decode_clusters(&a);
        let _ = decode_endpoints(&a);
        let _ = ProxyConfig::default().with_resources(ty, &a);
    }
}

/// Encoded valid resources, the seeds that random edits start from.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        fixtures::http_listener().encode_to_vec(),
        fixtures::tcp_listener().encode_to_vec(),
        fixtures::route_config().encode_to_vec(),
        fixtures::eds_cluster().encode_to_vec(),
        fixtures::static_cluster().encode_to_vec(),
        fixtures::cla().encode_to_vec(),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn edited_valid_resources_never_panic(
        seed in 0usize..6,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = seeds()[seed].clone();
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        decode_everything(&bytes);
    }
}
