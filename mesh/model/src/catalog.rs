//! The catalog: every service and proxy of one registry, or of all of them merged.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Proxy, ProxyId, Service, ServiceName};

/// A catalog that breaks a rule every registry must keep.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogError {
    #[error("proxy {proxy} fronts service {service}, which is not in the catalog")]
    UnknownProxyService {
        proxy: ProxyId,
        service: ServiceName,
    },
    #[error("proxy {proxy} declares upstream {upstream} twice")]
    DuplicateUpstream {
        proxy: ProxyId,
        upstream: ServiceName,
    },
    #[error("proxy {proxy} binds upstreams {first} and {second} on the same address {addr}")]
    UpstreamBindConflict {
        proxy: ProxyId,
        first: ServiceName,
        second: ServiceName,
        addr: std::net::SocketAddr,
    },
}

/// Services and proxies, keyed by name so that iteration order (and so compiled output) is stable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalog {
    pub services: BTreeMap<ServiceName, Service>,
    pub proxies: BTreeMap<ProxyId, Proxy>,
}

impl Catalog {
    pub fn service(&self, name: &ServiceName) -> Option<&Service> {
        self.services.get(name)
    }

    pub fn proxy(&self, id: &ProxyId) -> Option<&Proxy> {
        self.proxies.get(id)
    }

    /// Checks the rules that span several entries. Upstreams naming unknown services
    /// are allowed: the service may appear later, and until then has no endpoints.
    pub fn validate(&self) -> Result<(), CatalogError> {
        for proxy in self.proxies.values() {
            if !self.services.contains_key(&proxy.service) {
                return Err(CatalogError::UnknownProxyService {
                    proxy: proxy.id.clone(),
                    service: proxy.service.clone(),
                });
            }
            let mut seen: BTreeMap<&ServiceName, ()> = BTreeMap::new();
            let mut binds: BTreeMap<std::net::SocketAddr, &ServiceName> = BTreeMap::new();
            for up in &proxy.upstreams {
                if seen.insert(&up.service, ()).is_some() {
                    return Err(CatalogError::DuplicateUpstream {
                        proxy: proxy.id.clone(),
                        upstream: up.service.clone(),
                    });
                }
                if let Some(first) = binds.insert(up.local_bind, &up.service) {
                    return Err(CatalogError::UpstreamBindConflict {
                        proxy: proxy.id.clone(),
                        first: first.clone(),
                        second: up.service.clone(),
                        addr: up.local_bind,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Protocol, Upstream};

    fn name(s: &str) -> ServiceName {
        ServiceName::new(s).unwrap()
    }

    fn catalog_with(upstreams: Vec<Upstream>) -> Catalog {
        let mut c = Catalog::default();
        c.services
            .insert(name("web"), Service::new(name("web"), Protocol::Http));
        let id = ProxyId::new("web-1").unwrap();
        c.proxies.insert(
            id.clone(),
            Proxy {
                id,
                service: name("web"),
                inbound: "127.0.0.1:21000".parse().unwrap(),
                local_app: "127.0.0.1:8080".parse().unwrap(),
                upstreams,
                expose: Vec::new(),
            },
        );
        c
    }

    #[test]
    fn validate_rules() {
        let up = |s: &str, port: u16| Upstream {
            service: name(s),
            local_bind: ([127, 0, 0, 1], port).into(),
        };
        assert_eq!(catalog_with(vec![up("api", 9191)]).validate(), Ok(()));
        assert!(matches!(
            catalog_with(vec![up("api", 9191), up("api", 9192)]).validate(),
            Err(CatalogError::DuplicateUpstream { .. })
        ));
        assert!(matches!(
            catalog_with(vec![up("api", 9191), up("db", 9191)]).validate(),
            Err(CatalogError::UpstreamBindConflict { .. })
        ));
        let mut orphan = catalog_with(vec![]);
        orphan.services.clear();
        assert!(matches!(
            orphan.validate(),
            Err(CatalogError::UnknownProxyService { .. })
        ));
    }
}
