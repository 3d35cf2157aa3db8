//! Rules that need several entries at once, as Consul checks a write against the
//! entries already stored (`validateProposedConfigEntryInGraph`).

use std::collections::{BTreeMap, BTreeSet};

use crate::common::Protocol;
use crate::kinds::resolver::ServiceResolver;
use crate::kinds::router::ServiceRouter;
use crate::kinds::splitter::ServiceSplitter;
use crate::{ConfigEntry, Kind, LocatedError};

/// Checks a complete set of entries (for example, a whole watched folder) against the
/// rules that span entries:
///
/// 1. no entry is defined twice: the same kind and name, in the same namespace and
///    partition (unset and `default` are the same);
/// 2. a `service-router` or `service-splitter` needs its service to have an L7 protocol
///    (http, http2 or grpc). A service's protocol is its `service-defaults` `Protocol`,
///    else `proxy-defaults` `Config.protocol`, else tcp ([`effective_protocol`]);
/// 3. every service a router or splitter sends traffic to has the same protocol as the
///    chain's service (Consul: "uses inconsistent protocols");
/// 4. a `ServiceSubset` named by a route destination, a split, a resolver redirect or a
///    failover exists in the target service's `service-resolver` `Subsets`;
/// 5. resolver redirects form no loop, and splitters that send to other services'
///    splitters form no loop;
/// 6. each non-wildcard service of an `ingress-gateway` listener has the listener's
///    protocol;
/// 7. `service-intentions` with L7 `Permissions` need an L7 destination.
///
/// Enterprise namespaces and partitions are compared but not otherwise modelled: the
/// rules look services up by name alone.
pub fn validate_set(entries: &[ConfigEntry]) -> Vec<LocatedError> {
    let set = Set::new(entries);
    let mut errors = set.duplicates();
    for e in entries {
        match e {
            ConfigEntry::ServiceRouter(r) => set.router(r, &mut errors),
            ConfigEntry::ServiceSplitter(s) => set.splitter(s, &mut errors),
            ConfigEntry::ServiceResolver(r) => set.resolver(r, &mut errors),
            ConfigEntry::IngressGateway(g) => set.ingress(g, &mut errors),
            ConfigEntry::ServiceIntentions(i) => set.intentions(i, &mut errors),
            _ => {}
        }
    }
    errors
}

/// The protocol `service` uses given `entries`: `service-defaults`, then
/// `proxy-defaults` `Config.protocol`, then tcp.
pub fn effective_protocol(entries: &[ConfigEntry], service: &str) -> Protocol {
    Set::new(entries).protocol(service).0
}

struct Set<'e> {
    entries: &'e [ConfigEntry],
    by_name: BTreeMap<(Kind, &'e str), &'e ConfigEntry>,
}

impl<'e> Set<'e> {
    fn new(entries: &'e [ConfigEntry]) -> Self {
        let mut by_name = BTreeMap::new();
        for e in entries {
            by_name.entry((e.kind(), e.name())).or_insert(e);
        }
        Self { entries, by_name }
    }

    /// The protocol and where it comes from, for messages.
    fn protocol(&self, service: &str) -> (Protocol, String) {
        if let Some(ConfigEntry::ServiceDefaults(sd)) =
            self.by_name.get(&(Kind::ServiceDefaults, service))
            && let Some(p) = &sd.protocol
        {
            return (
                p.clone(),
                format!(
                    "from its service-defaults at {}",
                    sd.header.origin.or_unknown()
                ),
            );
        }
        let global = self.entries.iter().find_map(|e| match e {
            ConfigEntry::ProxyDefaults(p) => p.protocol().map(|proto| (proto, p)),
            _ => None,
        });
        match global {
            Some((p, pd)) => (p, format!("from proxy-defaults at {}", pd.header.origin.or_unknown())),
            None => (Protocol::Tcp, "the default: no service-defaults Protocol or proxy-defaults Config.protocol sets it".to_owned()),
        }
    }

    fn resolver_of(&self, service: &str) -> Option<&'e ServiceResolver> {
        match self.by_name.get(&(Kind::ServiceResolver, service)) {
            Some(ConfigEntry::ServiceResolver(r)) => Some(r),
            _ => None,
        }
    }

    fn splitter_of(&self, service: &str) -> Option<&'e ServiceSplitter> {
        match self.by_name.get(&(Kind::ServiceSplitter, service)) {
            Some(ConfigEntry::ServiceSplitter(s)) => Some(s),
            _ => None,
        }
    }

    fn duplicates(&self) -> Vec<LocatedError> {
        let mut seen: BTreeMap<(Kind, &str, &str, &str), &ConfigEntry> = BTreeMap::new();
        let mut out = Vec::new();
        let tenancy =
            |v: &'e Option<String>| v.as_deref().filter(|s| *s != "default").unwrap_or("");
        for e in self.entries {
            let h = e.header();
            let key = (
                e.kind(),
                h.name.as_str(),
                tenancy(&h.namespace),
                tenancy(&h.partition),
            );
            if let Some(first) = seen.get(&key) {
                out.push(LocatedError::new(
                    e.origin().or_unknown(),
                    format!(
                        "{} {:?} is defined more than once (first at {})",
                        e.kind(),
                        e.name(),
                        first.origin().or_unknown()
                    ),
                ));
            } else {
                seen.insert(key, e);
            }
        }
        out
    }

    fn needs_l7(
        &self,
        kind: Kind,
        name: &str,
        at: &crate::Origin,
        out: &mut Vec<LocatedError>,
    ) -> Option<Protocol> {
        let (p, why) = self.protocol(name);
        if p.is_l7() {
            return Some(p);
        }
        out.push(LocatedError::new(
            at.or_unknown(),
            format!("{kind} {name:?} needs an L7 protocol (http, http2 or grpc), but service {name:?} uses {p} ({why})"),
        ));
        None
    }

    fn same_protocol(
        &self,
        chain: &str,
        want: &Protocol,
        target: &str,
        at: &crate::Origin,
        out: &mut Vec<LocatedError>,
    ) {
        let (p, why) = self.protocol(target);
        if p != *want {
            out.push(LocatedError::new(
                at.or_unknown(),
                format!("the discovery chain of {chain:?} uses inconsistent protocols: it is {want}, but it sends to {target:?}, which uses {p} ({why})"),
            ));
        }
    }

    fn subset_exists(
        &self,
        service: &str,
        subset: &str,
        at: &crate::Origin,
        user: &str,
        out: &mut Vec<LocatedError>,
    ) {
        let found = self
            .resolver_of(service)
            .is_some_and(|r| r.subsets.contains_key(subset));
        if !found {
            out.push(LocatedError::new(
                at.or_unknown(),
                format!("{user} uses subset {subset:?} of service {service:?}, but no service-resolver for {service:?} defines it"),
            ));
        }
    }

    fn router(&self, r: &ServiceRouter, out: &mut Vec<LocatedError>) {
        let name = r.header.name.as_str();
        let at = &r.header.origin;
        let Some(protocol) = self.needs_l7(Kind::ServiceRouter, name, at, out) else {
            return;
        };
        let user = format!("service-router {name:?}");
        for d in r
            .routes
            .iter()
            .filter_map(|route| route.destination.as_ref())
        {
            let target = d.service.as_deref().unwrap_or(name);
            self.same_protocol(name, &protocol, target, at, out);
            if let Some(subset) = &d.service_subset {
                self.subset_exists(target, subset, at, &user, out);
            }
            if let Some(m) = &d.mirror {
                self.same_protocol(name, &protocol, &m.service, at, out);
                if let Some(subset) = &m.service_subset {
                    self.subset_exists(&m.service, subset, at, &user, out);
                }
            }
        }
    }

    fn splitter(&self, s: &ServiceSplitter, out: &mut Vec<LocatedError>) {
        let name = s.header.name.as_str();
        let at = &s.header.origin;
        let Some(protocol) = self.needs_l7(Kind::ServiceSplitter, name, at, out) else {
            return;
        };
        let user = format!("service-splitter {name:?}");
        for split in &s.splits {
            let target = split.service.as_deref().unwrap_or(name);
            self.same_protocol(name, &protocol, target, at, out);
            if let Some(subset) = &split.service_subset {
                self.subset_exists(target, subset, at, &user, out);
            }
        }
        // splits to another service without a subset continue into its splitter
        let mut path = vec![name];
        if let Some(cycle) = self.split_cycle(s, &mut path) {
            out.push(LocatedError::new(
                at.or_unknown(),
                format!(
                    "service-splitter {name:?} splits in a loop: {}",
                    cycle.join(" -> ")
                ),
            ));
        }
    }

    fn split_cycle(&self, s: &'e ServiceSplitter, path: &mut Vec<&'e str>) -> Option<Vec<String>> {
        for split in &s.splits {
            let Some(next) = split.service.as_deref() else {
                continue;
            };
            if next == s.header.name
                || split.service_subset.is_some()
                || split.namespace.is_some()
                || split.partition.is_some()
            {
                continue;
            }
            if path.contains(&next) {
                let mut cycle: Vec<String> = path.iter().map(|p| (*p).to_owned()).collect();
                cycle.push(next.to_owned());
                return (path.first() == Some(&next)).then_some(cycle);
            }
            if let Some(inner) = self.splitter_of(next) {
                path.push(next);
                let found = self.split_cycle(inner, path);
                path.pop();
                if found.is_some() {
                    return found;
                }
            }
        }
        None
    }

    fn resolver(&self, r: &ServiceResolver, out: &mut Vec<LocatedError>) {
        let name = r.header.name.as_str();
        let at = &r.header.origin;
        let user = format!("service-resolver {name:?}");
        if let Some(red) = &r.redirect {
            let t = &red.target;
            if let (Some(service), Some(subset)) = (&t.service, &t.service_subset)
                && service != name
                && t.datacenter.is_none()
                && t.peer.is_none()
            {
                self.subset_exists(service, subset, at, &user, out);
            }
            let mut seen = BTreeSet::from([name]);
            let mut current = r;
            while let Some(next) = current
                .redirect
                .as_ref()
                .and_then(|red| local_service(&red.target))
            {
                if !seen.insert(next) {
                    if next == name {
                        out.push(LocatedError::new(
                            at.or_unknown(),
                            format!(
                                "service-resolver {name:?} redirects in a loop back to {name:?}"
                            ),
                        ));
                    }
                    break;
                }
                match self.resolver_of(next) {
                    Some(n) => current = n,
                    None => break,
                }
            }
        }
        for fo in r.failover.values() {
            if let (Some(service), Some(subset)) = (&fo.service, &fo.service_subset)
                && service != name
                && fo.datacenters.is_empty()
            {
                self.subset_exists(service, subset, at, &user, out);
            }
            for t in &fo.targets {
                if let (Some(service), Some(subset)) = (&t.service, &t.service_subset)
                    && service != name
                    && t.datacenter.is_none()
                    && t.peer.is_none()
                {
                    self.subset_exists(service, subset, at, &user, out);
                }
            }
        }
    }

    fn ingress(&self, g: &crate::kinds::ingress::IngressGateway, out: &mut Vec<LocatedError>) {
        for l in &g.listeners {
            for s in l.services.iter().filter(|s| s.name != "*") {
                let (p, why) = self.protocol(&s.name);
                if p != l.protocol {
                    out.push(LocatedError::new(
                        g.header.origin.or_unknown(),
                        format!(
                            "ingress-gateway {:?}: service {:?} uses {p} ({why}), which does not match the {} listener on port {}",
                            g.header.name, s.name, l.protocol, l.port
                        ),
                    ));
                }
            }
        }
    }

    fn intentions(
        &self,
        i: &crate::kinds::intentions::ServiceIntentions,
        out: &mut Vec<LocatedError>,
    ) {
        let name = i.header.name.as_str();
        if name == "*" || i.sources.iter().all(|s| s.permissions.is_empty()) {
            return;
        }
        let (p, why) = self.protocol(name);
        if !p.is_l7() {
            out.push(LocatedError::new(
                i.header.origin.or_unknown(),
                format!("service-intentions {name:?} has L7 Permissions, but service {name:?} uses {p} ({why}); they need http, http2 or grpc"),
            ));
        }
    }
}

/// The service a redirect moves to within this datacenter, namespace and partition.
fn local_service(t: &crate::kinds::resolver::Target) -> Option<&str> {
    if t.datacenter.is_some() || t.peer.is_some() || t.namespace.is_some() || t.partition.is_some()
    {
        return None;
    }
    t.service.as_deref()
}
