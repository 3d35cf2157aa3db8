//! Test support shared by the workspace's tests: catalog builders, fake servers (Consul,
//! Kubernetes, Nomad, SDS) and a throwaway PKI.
#![allow(clippy::unwrap_used)]

pub mod fake_consul;
mod fake_http;
pub mod fake_kube;
pub mod fake_nomad;
pub mod fake_sds;
mod port;
pub mod tls;

pub use port::free_port;

use rigging_mesh_model::{
    Catalog, Endpoint, Health, Locality, Protocol, Proxy, ProxyId, Service, ServiceName, Upstream,
};

/// A service name; panics on an invalid one (tests only).
pub fn name(s: &str) -> ServiceName {
    ServiceName::new(s).unwrap()
}

/// An endpoint in region `local` and the given zone.
pub fn endpoint(instance: &str, addr: &str, health: Health, zone: &str) -> Endpoint {
    Endpoint {
        instance: instance.to_owned(),
        address: addr.parse().unwrap(),
        health,
        locality: Locality {
            region: "local".to_owned(),
            zone: zone.to_owned(),
        },
        metadata: Default::default(),
        sidecar: false,
        tags: Vec::new(),
    }
}

/// Like [`endpoint`], for an instance reached through its sidecar (mTLS in a secured mesh).
pub fn sidecar_endpoint(instance: &str, addr: &str, health: Health, zone: &str) -> Endpoint {
    Endpoint {
        sidecar: true,
        ..endpoint(instance, addr, health, zone)
    }
}

pub fn service(n: &str, protocol: Protocol, endpoints: Vec<Endpoint>) -> Service {
    let mut s = Service::new(name(n), protocol);
    s.endpoints = endpoints;
    s
}

/// A proxy on 127.0.0.1 with inbound port `inbound`, its app on `app`, and upstreams `(service, local bind port)`.
pub fn proxy(id: &str, svc: &str, inbound: u16, app: u16, ups: &[(&str, u16)]) -> Proxy {
    Proxy {
        id: ProxyId::new(id).unwrap(),
        service: name(svc),
        inbound: ([127, 0, 0, 1], inbound).into(),
        local_app: ([127, 0, 0, 1], app).into(),
        upstreams: ups
            .iter()
            .map(|(s, p)| Upstream {
                service: name(s),
                local_bind: ([127, 0, 0, 1], *p).into(),
            })
            .collect(),
        expose: Vec::new(),
    }
}

pub fn catalog(services: Vec<Service>, proxies: Vec<Proxy>) -> Catalog {
    Catalog {
        services: services.into_iter().map(|s| (s.name.clone(), s)).collect(),
        proxies: proxies.into_iter().map(|p| (p.id.clone(), p)).collect(),
    }
}
