//! An ingress gateway's resources, from its `ingress-gateway` config entry: one listener per
//! entry listener, and the routes, clusters and endpoints of the services behind them, each
//! from the service's discovery chain (the same shared part a sidecar's upstream gets).
//!
//! Consul's rules: on an HTTP listener each service is a virtual host whose domains are its
//! `Hosts`, or `<service>.ingress.*` without them, each also with `:<port>`; the wildcard
//! service `*` exposes every service of the listener's protocol that is not named on the
//! listener. A `tcp` listener forwards to its one service. `Defaults` and each service's
//! limits and `PassiveHealthCheck` apply to the gateway's copies of the clusters.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Deref;

use rigging_mesh_config_entries::{
    IngressDefaults, IngressGateway, IngressListener, IngressService, Limits, PassiveHealthCheck,
};
use rigging_mesh_model::{Catalog, ServiceName};
use rigging_mesh_xds::Cluster;

mod tls;

use tls::served_tls;
pub(crate) use tls::{ServedCert, ServedTls};

use crate::emit::chain_cluster::{circuit_breakers, outlier_detection};
use crate::emit::ingress;
use crate::upstream::model_protocol;
use crate::{
    CompileError, CompileOptions, Entries, IngressNode, ProxyResources, UpstreamResources,
    compile_upstream,
};

/// What an ingress gateway is sent, and what of its entry is not served.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngressResources {
    pub resources: ProxyResources,
    /// Every service a listener routes to, sorted.
    pub services: Vec<ServiceName>,
    /// What of the entry is not served, and why, for logs and `rig status`; empty normally.
    pub notes: Vec<String>,
}

/// Compiles gateway `node`'s resources from its `ingress-gateway` entry; an unknown name
/// is [`CompileError::UnknownGateway`].
pub fn compile_ingress(
    catalog: &Catalog,
    entries: &Entries,
    node: &IngressNode,
    opts: &CompileOptions,
) -> Result<IngressResources, CompileError> {
    compile_ingress_with(catalog, entries, node, opts, |name| {
        Box::new(compile_upstream(catalog, entries, name, opts))
    })
}

/// [`compile_ingress`] with each service's shared part from `upstream` (Pilot passes the
/// snapshot's, compiled once for every proxy).
pub fn compile_ingress_with<U: Deref<Target = UpstreamResources>>(
    catalog: &Catalog,
    entries: &Entries,
    node: &IngressNode,
    opts: &CompileOptions,
    upstream: impl FnMut(&ServiceName) -> U,
) -> Result<IngressResources, CompileError> {
    let gw = entries
        .ingress_gateway(node.name.as_str())
        .ok_or_else(|| CompileError::UnknownGateway(node.name.clone()))?;
    let mut b = Builder {
        catalog,
        gw,
        node,
        upstream,
        memo: BTreeMap::new(),
        out: IngressResources::default(),
        services: BTreeSet::new(),
    };
    for l in &gw.listeners {
        let tls = match served_tls(gw, l, opts.security.is_some(), &mut b.out.notes) {
            Ok(tls) => tls,
            Err(why) => {
                b.note(format!(
                    "listener on port {}: {why}; the listener is not opened",
                    l.port
                ));
                continue;
            }
        };
        if l.protocol.is_l7() {
            b.http_listener(l, tls.as_ref());
        } else {
            b.tcp_listener(l, tls.as_ref());
        }
    }
    let Builder {
        mut out, services, ..
    } = b;
    out.services = services.into_iter().collect();
    out.resources.sort();
    Ok(out)
}

struct Builder<'a, U, F> {
    catalog: &'a Catalog,
    gw: &'a IngressGateway,
    node: &'a IngressNode,
    upstream: F,
    memo: BTreeMap<ServiceName, U>,
    out: IngressResources,
    services: BTreeSet<ServiceName>,
}

impl<U, F> Builder<'_, U, F>
where
    U: Deref<Target = UpstreamResources>,
    F: FnMut(&ServiceName) -> U,
{
    fn note(&mut self, note: String) {
        self.out.notes.push(note);
    }

    fn shared(&mut self, name: &ServiceName) -> &UpstreamResources {
        let upstream = &mut self.upstream;
        self.memo
            .entry(name.clone())
            .or_insert_with(|| upstream(name))
    }

    fn http_listener(&mut self, l: &IngressListener, tls: Option<&ServedTls>) {
        let protocol = model_protocol(&l.protocol);
        let named: Vec<&str> = l
            .services
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| *n != "*")
            .collect();
        let mut vhosts = Vec::new();
        let mut taken: HashSet<String> = HashSet::new();
        let mut fault = false;
        for s in &l.services {
            let names: Vec<ServiceName> = if s.name == "*" {
                let all: Vec<ServiceName> = self.catalog.services.keys().cloned().collect();
                all.into_iter()
                    .filter(|n| !named.contains(&n.as_str()))
                    .filter(|n| self.shared(n).protocol == protocol)
                    .collect()
            } else {
                match ServiceName::new(s.name.as_str()) {
                    Ok(n) => vec![n],
                    Err(e) => {
                        self.note(format!(
                            "listener on port {}: service {:?}: {e}",
                            l.port, s.name
                        ));
                        continue;
                    }
                }
            };
            for name in names {
                if let Some(vh) = self.virtual_host(l, s, &name, &mut taken, &mut fault) {
                    vhosts.push(vh);
                }
            }
        }
        let bind = self.node.bind;
        let res = &mut self.out.resources;
        res.listeners
            .push(ingress::http_listener(bind, l.port, fault, tls));
        res.routes.push(ingress::route_config(l.port, vhosts));
    }

    fn virtual_host(
        &mut self,
        l: &IngressListener,
        s: &IngressService,
        name: &ServiceName,
        taken: &mut HashSet<String>,
        fault: &mut bool,
    ) -> Option<envoy_types::pb::envoy::config::route::v3::VirtualHost> {
        let port = l.port;
        let gw = self.gw;
        let shared = self.shared(name);
        let Some(route) = shared.route.clone() else {
            let p = shared.protocol;
            self.note(format!(
                "listener on port {port}: service {name} speaks {p:?}, not HTTP; it is not routed"
            ));
            return None;
        };
        *fault |= shared.uses_fault;
        let clusters = gateway_clusters(&shared.clusters, gw.defaults.as_ref(), s);
        let endpoints = shared.endpoints.clone();
        let mut domains = domains(s, name, port);
        let before = domains.len();
        domains.retain(|d| taken.insert(d.clone()));
        if domains.len() < before {
            self.note(format!("listener on port {port}: service {name}: a host is already routed to another service on this listener; it is left out"));
        }
        if domains.is_empty() {
            return None;
        }
        let vh = ingress::virtual_host(
            name.as_str(),
            domains,
            &route,
            s.request_headers.as_ref(),
            s.response_headers.as_ref(),
        );
        self.add(name, clusters, endpoints);
        Some(vh)
    }

    fn tcp_listener(&mut self, l: &IngressListener, tls: Option<&ServedTls>) {
        let port = l.port;
        let Some(s) = l.services.first() else {
            self.note(format!(
                "listener on port {port}: no service; the listener is not opened"
            ));
            return;
        };
        if l.services.len() > 1 {
            self.note(format!("listener on port {port}: a tcp listener forwards to one service; only {:?} is served", s.name));
        }
        let name = match ServiceName::new(s.name.as_str()) {
            Ok(n) => n,
            Err(e) => {
                self.note(format!(
                    "listener on port {port}: service {:?}: {e}; the listener is not opened",
                    s.name
                ));
                return;
            }
        };
        let gw = self.gw;
        let shared = self.shared(&name);
        let (protocol, cluster) = (shared.protocol, shared.tcp_cluster.clone());
        let clusters = gateway_clusters(&shared.clusters, gw.defaults.as_ref(), s);
        let endpoints = shared.endpoints.clone();
        if protocol.is_http() {
            self.note(format!("listener on port {port}: service {name} speaks {protocol:?}; the tcp listener forwards connections to {cluster} without its routes"));
        }
        self.out.resources.listeners.push(ingress::tcp_listener(
            self.node.bind,
            port,
            &cluster,
            tls,
        ));
        self.add(&name, clusters, endpoints);
    }

    fn add(
        &mut self,
        name: &ServiceName,
        clusters: Vec<Cluster>,
        endpoints: Vec<rigging_mesh_xds::ClusterLoadAssignment>,
    ) {
        self.services.insert(name.clone());
        self.out.resources.clusters.extend(clusters);
        self.out.resources.endpoints.extend(endpoints);
    }
}

/// `Hosts`, or Consul's default `<service>.ingress.*`; each also with `:<port>`, since a
/// Host header carries the port when it is not the scheme's.
fn domains(s: &IngressService, name: &ServiceName, port: u16) -> Vec<String> {
    let mut out: Vec<String> = if s.hosts.is_empty() {
        vec![format!("{name}.ingress.*")]
    } else {
        s.hosts.clone()
    };
    let with_port: Vec<String> = out.iter().map(|h| format!("{h}:{port}")).collect();
    for h in with_port {
        if !out.contains(&h) {
            out.push(h);
        }
    }
    out
}

/// The gateway's copies of a service's clusters: `Defaults` overlaid field by field with the
/// service's own limits and passive health check (Consul's `configIngressUpstreamCluster`).
fn gateway_clusters(
    shared: &[Cluster],
    defaults: Option<&IngressDefaults>,
    s: &IngressService,
) -> Vec<Cluster> {
    let base = defaults.map(|d| &d.limits);
    let limits = Limits {
        max_connections: s
            .limits
            .max_connections
            .or(base.and_then(|l| l.max_connections)),
        max_pending_requests: s
            .limits
            .max_pending_requests
            .or(base.and_then(|l| l.max_pending_requests)),
        max_concurrent_requests: s
            .limits
            .max_concurrent_requests
            .or(base.and_then(|l| l.max_concurrent_requests)),
    };
    let check = merge_checks(
        defaults.and_then(|d| d.passive_health_check.as_ref()),
        s.passive_health_check.as_ref(),
    );
    let limited = limits != Limits::default();
    shared
        .iter()
        .cloned()
        .map(|mut c| {
            if limited {
                c.circuit_breakers = Some(circuit_breakers(Some(&limits)));
            }
            if let Some(p) = &check {
                c.outlier_detection = Some(outlier_detection(p));
            }
            c
        })
        .collect()
}

/// The service's passive health check over the gateway's `Defaults`, field by field.
fn merge_checks(
    base: Option<&PassiveHealthCheck>,
    over: Option<&PassiveHealthCheck>,
) -> Option<PassiveHealthCheck> {
    let (base, over) = match (base, over) {
        (None, None) => return None,
        (Some(b), None) => return Some(b.clone()),
        (None, Some(o)) => return Some(o.clone()),
        (Some(b), Some(o)) => (b, o),
    };
    Some(PassiveHealthCheck {
        interval: over.interval.or(base.interval),
        max_failures: if over.max_failures > 0 {
            over.max_failures
        } else {
            base.max_failures
        },
        enforcing_consecutive_5xx: over
            .enforcing_consecutive_5xx
            .or(base.enforcing_consecutive_5xx),
        max_ejection_percent: over.max_ejection_percent.or(base.max_ejection_percent),
        base_ejection_time: over.base_ejection_time.or(base.base_ejection_time),
    })
}
