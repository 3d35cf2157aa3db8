//! Decoding registry files into a catalog, collecting every located error.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use rigging_mesh_hcl::{Block, Body, Document, HclError, Location};
use rigging_mesh_model::{
    Catalog, Endpoint, Health, LbPolicy, Locality, Proxy, ProxyId, Service, ServiceName, Upstream,
};

use crate::FileError;

/// Where a sidecar reaches its application when the file does not say: Consul's
/// `local_service_address` default, the application on the same host.
pub const DEFAULT_LOCAL_SERVICE_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// Where an upstream listens when the file does not say: Consul's
/// `local_bind_address` default, so only the local application can use it.
pub const DEFAULT_LOCAL_BIND_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

const SERVICE_ATTRS: &[&str] = &[
    "protocol",
    "load_balancer",
    "connect_timeout",
    "mutual_tls_mode",
];
const SERVICE_BLOCKS: &[&str] = &["instance"];
const INSTANCE_ATTRS: &[&str] = &["address", "port", "health", "meta", "tags", "locality"];
const INSTANCE_BLOCKS: &[&str] = &["meta", "locality", "sidecar"];
const SIDECAR_ATTRS: &[&str] = &["port", "local_service_address"];
const UPSTREAM_ATTRS: &[&str] = &["local_bind_port", "local_bind_address"];

/// Accumulates the files of one registry into one catalog.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    catalog: Catalog,
    /// Where each service and instance was first defined, for duplicate errors.
    services_at: BTreeMap<ServiceName, Location>,
    instances_at: BTreeMap<String, Location>,
    errors: Vec<FileError>,
}

impl Decoder {
    /// Decodes one file's text; errors are collected, one per faulty service block.
    pub(crate) fn add(&mut self, path: &Path, text: String) {
        let doc = match Document::parse(path, text) {
            Ok(doc) => doc,
            Err(e) => return self.errors.push(e.into()),
        };
        let top = doc.body();
        if let Err(e) = top.deny_unknown(&[], &["service"]) {
            self.errors.push(e.into());
        }
        for block in top.blocks("service") {
            if let Err(e) = self.service(&block) {
                self.errors.push(e.into());
            }
        }
    }

    pub(crate) fn add_read_error(&mut self, error: FileError) {
        self.errors.push(error);
    }

    /// The catalog, checked with [`Catalog::validate`] (its errors name `source`),
    /// or every error found.
    pub(crate) fn finish(self, source: &Path) -> Result<Catalog, Vec<FileError>> {
        if !self.errors.is_empty() {
            return Err(self.errors);
        }
        self.catalog
            .validate()
            .map_err(|e| {
                vec![FileError::Catalog {
                    path: source.to_owned(),
                    source: e,
                }]
            })
            .map(|()| self.catalog)
    }

    fn service(&mut self, block: &Block<'_>) -> Result<(), HclError> {
        let label = block.label("name")?;
        let name: ServiceName = label
            .parse()
            .map_err(|e| label.error(format!("invalid service name: {}", e.message)))?;
        if let Some(first) = self.services_at.get(&name) {
            return Err(label.error(format!(
                "service {:?} is already defined at {first}",
                name.as_str()
            )));
        }
        let body = block.body();
        body.deny_unknown(SERVICE_ATTRS, SERVICE_BLOCKS)?;
        let mut service = settings(&body, name.clone())?;
        // decode every instance before recording any, so a faulty block leaves no trace
        let mut proxies = Vec::new();
        let mut seen: BTreeMap<String, Location> = BTreeMap::new();
        for inst in body.blocks("instance") {
            let (endpoint, proxy, at) = instance(&inst, &name)?;
            if let Some(first) = self
                .instances_at
                .get(&endpoint.instance)
                .or(seen.get(&endpoint.instance))
            {
                return Err(HclError::new(
                    at,
                    format!(
                        "instance {:?} is already defined at {first}; instance names are unique across the registry",
                        endpoint.instance
                    ),
                ));
            }
            seen.insert(endpoint.instance.clone(), at);
            service.endpoints.push(endpoint);
            proxies.extend(proxy);
        }
        self.instances_at.extend(seen);
        self.services_at.insert(name.clone(), block.location());
        self.catalog.services.insert(name, service);
        for p in proxies {
            self.catalog.proxies.insert(p.id.clone(), p);
        }
        Ok(())
    }
}

/// A service's own attributes, with the defaults for those not given.
fn settings(body: &Body<'_>, name: ServiceName) -> Result<Service, HclError> {
    let protocol = match body.attr("protocol") {
        Some(v) => v.parse()?,
        None => Default::default(),
    };
    let mut service = Service::new(name, protocol);
    if let Some(v) = body.attr("load_balancer") {
        service.lb_policy = match v.string()? {
            "round_robin" => LbPolicy::RoundRobin,
            "least_request" => LbPolicy::LeastRequest,
            other => {
                return Err(v.error(format!(
                    "expected one of round_robin, least_request, found {other:?}"
                )));
            }
        };
    }
    if let Some(v) = body.attr("connect_timeout") {
        service.connect_timeout = v.duration()?;
        if service.connect_timeout.is_zero() {
            return Err(v.error("expected a duration greater than zero"));
        }
    }
    if let Some(v) = body.attr("mutual_tls_mode") {
        service.mutual_tls_mode = v.parse()?;
    }
    Ok(service)
}

/// One instance: its endpoint, its proxy if it runs a sidecar, and where its name is written.
fn instance(
    block: &Block<'_>,
    service: &ServiceName,
) -> Result<(Endpoint, Option<Proxy>, Location), HclError> {
    let label = block.label("name")?;
    let id: ProxyId = label
        .parse()
        .map_err(|e| label.error(format!("invalid instance name: {}", e.message)))?;
    let body = block.body();
    body.deny_unknown(INSTANCE_ATTRS, INSTANCE_BLOCKS)?;
    let address = body.required("address")?.ip_addr()?;
    let port = body.required("port")?.port()?;
    let health = match body.attr("health") {
        Some(v) => health(v.string()?).ok_or_else(|| {
            v.error(format!(
                "expected one of passing, warning, critical, maintenance, found {:?}",
                v.string().unwrap_or_default()
            ))
        })?,
        None => Health::default(),
    };
    let metadata = match body.nested("meta")? {
        Some(meta) => meta.string_map()?,
        None => BTreeMap::new(),
    };
    let tags = match body.attr("tags") {
        Some(v) => v.strings()?,
        None => Vec::new(),
    };
    let locality = match body.nested("locality")? {
        Some(l) => locality(&l)?,
        None => Locality::default(),
    };
    let app = SocketAddr::new(address, port);
    let (endpoint_addr, proxy) = match body.single_block("sidecar")? {
        Some(sidecar) => {
            let proxy = self::sidecar(&sidecar, id, service, address, port)?;
            (proxy.inbound, Some(proxy))
        }
        None => (app, None),
    };
    let endpoint = Endpoint {
        instance: label.as_str().to_owned(),
        address: endpoint_addr,
        health,
        locality,
        metadata,
        sidecar: proxy.is_some(),
        tags,
    };
    Ok((endpoint, proxy, label.location().clone()))
}

fn health(s: &str) -> Option<Health> {
    [
        Health::Passing,
        Health::Warning,
        Health::Critical,
        Health::Maintenance,
    ]
    .into_iter()
    .find(|h| h.as_str() == s)
}

fn locality(body: &Body<'_>) -> Result<Locality, HclError> {
    body.deny_unknown(&["region", "zone"], &[])?;
    let get = |k| -> Result<String, HclError> {
        body.attr(k)
            .map(|v| v.string().map(str::to_owned))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(Locality {
        region: get("region")?,
        zone: get("zone")?,
    })
}

fn sidecar(
    block: &Block<'_>,
    id: ProxyId,
    service: &ServiceName,
    address: IpAddr,
    app_port: u16,
) -> Result<Proxy, HclError> {
    block.no_labels()?;
    let body = block.body();
    body.deny_unknown(SIDECAR_ATTRS, &["upstream"])?;
    let inbound = SocketAddr::new(address, body.required("port")?.port()?);
    let local_ip = match body.attr("local_service_address") {
        Some(v) => v.ip_addr()?,
        None => DEFAULT_LOCAL_SERVICE_ADDRESS,
    };
    let mut upstreams: Vec<Upstream> = Vec::new();
    for up in body.blocks("upstream") {
        let label = up.label("service")?;
        let name: ServiceName = label
            .parse()
            .map_err(|e| label.error(format!("invalid upstream service name: {}", e.message)))?;
        if upstreams.iter().any(|u| u.service == name) {
            return Err(label.error(format!(
                "upstream {:?} is declared twice in this sidecar",
                name.as_str()
            )));
        }
        let ub = up.body();
        ub.deny_unknown(UPSTREAM_ATTRS, &[])?;
        let port_value = ub.required("local_bind_port")?;
        let bind_ip = match ub.attr("local_bind_address") {
            Some(v) => v.ip_addr()?,
            None => DEFAULT_LOCAL_BIND_ADDRESS,
        };
        let local_bind = SocketAddr::new(bind_ip, port_value.port()?);
        if let Some(other) = upstreams.iter().find(|u| u.local_bind == local_bind) {
            return Err(port_value.error(format!(
                "{local_bind} is already bound by upstream {:?} in this sidecar",
                other.service.as_str()
            )));
        }
        upstreams.push(Upstream {
            service: name,
            local_bind,
        });
    }
    Ok(Proxy {
        id,
        service: service.clone(),
        inbound,
        local_app: SocketAddr::new(local_ip, app_port),
        upstreams,
        expose: Vec::new(),
    })
}

/// The `*.hcl` files to read for `path`: the file itself, or the folder's files
/// in name order (hidden files, such as editors' lock files, skipped).
pub(crate) fn files_of(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let p = entry?.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.'));
        if !hidden && p.extension().is_some_and(|e| e == "hcl") && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests;
