//! Whole discovery responses: unpack each `Any`, convert it, reject duplicate names; and the
//! questions the xDS client asks of a [`ProxyConfig`].

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::google::protobuf::Any;
use prost::Message;
use rigging_mesh_xds::{ResourceType, unpack};

use crate::error::{ConfigError, ResourceKind};
use crate::types::{
    Cluster, ClusterEndpoints, Discovery, Listener, ListenerKind, ProxyConfig, RouteConfig,
};

/// The listeners of an LDS response.
pub fn decode_listeners(resources: &[Any]) -> Result<Vec<Listener>, ConfigError> {
    decode_all::<rigging_mesh_xds::Listener, Listener>(
        resources,
        ResourceType::Listener,
        ResourceKind::Listener,
        |l| &l.name,
    )
}

/// The route configurations of an RDS response.
pub fn decode_routes(resources: &[Any]) -> Result<Vec<RouteConfig>, ConfigError> {
    decode_all::<rigging_mesh_xds::RouteConfiguration, RouteConfig>(
        resources,
        ResourceType::Route,
        ResourceKind::RouteConfig,
        |r| &r.name,
    )
}

/// The clusters of a CDS response.
pub fn decode_clusters(resources: &[Any]) -> Result<Vec<Cluster>, ConfigError> {
    decode_all::<rigging_mesh_xds::Cluster, Cluster>(
        resources,
        ResourceType::Cluster,
        ResourceKind::Cluster,
        |c| &c.name,
    )
}

/// The load assignments of an EDS response.
pub fn decode_endpoints(resources: &[Any]) -> Result<Vec<ClusterEndpoints>, ConfigError> {
    decode_all::<rigging_mesh_xds::ClusterLoadAssignment, ClusterEndpoints>(
        resources,
        ResourceType::Endpoint,
        ResourceKind::ClusterLoadAssignment,
        |e| &e.cluster,
    )
}

fn decode_all<X, T>(
    resources: &[Any],
    ty: ResourceType,
    kind: ResourceKind,
    name: impl Fn(&T) -> &str,
) -> Result<Vec<T>, ConfigError>
where
    X: Message + Default,
    T: TryFrom<X, Error = ConfigError>,
{
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(resources.len());
    for (index, any) in resources.iter().enumerate() {
        let msg: X = unpack(ty.type_url(), any).map_err(|source| ConfigError::Decode {
            kind,
            index,
            source,
        })?;
        let item = T::try_from(msg)?;
        if !seen.insert(name(&item).to_owned()) {
            return Err(ConfigError::Duplicate {
                kind,
                name: name(&item).to_owned(),
            });
        }
        out.push(item);
    }
    Ok(out)
}

fn by_name<T>(items: Vec<T>, name: impl Fn(&T) -> &str) -> BTreeMap<String, T> {
    items
        .into_iter()
        .map(|t| (name(&t).to_owned(), t))
        .collect()
}

impl ProxyConfig {
    /// A copy of this config with every resource of type `ty` replaced by `resources` (state of
    /// the world), or the error to NACK with; `self` is left as it was either way.
    pub fn with_resources(&self, ty: ResourceType, resources: &[Any]) -> Result<Self, ConfigError> {
        let mut next = self.clone();
        match ty {
            ResourceType::Listener => {
                next.listeners = by_name(decode_listeners(resources)?, |l| &l.name)
            }
            ResourceType::Route => next.routes = by_name(decode_routes(resources)?, |r| &r.name),
            ResourceType::Cluster => {
                next.clusters = by_name(decode_clusters(resources)?, |c| &c.name)
            }
            ResourceType::Endpoint => {
                next.endpoints = by_name(decode_endpoints(resources)?, |e| &e.cluster);
            }
        }
        Ok(next)
    }

    /// The clusters whose endpoints come from EDS, sorted: the names to subscribe to.
    pub fn eds_names(&self) -> Vec<String> {
        self.clusters
            .values()
            .filter(|c| c.discovery == Discovery::Eds)
            .map(|c| c.name.clone())
            .collect()
    }

    /// The route configurations the HTTP listeners use, sorted and deduplicated: the names to
    /// subscribe to over RDS.
    pub fn rds_names(&self) -> Vec<String> {
        let names: BTreeSet<&str> = self
            .listeners
            .values()
            .filter_map(|l| match &l.kind {
                ListenerKind::Http { route_config, .. } => Some(route_config.as_str()),
                ListenerKind::Tcp { .. } | ListenerKind::Sni { .. } => None,
            })
            .collect();
        names.into_iter().map(str::to_owned).collect()
    }

    /// References to resources this config does not (yet) hold. They are warnings, not errors:
    /// xDS resources arrive in any order, and a dangling reference fails only its own traffic.
    pub fn check_references(&self) -> Vec<String> {
        let mut out = Vec::new();
        for l in self.listeners.values() {
            match &l.kind {
                ListenerKind::Http { route_config, .. }
                    if !self.routes.contains_key(route_config) =>
                {
                    out.push(format!(
                        "listener {:?}: route configuration {route_config:?} not found",
                        l.name
                    ));
                }
                ListenerKind::Tcp { cluster } if !self.clusters.contains_key(cluster) => {
                    out.push(format!(
                        "listener {:?}: cluster {cluster:?} not found",
                        l.name
                    ));
                }
                ListenerKind::Sni { routes } => {
                    for r in routes
                        .iter()
                        .filter(|r| !self.clusters.contains_key(&r.cluster))
                    {
                        out.push(format!(
                            "listener {:?}: server names {:?}: cluster {:?} not found",
                            l.name, r.server_names, r.cluster
                        ));
                    }
                }
                _ => {}
            }
        }
        for rc in self.routes.values() {
            for vh in &rc.virtual_hosts {
                for r in &vh.routes {
                    let mirrors = r.action.mirrors.iter().map(|m| m.cluster.as_str());
                    for cluster in r.action.destination.clusters().chain(mirrors) {
                        if !self.clusters.contains_key(cluster) {
                            out.push(format!(
                                "route configuration {:?}: virtual host {:?}: route {:?}: cluster {cluster:?} not found",
                                rc.name, vh.name, r.name
                            ));
                        }
                    }
                }
            }
        }
        // A route's fault applies only where the listener runs the fault filter. Listeners and
        // routes arrive separately, so this is a warning, not a NACK.
        for l in self.listeners.values() {
            let ListenerKind::Http {
                route_config,
                fault_filter: false,
                ..
            } = &l.kind
            else {
                continue;
            };
            let faulty = self.routes.get(route_config).into_iter().flat_map(|rc| {
                rc.virtual_hosts
                    .iter()
                    .flat_map(|vh| vh.routes.iter())
                    .filter(|r| r.fault.is_some())
            });
            for r in faulty {
                out.push(format!(
                    "listener {:?}: route {:?} of {route_config:?} injects faults but the listener has no {} filter",
                    l.name,
                    r.name,
                    crate::FAULT_FILTER_NAME
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests;
