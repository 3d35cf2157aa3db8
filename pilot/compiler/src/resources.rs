//! The compiled resources of one proxy, and their xDS versions.

use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use rigging_mesh_xds::{
    Cluster, ClusterLoadAssignment, Listener, ResourceType, RouteConfiguration, pack,
};

/// Everything one proxy is sent, sorted by name within each type.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProxyResources {
    pub listeners: Vec<Listener>,
    pub routes: Vec<RouteConfiguration>,
    pub clusters: Vec<Cluster>,
    pub endpoints: Vec<ClusterLoadAssignment>,
}

/// The packed resources of one type with their version.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionedResources {
    /// A hash of the encoded resources: equal content, equal version, across Pilot restarts.
    pub version: String,
    /// `(name, resource)`, sorted by name.
    pub resources: Vec<(String, Any)>,
}

impl ProxyResources {
    /// Sorts each type by name and keeps one resource per name: two upstreams whose chains
    /// reach the same target (a redirect, a failover) share its cluster and endpoints.
    pub(crate) fn sort(&mut self) {
        self.listeners.sort_by(|a, b| a.name.cmp(&b.name));
        self.routes.sort_by(|a, b| a.name.cmp(&b.name));
        self.clusters.sort_by(|a, b| a.name.cmp(&b.name));
        self.clusters.dedup_by(|a, b| a.name == b.name);
        self.endpoints
            .sort_by(|a, b| a.cluster_name.cmp(&b.cluster_name));
        self.endpoints
            .dedup_by(|a, b| a.cluster_name == b.cluster_name);
    }

    /// The resources of one type, packed for a DiscoveryResponse, with their version.
    pub fn packed(&self, ty: ResourceType) -> VersionedResources {
        let url = ty.type_url();
        let resources: Vec<(String, Any)> = match ty {
            ResourceType::Listener => named(&self.listeners, |r| &r.name, url),
            ResourceType::Route => named(&self.routes, |r| &r.name, url),
            ResourceType::Cluster => named(&self.clusters, |r| &r.name, url),
            ResourceType::Endpoint => named(&self.endpoints, |r| &r.cluster_name, url),
        };
        VersionedResources {
            version: version_of(&resources),
            resources,
        }
    }
}

fn named<M: Message>(items: &[M], name: impl Fn(&M) -> &String, url: &str) -> Vec<(String, Any)> {
    items
        .iter()
        .map(|m| (name(m).clone(), pack(url, m)))
        .collect()
}

/// FNV-1a over names and encodings. Encodings are deterministic because every map the compiler
/// fills holds at most one entry (prost encodes maps in iteration order).
fn version_of(resources: &[(String, Any)]) -> String {
    let hashes: Vec<(&str, u64)> = resources
        .iter()
        .map(|(n, a)| (n.as_str(), content_hash(&a.value)))
        .collect();
    combine_version(hashes.iter().copied())
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The hash of one encoded resource (FNV-1a, 64 bits).
pub fn content_hash(encoded: &[u8]) -> u64 {
    fnv(FNV_OFFSET, encoded)
}

/// The version of a set of resources from their names and content hashes, in order: cheap to
/// recompute for every proxy, since each resource is hashed once.
pub fn combine_version<'a>(items: impl IntoIterator<Item = (&'a str, u64)>) -> String {
    let mut h = FNV_OFFSET;
    for (name, hash) in items {
        h = fnv(h, name.as_bytes());
        h = fnv(h, &[0]);
        h = fnv(h, &hash.to_le_bytes());
    }
    format!("{h:016x}")
}

impl VersionedResources {
    /// Only the named resources (EDS and RDS subscribe by name), with the version of what is
    /// kept; everything when `names` is empty.
    pub fn select(&self, names: &[String]) -> VersionedResources {
        if names.is_empty() {
            return self.clone();
        }
        let resources: Vec<(String, Any)> = self
            .resources
            .iter()
            .filter(|(n, _)| names.iter().any(|x| x == n))
            .cloned()
            .collect();
        VersionedResources {
            version: version_of(&resources),
            resources,
        }
    }

    /// The resources alone, for a DiscoveryResponse.
    pub fn into_any(self) -> Vec<Any> {
        self.resources.into_iter().map(|(_, a)| a).collect()
    }
}
