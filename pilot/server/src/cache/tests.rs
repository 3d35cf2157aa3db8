use super::*;
use rigging_mesh_model::{Health, ProxyId};
use rigging_mesh_spiffe::TrustDomain;
use rigging_mesh_test_util::{catalog, endpoint, proxy, service, sidecar_endpoint};
use rigging_pilot_compiler::{Entries, MeshSecurity, compile};

fn secured() -> Arc<CompileOptions> {
    let td = TrustDomain::new("rigging.local").unwrap();
    Arc::new(CompileOptions {
        security: Some(MeshSecurity::new(td, "dc1").unwrap()),
    })
}

fn demo() -> Catalog {
    catalog(
        vec![
            service("web", Protocol::Http, vec![]),
            service(
                "api",
                Protocol::Grpc,
                vec![
                    endpoint("api-1", "127.0.0.1:21001", Health::Passing, "a"),
                    sidecar_endpoint("api-2", "127.0.0.1:21002", Health::Passing, "a"),
                ],
            ),
            service("db", Protocol::Tcp, vec![]),
        ],
        vec![proxy(
            "web-1",
            "web",
            21000,
            8080,
            &[("api", 9191), ("db", 9192), ("ghost", 9193)],
        )],
    )
}

/// The shared, cached assembly sends exactly what the pure compiler compiles, in a
/// plaintext and in a secured mesh.
#[test]
fn view_equals_the_compiler_output() {
    let cat = demo();
    for opts in [Arc::default(), secured()] {
        assert_view_is_compiled(&cat, &Arc::default(), &opts);
    }
}

/// Builds `web-1`'s view the cached way and checks it against [`compile`], resource by
/// resource and version by version; returns the compiled resources.
fn assert_view_is_compiled(
    cat: &Catalog,
    entries: &Arc<Entries>,
    opts: &Arc<CompileOptions>,
) -> ProxyResources {
    let id = ProxyId::new("web-1").unwrap();
    let shared = Shared::with_entries(cat, entries.clone(), opts.clone());
    let view = ProxyView::build(cat, &shared, cat.proxy(&id).unwrap(), &mut None);
    let compiled = compile(cat, entries, &id, opts).unwrap();
    for ty in ResourceType::ALL {
        let want = compiled.packed(ty);
        let (version, items) = view.select(ty, &[]);
        let got: Vec<Any> = items.iter().map(|p| p.any.clone()).collect();
        assert_eq!(got, want.clone().into_any(), "{ty} {opts:?}");
        assert_eq!(version, want.version, "{ty} {opts:?}");
    }
    compiled
}

/// Config entries for `api` (a router, a splitter over subsets, a resolver with a ring
/// hash, faults) and for `db` (a TCP redirect), and `web`'s own upstream limits.
fn entries() -> Arc<Entries> {
    let text = r#"
config_entries {
  bootstrap {
Kind = "service-defaults"
Name = "api"
Protocol = "grpc"
  }
  bootstrap {
Kind = "service-router"
Name = "api"
Routes = [{
  Match { HTTP { PathPrefix = "/admin" } }
  Destination {
    Service = "api"
    ServiceSubset = "v2"
    NumRetries = 2
    RetryOnStatusCodes = [503]
    Fault { Abort { Percent = 10, HTTPStatus = 503 } }
  }
}]
  }
  bootstrap {
Kind = "service-splitter"
Name = "api"
Splits = [{ Weight = 90, ServiceSubset = "v1" }, { Weight = 10, ServiceSubset = "v2" }]
  }
  bootstrap {
Kind = "service-resolver"
Name = "api"
Subsets = {
  v1 = { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2" }
}
LoadBalancer { Policy = "ring_hash" }
  }
  bootstrap {
Kind = "service-resolver"
Name = "db"
Redirect { Service = "api" }
  }
  bootstrap {
Kind = "service-defaults"
Name = "web"
UpstreamConfig {
  Overrides = [{ Name = "api", Limits { MaxConcurrentRequests = 7 } }]
}
  }
}
"#;
    let loaded = rigging_mesh_config_entries::parse_str(std::path::Path::new("e.hcl"), text);
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    assert!(rigging_mesh_config_entries::validate_set(&loaded.entries).is_empty());
    Arc::new(Entries::new(loaded.entries))
}

/// With config entries too, the cached assembly (shared chains plus the caller's own
/// upstream settings) sends exactly what the pure compiler compiles.
#[test]
fn view_with_entries_equals_the_compiler_output() {
    let cat = demo();
    let id = ProxyId::new("web-1").unwrap();
    for opts in [Arc::default(), secured()] {
        let compiled = assert_view_is_compiled(&cat, &entries(), &opts);
        let plain = compile(&cat, &Entries::default(), &id, &opts).unwrap();
        for ty in [
            ResourceType::Listener,
            ResourceType::Route,
            ResourceType::Cluster,
        ] {
            let version = compiled.packed(ty).version;
            assert_ne!(version, plain.packed(ty).version, "entries change {ty}");
        }
    }
}

/// With security, a change of the proxy's own mTLS mode rebuilds its inbound listener.
#[test]
fn own_mode_change_rebuilds_the_inbound_listener() {
    let mut cat = demo();
    let id = ProxyId::new("web-1").unwrap();
    let opts = secured();
    let mut own = None;
    let _ = ProxyView::build(
        &cat,
        &Shared::build(&cat, opts.clone()),
        cat.proxy(&id).unwrap(),
        &mut own,
    );
    let first = own.as_ref().map(|o| Arc::as_ptr(&o.listeners[0]));
    cat.services
        .get_mut(&rigging_mesh_test_util::name("web"))
        .unwrap()
        .mutual_tls_mode = MutualTlsMode::Permissive;
    let view = ProxyView::build(
        &cat,
        &Shared::build(&cat, opts.clone()),
        cat.proxy(&id).unwrap(),
        &mut own,
    );
    assert_ne!(own.as_ref().map(|o| Arc::as_ptr(&o.listeners[0])), first);
    assert_eq!(
        view.select(ResourceType::Listener, &[]).0,
        compile(&cat, &Entries::default(), &id, &opts)
            .unwrap()
            .packed(ResourceType::Listener)
            .version
    );
}

#[test]
fn own_pieces_are_rebuilt_only_when_their_inputs_change() {
    let mut cat = demo();
    let id = ProxyId::new("web-1").unwrap();
    let mut own = None;
    let _ = ProxyView::build(
        &cat,
        &Shared::build(&cat, Arc::default()),
        cat.proxy(&id).unwrap(),
        &mut own,
    );
    let first = own.as_ref().map(|o| Arc::as_ptr(&o.listeners[0]));

    // An endpoint change leaves the proxy's own pieces alone.
    cat.services
        .get_mut(&rigging_mesh_test_util::name("api"))
        .unwrap()
        .endpoints
        .clear();
    let _ = ProxyView::build(
        &cat,
        &Shared::build(&cat, Arc::default()),
        cat.proxy(&id).unwrap(),
        &mut own,
    );
    assert_eq!(own.as_ref().map(|o| Arc::as_ptr(&o.listeners[0])), first);

    // A protocol change of an upstream rebuilds them (the outbound listener changes).
    cat.services
        .get_mut(&rigging_mesh_test_util::name("db"))
        .unwrap()
        .protocol = Protocol::Http;
    let view = ProxyView::build(
        &cat,
        &Shared::build(&cat, Arc::default()),
        cat.proxy(&id).unwrap(),
        &mut own,
    );
    assert_ne!(own.as_ref().map(|o| Arc::as_ptr(&o.listeners[0])), first);
    assert_eq!(
        view.select(ResourceType::Listener, &[]).0,
        compile(&cat, &Entries::default(), &id, &CompileOptions::default())
            .unwrap()
            .packed(ResourceType::Listener)
            .version
    );
}
