//! Packed resources built once per snapshot and shared by every proxy that uses them.
//!
//! An upstream service's route, cluster and endpoints are the same for every caller, so a
//! snapshot packs them once; a proxy's own pieces (its listeners, inbound route and
//! `local_app` cluster) are packed once per stream and rebuilt only when the proxy's
//! registration or a protocol it depends on changes. A push then only assembles references
//! and combines precomputed hashes into versions.

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use rigging_mesh_model::{Catalog, MutualTlsMode, Protocol, Proxy, ServiceName};
use rigging_mesh_xds::{ResourceType, pack};
use rigging_pilot_compiler::{
    CompileOptions, Entries, ProxyResources, UpstreamResources, caller_clusters, combine_version,
    compile_own, compile_upstream, content_hash, outbound_listener_for,
};

/// One resource, encoded once, with its hash.
#[derive(Debug)]
pub(crate) struct Packed {
    pub name: String,
    pub any: Any,
    pub hash: u64,
}

impl Packed {
    fn new<M: Message>(ty: ResourceType, name: &str, msg: &M) -> Arc<Self> {
        let any = pack(ty.type_url(), msg);
        let hash = content_hash(&any.value);
        Arc::new(Self {
            name: name.to_owned(),
            any,
            hash,
        })
    }
}

/// What every caller of one service receives for it.
#[derive(Debug)]
pub(crate) struct SharedUpstream {
    pub protocol: Protocol,
    pub route: Option<Arc<Packed>>,
    pub clusters: Vec<Arc<Packed>>,
    pub endpoints: Vec<Arc<Packed>>,
    /// The compiled resources, for the caller-specific clusters and the outbound listener.
    pub compiled: UpstreamResources,
}

impl SharedUpstream {
    fn build(
        catalog: &Catalog,
        entries: &Entries,
        name: &ServiceName,
        opts: &CompileOptions,
    ) -> Arc<Self> {
        let up = compile_upstream(catalog, entries, name, opts);
        if let Some(e) = &up.chain_error {
            tracing::warn!(service = %name, "discovery chain not compiled, serving the service without its config entries: {e}");
        }
        Arc::new(Self {
            protocol: up.protocol,
            route: up
                .route
                .as_ref()
                .map(|r| Packed::new(ResourceType::Route, &r.name, r)),
            clusters: up
                .clusters
                .iter()
                .map(|c| Packed::new(ResourceType::Cluster, &c.name, c))
                .collect(),
            endpoints: up
                .endpoints
                .iter()
                .map(|e| Packed::new(ResourceType::Endpoint, &e.cluster_name, e))
                .collect(),
            compiled: up,
        })
    }

    /// The clusters `caller` gets for this upstream: the shared ones, or with the caller's
    /// `UpstreamConfig` applied when its `service-defaults` has one for this upstream.
    fn clusters_for(
        &self,
        entries: &Entries,
        caller: &ServiceName,
        upstream: &ServiceName,
    ) -> Vec<Arc<Packed>> {
        if entries
            .upstream_config(caller.as_str(), upstream.as_str())
            .is_empty()
        {
            return self.clusters.clone();
        }
        caller_clusters(entries, caller, upstream, &self.compiled)
            .iter()
            .map(|c| Packed::new(ResourceType::Cluster, &c.name, c))
            .collect()
    }
}

/// Every service of one snapshot, packed as an upstream, and the config entries and options
/// it was compiled with.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    upstreams: HashMap<ServiceName, Arc<SharedUpstream>>,
    entries: Arc<Entries>,
    opts: Arc<CompileOptions>,
}

impl Shared {
    #[cfg(test)]
    pub(crate) fn build(catalog: &Catalog, opts: Arc<CompileOptions>) -> Self {
        Self::with_entries(catalog, Arc::default(), opts)
    }

    pub(crate) fn with_entries(
        catalog: &Catalog,
        entries: Arc<Entries>,
        opts: Arc<CompileOptions>,
    ) -> Self {
        Self {
            upstreams: catalog
                .services
                .keys()
                .map(|n| {
                    (
                        n.clone(),
                        SharedUpstream::build(catalog, &entries, n, &opts),
                    )
                })
                .collect(),
            entries,
            opts,
        }
    }

    /// A service no registry knows is packed on the spot (TCP, no endpoints, unless config
    /// entries redirect it); that is rare.
    fn upstream(&self, catalog: &Catalog, name: &ServiceName) -> Arc<SharedUpstream> {
        self.upstreams
            .get(name)
            .cloned()
            .unwrap_or_else(|| SharedUpstream::build(catalog, &self.entries, name, &self.opts))
    }
}

/// What a proxy's own resources are built from besides the options: its registration, its
/// own and its upstreams' protocols, (with security) its service's mTLS mode, and for each
/// upstream the outbound listener's inputs from its chain (TCP target, fault filter).
type OwnKey = (
    Proxy,
    Vec<Protocol>,
    Option<MutualTlsMode>,
    Vec<(String, bool)>,
);

/// A proxy's own resources, and what they were built from.
#[derive(Debug)]
pub(crate) struct Own {
    key: OwnKey,
    listeners: Vec<Arc<Packed>>,
    routes: Vec<Arc<Packed>>,
    clusters: Vec<Arc<Packed>>,
}

/// The resources of one type for one proxy, sorted by name, with their version.
#[derive(Debug, Default)]
pub(crate) struct TypeSet {
    items: Vec<Arc<Packed>>,
}

/// A proxy's whole configuration as references into packed resources.
#[derive(Debug, Default)]
pub(crate) struct ProxyView {
    sets: [TypeSet; 4],
}

impl ProxyView {
    /// Assembles `proxy`'s view, reusing `own` when the proxy and the protocols it depends on
    /// are unchanged.
    pub(crate) fn build(
        catalog: &Catalog,
        shared: &Shared,
        proxy: &Proxy,
        own: &mut Option<Own>,
    ) -> Self {
        let ups: Vec<Arc<SharedUpstream>> = proxy
            .upstreams
            .iter()
            .map(|u| shared.upstream(catalog, &u.service))
            .collect();
        let own_service = catalog.service(&proxy.service);
        let own_protocol = own_service.map(|s| s.protocol).unwrap_or_default();
        let mut protocols = vec![own_protocol];
        protocols.extend(ups.iter().map(|u| u.protocol));
        let mode = shared
            .opts
            .security
            .as_ref()
            .map(|_| own_service.map(|s| s.mutual_tls_mode).unwrap_or_default());
        let chains = ups
            .iter()
            .map(|u| (u.compiled.tcp_cluster.clone(), u.compiled.uses_fault))
            .collect();
        let key = (proxy.clone(), protocols, mode, chains);
        if own.as_ref().is_none_or(|o| o.key != key) {
            *own = Some(build_own(catalog, proxy, &ups, key, &shared.opts));
        }
        let Some(own) = own.as_ref() else {
            return Self::default();
        };

        let mut view = Self::default();
        view.sets[index(ResourceType::Listener)].items = own.listeners.clone();
        let mut routes = own.routes.clone();
        routes.extend(ups.iter().filter_map(|u| u.route.clone()));
        view.sets[index(ResourceType::Route)].items = routes;
        let mut clusters = own.clusters.clone();
        for (up, shared_up) in proxy.upstreams.iter().zip(&ups) {
            clusters.extend(shared_up.clusters_for(&shared.entries, &proxy.service, &up.service));
        }
        view.sets[index(ResourceType::Cluster)].items = clusters;
        view.sets[index(ResourceType::Endpoint)].items = ups
            .iter()
            .flat_map(|u| u.endpoints.iter().cloned())
            .collect();
        for set in &mut view.sets {
            set.items.sort_by(|a, b| a.name.cmp(&b.name));
            set.items.dedup_by(|a, b| a.name == b.name);
        }
        view
    }

    /// The version and resources of `ty`, restricted to `names` when it is not empty (EDS and
    /// RDS subscribe by name).
    pub(crate) fn select(&self, ty: ResourceType, names: &[String]) -> (String, Vec<&Packed>) {
        let items: Vec<&Packed> = self.sets[index(ty)]
            .items
            .iter()
            .map(Arc::as_ref)
            .filter(|p| names.is_empty() || names.contains(&p.name))
            .collect();
        let version = combine_version(items.iter().map(|p| (p.name.as_str(), p.hash)));
        (version, items)
    }
}

fn build_own(
    catalog: &Catalog,
    proxy: &Proxy,
    ups: &[Arc<SharedUpstream>],
    key: OwnKey,
    opts: &CompileOptions,
) -> Own {
    let ProxyResources {
        listeners,
        routes,
        clusters,
        endpoints: _,
    } = compile_own(catalog, proxy, opts);
    let mut packed_listeners: Vec<Arc<Packed>> = listeners
        .iter()
        .map(|l| Packed::new(ResourceType::Listener, &l.name, l))
        .collect();
    for (up, shared) in proxy.upstreams.iter().zip(ups) {
        let l = outbound_listener_for(up, &shared.compiled);
        packed_listeners.push(Packed::new(ResourceType::Listener, &l.name, &l));
    }
    Own {
        key,
        listeners: packed_listeners,
        routes: routes
            .iter()
            .map(|r| Packed::new(ResourceType::Route, &r.name, r))
            .collect(),
        clusters: clusters
            .iter()
            .map(|c| Packed::new(ResourceType::Cluster, &c.name, c))
            .collect(),
    }
}

fn index(ty: ResourceType) -> usize {
    match ty {
        ResourceType::Cluster => 0,
        ResourceType::Endpoint => 1,
        ResourceType::Listener => 2,
        ResourceType::Route => 3,
    }
}

#[cfg(test)]
mod tests {
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
}
