//! Rigging's service model: the one view of services, endpoints and proxies that every registry maps into and Pilot compiles from.
//!
//! Pure types, no I/O. Names are validated newtypes so no raw string reaches the core.

mod catalog;
mod name;
mod proxy;
mod service;

pub use catalog::{Catalog, CatalogError};
pub use name::{NameError, ProxyId, ServiceName};
pub use proxy::{ExposePath, Proxy, Upstream};
pub use service::{
    DEFAULT_CONNECT_TIMEOUT, Endpoint, Health, LbPolicy, Locality, MutualTlsMode,
    MutualTlsModeError, Protocol, ProtocolError, Service,
};

/// Metadata key under which the merge of several registries records which registry an endpoint came from.
pub const META_REGISTRY: &str = "registry";

/// Metadata key of the datacenter an endpoint runs in, as its registry knows it (Consul's);
/// a failover target in another datacenter takes the endpoints of that datacenter.
pub const META_DATACENTER: &str = "datacenter";
