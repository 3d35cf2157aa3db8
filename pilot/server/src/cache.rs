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
    pub(crate) fn new<M: Message>(ty: ResourceType, name: &str, msg: &M) -> Arc<Self> {
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

    /// The options every proxy is compiled with.
    pub(crate) fn options(&self) -> &CompileOptions {
        &self.opts
    }

    /// A service no registry knows is packed on the spot (TCP, no endpoints, unless config
    /// entries redirect it); that is rare.
    pub(crate) fn upstream(&self, catalog: &Catalog, name: &ServiceName) -> Arc<SharedUpstream> {
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

        let mut routes = own.routes.clone();
        routes.extend(ups.iter().filter_map(|u| u.route.clone()));
        let mut clusters = own.clusters.clone();
        for (up, shared_up) in proxy.upstreams.iter().zip(&ups) {
            clusters.extend(shared_up.clusters_for(&shared.entries, &proxy.service, &up.service));
        }
        let endpoints = ups
            .iter()
            .flat_map(|u| u.endpoints.iter().cloned())
            .collect();
        Self::from_items(own.listeners.clone(), routes, clusters, endpoints)
    }

    /// A view of the given resources (a gateway's), each type sorted by name with one
    /// resource per name.
    pub(crate) fn from_items(
        listeners: Vec<Arc<Packed>>,
        routes: Vec<Arc<Packed>>,
        clusters: Vec<Arc<Packed>>,
        endpoints: Vec<Arc<Packed>>,
    ) -> Self {
        let mut view = Self::default();
        view.sets[index(ResourceType::Listener)].items = listeners;
        view.sets[index(ResourceType::Route)].items = routes;
        view.sets[index(ResourceType::Cluster)].items = clusters;
        view.sets[index(ResourceType::Endpoint)].items = endpoints;
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
mod tests;
