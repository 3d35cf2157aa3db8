//! An index of a set of config entries by kind and name, built once per set and shared.

use std::collections::BTreeMap;
use std::time::Duration;

use rigging_mesh_config_entries::{
    ConfigEntry, IngressGateway, Limits, LinkedService, PassiveHealthCheck, Protocol,
    ProxyDefaults, ServiceDefaults, ServiceResolver, ServiceRouter, ServiceSplitter,
    TerminatingGateway, UpstreamConfig,
};

/// The entries the discovery chain reads, by service name. Build it once per set (it is
/// meant to be shared in an `Arc`); the set is expected to have passed `validate_set`, and
/// where two entries of one kind share a name the first wins, as in `validate_set`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Entries {
    routers: BTreeMap<String, ServiceRouter>,
    splitters: BTreeMap<String, ServiceSplitter>,
    resolvers: BTreeMap<String, ServiceResolver>,
    defaults: BTreeMap<String, ServiceDefaults>,
    proxy_defaults: Option<ProxyDefaults>,
    /// `ingress-gateway` entries by name: not part of any chain, but what a gateway proxy
    /// is compiled from.
    ingress_gateways: BTreeMap<String, IngressGateway>,
    /// `terminating-gateway` entries by name: what a terminating gateway is compiled from,
    /// and which gateway callers of a linked service go through.
    terminating_gateways: BTreeMap<String, TerminatingGateway>,
}

/// How a service outside the mesh is reached: through the terminating gateway `gateway`,
/// with the settings of its entry's `link` (a named one, or the `*` wildcard's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayLink<'e> {
    pub gateway: &'e str,
    pub link: &'e LinkedService,
}

/// A caller's settings for one upstream: its `service-defaults` `UpstreamConfig`
/// `Defaults`, overlaid field by field with the `Overrides` entry of the upstream's name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpstreamSettings {
    pub protocol: Option<Protocol>,
    pub connect_timeout: Option<Duration>,
    pub limits: Option<Limits>,
    pub passive_health_check: Option<PassiveHealthCheck>,
}

impl UpstreamSettings {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl Entries {
    /// Indexes `entries`; kinds neither the chain nor a gateway reads (intentions, mesh)
    /// are dropped.
    pub fn new(entries: Vec<ConfigEntry>) -> Self {
        let mut out = Self::default();
        for e in entries {
            match e {
                ConfigEntry::ServiceRouter(r) => {
                    out.routers.entry(r.header.name.clone()).or_insert(r);
                }
                ConfigEntry::ServiceSplitter(s) => {
                    out.splitters.entry(s.header.name.clone()).or_insert(s);
                }
                ConfigEntry::ServiceResolver(r) => {
                    out.resolvers.entry(r.header.name.clone()).or_insert(r);
                }
                ConfigEntry::ServiceDefaults(d) => {
                    out.defaults.entry(d.header.name.clone()).or_insert(d);
                }
                ConfigEntry::ProxyDefaults(p) => {
                    out.proxy_defaults.get_or_insert(p);
                }
                ConfigEntry::IngressGateway(g) => {
                    out.ingress_gateways
                        .entry(g.header.name.clone())
                        .or_insert(g);
                }
                ConfigEntry::TerminatingGateway(g) => {
                    out.terminating_gateways
                        .entry(g.header.name.clone())
                        .or_insert(g);
                }
                _ => {}
            }
        }
        out
    }

    /// Whether no entry the chain reads is present (gateway entries do not count: they
    /// change no upstream's chain).
    pub fn is_empty(&self) -> bool {
        self.routers.is_empty()
            && self.splitters.is_empty()
            && self.resolvers.is_empty()
            && self.defaults.is_empty()
            && self.proxy_defaults.is_none()
    }

    pub fn router(&self, service: &str) -> Option<&ServiceRouter> {
        self.routers.get(service)
    }

    pub fn splitter(&self, service: &str) -> Option<&ServiceSplitter> {
        self.splitters.get(service)
    }

    pub fn resolver(&self, service: &str) -> Option<&ServiceResolver> {
        self.resolvers.get(service)
    }

    pub fn service_defaults(&self, service: &str) -> Option<&ServiceDefaults> {
        self.defaults.get(service)
    }

    /// The `ingress-gateway` entry named `name`.
    pub fn ingress_gateway(&self, name: &str) -> Option<&IngressGateway> {
        self.ingress_gateways.get(name)
    }

    /// The `terminating-gateway` entry named `name`.
    pub fn terminating_gateway(&self, name: &str) -> Option<&TerminatingGateway> {
        self.terminating_gateways.get(name)
    }

    /// The terminating gateway through which `service` is reached, if one links it: an
    /// entry naming it wins over a `*` wildcard, and among entries of one kind of link the
    /// first gateway by name. The wildcard links only services `external` says are outside
    /// the mesh (no sidecar of their own): a mesh service keeps its own sidecars.
    pub fn gateway_link(&self, service: &str, external: bool) -> Option<GatewayLink<'_>> {
        let find = |name: &str| {
            let others = self
                .terminating_gateways
                .iter()
                .filter(|(gw, _)| *gw != service);
            others.into_iter().find_map(|(gw, entry)| {
                entry
                    .services
                    .iter()
                    .find(|l| {
                        l.name == name && l.namespace.as_deref().is_none_or(|n| n == "default")
                    })
                    .map(|link| GatewayLink { gateway: gw, link })
            })
        };
        find(service).or_else(|| external.then(|| find("*")).flatten())
    }

    /// Every service an entry of the chain's kinds is named after (not `proxy-defaults`).
    pub fn services(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .routers
            .keys()
            .chain(self.splitters.keys())
            .chain(self.resolvers.keys())
            .chain(self.defaults.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        names
    }

    /// The protocol entries give `service`: its `service-defaults` `Protocol`, else
    /// `proxy-defaults` `Config.protocol`; `None` when neither says (Consul then uses tcp,
    /// Rigging the registry's protocol). Values other than the L7 ones are tcp, as in Consul.
    pub fn protocol(&self, service: &str) -> Option<Protocol> {
        let p = self
            .defaults
            .get(service)
            .and_then(|d| d.protocol.clone())
            .or_else(|| {
                self.proxy_defaults
                    .as_ref()
                    .and_then(ProxyDefaults::protocol)
            })?;
        Some(match p {
            Protocol::Other(_) => Protocol::Tcp,
            p => p,
        })
    }

    /// `caller`'s settings for its upstream `upstream` ([`UpstreamSettings`]).
    pub fn upstream_config(&self, caller: &str, upstream: &str) -> UpstreamSettings {
        let Some(uc) = self
            .defaults
            .get(caller)
            .and_then(|d| d.upstream_config.as_ref())
        else {
            return UpstreamSettings::default();
        };
        let over = uc.overrides.iter().find(|o| o.name == upstream);
        let pick = |f: &dyn Fn(&UpstreamConfig) -> bool| -> Option<&UpstreamConfig> {
            over.filter(|o| f(o))
                .or(uc.defaults.as_ref().filter(|d| f(d)))
        };
        UpstreamSettings {
            protocol: pick(&|c| c.protocol.is_some()).and_then(|c| c.protocol.clone()),
            connect_timeout: pick(&|c| c.connect_timeout_ms.is_some_and(|ms| ms > 0))
                .and_then(|c| c.connect_timeout_ms)
                .map(|ms| Duration::from_millis(u64::from(ms))),
            limits: pick(&|c| c.limits.is_some()).and_then(|c| c.limits.clone()),
            passive_health_check: pick(&|c| c.passive_health_check.is_some())
                .and_then(|c| c.passive_health_check.clone()),
        }
    }
}
