//! The discovery chain compiler, after Consul's `discoverychain.Compile`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rigging_mesh_config_entries::{
    DEFAULT_CONNECT_TIMEOUT, HeaderModifiers, Protocol, RouteDestination, ServiceResolver,
    TOTAL_WEIGHT_HUNDREDTHS,
};

use crate::compiled::{
    ChainRoute, CompiledChain, CompiledTarget, Destination, MirrorAction, RetryPolicy, RouteAction,
    TargetId, WeightedTarget,
};
use crate::{ChainError, Entries};

/// What to compile: an upstream service, seen from a datacenter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainRequest {
    pub service: String,
    /// The local datacenter: targets in it are named without a datacenter.
    pub datacenter: String,
    /// The protocol when no entry sets one: the registry's (Consul: tcp).
    pub default_protocol: Protocol,
    /// A caller's `UpstreamConfig` `Protocol`: tcp turns routers and splitters off.
    pub override_protocol: Option<Protocol>,
    /// A caller's `UpstreamConfig` `ConnectTimeoutMs`: replaces every target's.
    pub override_connect_timeout: Option<Duration>,
}

impl ChainRequest {
    /// The chain of `service` in `datacenter`, tcp unless entries say otherwise, no overrides.
    pub fn new(service: impl Into<String>, datacenter: impl Into<String>) -> Self {
        Self {
            service: service.into(),
            datacenter: datacenter.into(),
            default_protocol: Protocol::Tcp,
            override_protocol: None,
            override_connect_timeout: None,
        }
    }
}

/// Compiles the discovery chain of `req.service` (see the crate documentation).
pub fn compile_chain(entries: &Entries, req: &ChainRequest) -> Result<CompiledChain, ChainError> {
    let protocol = entries
        .protocol(&req.service)
        .unwrap_or_else(|| req.default_protocol.clone());
    let l7 = req.override_protocol.as_ref().unwrap_or(&protocol).is_l7();
    let mut c = Compiler {
        entries,
        req,
        protocol: protocol.clone(),
        l7,
        targets: BTreeMap::new(),
        primaries: BTreeSet::new(),
        ignored: Vec::new(),
    };
    let routes = c.routes()?;
    let own = TargetId::service(&req.service);
    let default = routes.len() == 1
        && routes[0].action.destination == Destination::Target(own)
        && entries.resolver(&req.service).is_none()
        && req.override_connect_timeout.is_none();
    Ok(CompiledChain {
        service: req.service.clone(),
        datacenter: req.datacenter.clone(),
        protocol: req.override_protocol.clone().unwrap_or(protocol),
        routes,
        targets: c.targets,
        default,
        ignored: c.ignored,
    })
}

struct Compiler<'a> {
    entries: &'a Entries,
    req: &'a ChainRequest,
    protocol: Protocol,
    /// Whether routers and splitters apply.
    l7: bool,
    targets: BTreeMap<TargetId, CompiledTarget>,
    /// Targets resolved as a route's (not only a failover's), whose failover is computed.
    primaries: BTreeSet<TargetId>,
    ignored: Vec<String>,
}

/// The fields of a redirect or failover target that Rigging compiles.
#[derive(Debug, Clone, Copy, Default)]
struct Rewrite<'s> {
    service: Option<&'s str>,
    subset: Option<&'s str>,
    datacenter: Option<&'s str>,
}

impl Compiler<'_> {
    fn chain(&self) -> String {
        self.req.service.clone()
    }

    fn routes(&mut self) -> Result<Vec<ChainRoute>, ChainError> {
        let service = self.req.service.clone();
        let router = self.entries.router(&service);
        if router.is_some() && !self.l7 {
            self.ignored.push(format!(
                "service-router {service:?}: the chain's protocol is {}, routes need http, http2 or grpc",
                self.effective_protocol()
            ));
        }
        let mut routes = Vec::new();
        if let Some(router) = router.filter(|_| self.l7) {
            for route in &router.routes {
                let default_dest = RouteDestination::default();
                let dest = route.destination.as_ref().unwrap_or(&default_dest);
                let svc = dest.service.clone().unwrap_or_else(|| service.clone());
                let destination = match &dest.service_subset {
                    Some(subset) => Destination::Target(self.resolve(
                        TargetId {
                            service: svc,
                            subset: Some(subset.clone()),
                            datacenter: None,
                        },
                        false,
                    )?),
                    None => self.split_or_resolve(&svc)?,
                };
                let mut action = self.action(destination);
                self.apply_destination(&mut action, dest)?;
                routes.push(ChainRoute {
                    matcher: route.http.clone().filter(|m| !m.is_empty()),
                    action,
                });
            }
        }
        let catch_all = self.split_or_resolve(&service)?;
        routes.push(ChainRoute {
            matcher: None,
            action: self.action(catch_all),
        });
        Ok(routes)
    }

    fn effective_protocol(&self) -> &Protocol {
        self.req
            .override_protocol
            .as_ref()
            .unwrap_or(&self.protocol)
    }

    /// The action of a destination with the resolver's settings: request timeout (one
    /// target) and hash policies.
    fn action(&self, destination: Destination) -> RouteAction {
        let first_hash = |t: &TargetId| {
            self.targets
                .get(t)
                .and_then(|t| t.load_balancer.as_ref())
                .filter(|lb| lb.policy.is_hash_based())
                .map(|lb| lb.hash_policies.clone())
        };
        let (request_timeout, hash_policies) = match &destination {
            Destination::Target(t) => (
                self.targets.get(t).and_then(|t| t.request_timeout),
                first_hash(t).unwrap_or_default(),
            ),
            Destination::Split(splits) => (
                None,
                splits
                    .iter()
                    .find_map(|s| first_hash(&s.target))
                    .unwrap_or_default(),
            ),
        };
        RouteAction {
            destination,
            prefix_rewrite: None,
            request_timeout,
            idle_timeout: None,
            retry: None,
            hash_policies,
            request_headers: None,
            response_headers: None,
            fault: None,
            mirror: None,
        }
    }

    fn apply_destination(
        &mut self,
        action: &mut RouteAction,
        dest: &RouteDestination,
    ) -> Result<(), ChainError> {
        action.prefix_rewrite = dest.prefix_rewrite.clone();
        if let Some(t) = dest.request_timeout {
            action.request_timeout = Some(t);
        }
        action.idle_timeout = dest.idle_timeout;
        let retry = RetryPolicy {
            num_retries: dest.num_retries,
            retry_on_connect_failure: dest.retry_on_connect_failure,
            retry_on: dest.retry_on.clone(),
            retry_on_status_codes: dest.retry_on_status_codes.clone(),
        };
        action.retry = (retry != RetryPolicy::default()).then_some(retry);
        action.request_headers = dest.request_headers.clone().filter(|h| !h.is_empty());
        action.response_headers = dest.response_headers.clone().filter(|h| !h.is_empty());
        action.fault = dest.fault.clone();
        if let Some(m) = &dest.mirror {
            let target = self.resolve(
                TargetId {
                    service: m.service.clone(),
                    subset: m.service_subset.clone(),
                    datacenter: None,
                },
                false,
            )?;
            action.mirror = Some(MirrorAction {
                target,
                percent: m.percent,
            });
        }
        Ok(())
    }

    fn split_or_resolve(&mut self, service: &str) -> Result<Destination, ChainError> {
        let mut stack = Vec::new();
        Ok(match self.split(service, &mut stack)? {
            Some(splits) => Destination::Split(splits),
            None => Destination::Target(self.resolve(TargetId::service(service), false)?),
        })
    }

    /// The flattened splits of `service`'s splitter, `None` without one (or on tcp).
    fn split(
        &mut self,
        service: &str,
        stack: &mut Vec<String>,
    ) -> Result<Option<Vec<WeightedTarget>>, ChainError> {
        let Some(splitter) = self.entries.splitter(service) else {
            return Ok(None);
        };
        if !self.l7 {
            self.ignored.push(format!(
                "service-splitter {service:?}: the chain's protocol is {}, splits need http, http2 or grpc",
                self.effective_protocol()
            ));
            return Ok(None);
        }
        if stack.iter().any(|s| s == service) {
            return Err(ChainError::SplitLoop {
                chain: self.chain(),
                service: service.to_owned(),
            });
        }
        stack.push(service.to_owned());
        let mut out = Vec::new();
        for split in &splitter.splits {
            let svc = split.service.as_deref().unwrap_or(service);
            if svc != service
                && split.service_subset.is_none()
                && let Some(inner) = self.split(svc, stack)?
            {
                for s in inner {
                    out.push(WeightedTarget {
                        target: s.target,
                        weight: scale(split.weight_hundredths, s.weight),
                        request_headers: merge(&split.request_headers, s.request_headers),
                        response_headers: merge(&split.response_headers, s.response_headers),
                    });
                }
                continue;
            }
            let target = self.resolve(
                TargetId {
                    service: svc.to_owned(),
                    subset: split.service_subset.clone(),
                    datacenter: None,
                },
                false,
            )?;
            out.push(WeightedTarget {
                target,
                weight: split.weight_hundredths,
                request_headers: split.request_headers.clone().filter(|h| !h.is_empty()),
                response_headers: split.response_headers.clone().filter(|h| !h.is_empty()),
            });
        }
        stack.pop();
        fix_total(&mut out);
        Ok(Some(out))
    }

    fn check_protocol(&self, service: &str) -> Result<(), ChainError> {
        match self.entries.protocol(service) {
            Some(p) if p != self.protocol => Err(ChainError::InconsistentProtocols {
                chain: self.chain(),
                service: service.to_owned(),
                found: p.to_string(),
                expected: self.protocol.to_string(),
            }),
            _ => Ok(()),
        }
    }

    fn rewrite(&self, t: &TargetId, r: &Rewrite<'_>) -> TargetId {
        let mut out = t.clone();
        if let Some(s) = r.service
            && s != out.service
        {
            out.service = s.to_owned();
            out.subset = None;
        }
        if let Some(s) = r.subset {
            out.subset = Some(s.to_owned());
        }
        if let Some(dc) = r.datacenter {
            out.datacenter = (dc != self.req.datacenter).then(|| dc.to_owned());
        }
        out
    }

    /// Consul's `getResolverNode`: redirects, the default subset, then the target's
    /// settings and (unless resolving a failover target) its failover list.
    fn resolve(&mut self, start: TargetId, for_failover: bool) -> Result<TargetId, ChainError> {
        let mut target = start;
        let mut history: Vec<TargetId> = Vec::new();
        let resolver = loop {
            if !for_failover && self.primaries.contains(&target) {
                return Ok(target);
            }
            self.check_protocol(&target.service)?;
            let resolver = self.entries.resolver(&target.service);
            if history.contains(&target) {
                history.push(target);
                return Err(ChainError::RedirectLoop {
                    chain: self.chain(),
                    path: history.iter().map(TargetId::cluster_name).collect(),
                });
            }
            history.push(target.clone());
            if let Some(red) = resolver.and_then(|r| r.redirect.as_ref()) {
                let t = &red.target;
                let next = self.rewrite(
                    &target,
                    &Rewrite {
                        service: t.service.as_deref(),
                        subset: t.service_subset.as_deref(),
                        datacenter: t.datacenter.as_deref(),
                    },
                );
                if next != target {
                    target = next;
                    continue;
                }
            }
            if target.subset.is_none()
                && let Some(ds) = resolver.and_then(|r| r.default_subset.as_deref())
            {
                target.subset = Some(ds.to_owned());
                continue;
            }
            break resolver;
        };
        let subset = match &target.subset {
            Some(name) => Some(resolver.and_then(|r| r.subsets.get(name)).ok_or_else(|| {
                ChainError::UnknownSubset {
                    chain: self.chain(),
                    service: target.service.clone(),
                    subset: name.clone(),
                }
            })?),
            None => None,
        };
        let compiled = CompiledTarget {
            id: target.clone(),
            filter: subset.and_then(|s| s.parsed.clone()),
            only_passing: subset.is_some_and(|s| s.only_passing),
            failover: Vec::new(),
            connect_timeout: self.req.override_connect_timeout.unwrap_or_else(|| {
                resolver.map_or(
                    DEFAULT_CONNECT_TIMEOUT,
                    ServiceResolver::effective_connect_timeout,
                )
            }),
            request_timeout: resolver
                .and_then(|r| r.request_timeout)
                .filter(|t| !t.is_zero()),
            load_balancer: resolver.and_then(|r| r.load_balancer.clone()),
        };
        self.targets.entry(target.clone()).or_insert(compiled);
        if for_failover {
            return Ok(target);
        }
        self.primaries.insert(target.clone());
        let failover = self.failover(resolver, &target)?;
        if let Some(t) = self.targets.get_mut(&target) {
            t.failover = failover;
        }
        Ok(target)
    }

    fn failover(
        &mut self,
        resolver: Option<&ServiceResolver>,
        target: &TargetId,
    ) -> Result<Vec<TargetId>, ChainError> {
        let Some(fo) = resolver.and_then(|r| {
            r.failover
                .get(target.subset.as_deref().unwrap_or(""))
                .or_else(|| r.failover.get("*"))
        }) else {
            return Ok(Vec::new());
        };
        let base = Rewrite {
            service: fo.service.as_deref(),
            subset: fo.service_subset.as_deref(),
            datacenter: None,
        };
        let candidates: Vec<TargetId> = if !fo.datacenters.is_empty() {
            fo.datacenters
                .iter()
                .map(|dc| {
                    self.rewrite(
                        target,
                        &Rewrite {
                            datacenter: Some(dc),
                            ..base
                        },
                    )
                })
                .collect()
        } else if !fo.targets.is_empty() {
            fo.targets
                .iter()
                .map(|t| {
                    self.rewrite(
                        target,
                        &Rewrite {
                            service: t.service.as_deref(),
                            subset: t.service_subset.as_deref(),
                            datacenter: t.datacenter.as_deref(),
                        },
                    )
                })
                .collect()
        } else {
            vec![self.rewrite(target, &base)]
        };
        let mut out = Vec::new();
        for c in candidates.into_iter().filter(|c| c != target) {
            let resolved = self.resolve(c, true)?;
            if resolved != *target && !out.contains(&resolved) {
                out.push(resolved);
            }
        }
        Ok(out)
    }
}

/// An inner split's share of an outer one, in hundredths, rounded as Consul rounds weights.
fn scale(outer: u32, inner: u32) -> u32 {
    let w = (u64::from(outer) * u64::from(inner) + u64::from(TOTAL_WEIGHT_HUNDREDTHS) / 2)
        / u64::from(TOTAL_WEIGHT_HUNDREDTHS);
    u32::try_from(w).unwrap_or(TOTAL_WEIGHT_HUNDREDTHS)
}

/// Rounding nested weights can miss 100.00 % by a few hundredths: the largest share takes
/// the difference, so the weights always add up to [`TOTAL_WEIGHT_HUNDREDTHS`].
fn fix_total(splits: &mut [WeightedTarget]) {
    let total: u32 = splits.iter().map(|s| s.weight).sum();
    if total == TOTAL_WEIGHT_HUNDREDTHS {
        return;
    }
    let Some(largest) = splits.iter_mut().max_by_key(|s| s.weight) else {
        return;
    };
    largest.weight = (largest.weight + TOTAL_WEIGHT_HUNDREDTHS).saturating_sub(total);
}

/// The header changes of a flattened split: the outer split's, with the inner one's on top.
fn merge(
    outer: &Option<HeaderModifiers>,
    inner: Option<HeaderModifiers>,
) -> Option<HeaderModifiers> {
    let mut out = outer.clone().unwrap_or_default();
    if let Some(inner) = inner {
        out.add.extend(inner.add);
        out.set.extend(inner.set);
        for r in inner.remove {
            if !out.remove.contains(&r) {
                out.remove.push(r);
            }
        }
    }
    (!out.is_empty()).then_some(out)
}
