//! Planning each sidecar of a set of definitions: ports, names, local app, checks, bodies.

use std::collections::BTreeSet;

use super::{
    DEFAULT_LOCAL_ADDRESS, Endpoint, PlanError, PlanOptions, PlannedUpstream,
    SIDECAR_CHECK_INTERVAL, SIDECAR_SUFFIX, SidecarPlan, SidecarSource, bind_address,
    join_host_port,
};
use crate::model::{CheckDefinition, ProxyConfig, ServiceDefinition, ServiceKind};
use crate::register::ServiceRegistration;

/// The sidecar of every definition that has one (`connect.sidecar_service`, or itself a
/// `connect-proxy`), in order; other definitions (typical services, gateways) have none.
///
/// As Consul's agent does, a sidecar without a port gets the lowest port of
/// [`PlanOptions::sidecar_ports`] that no definition of the set (nor
/// [`PlanOptions::reserved_ports`]) uses, so planning the same files again gives the same
/// ports. Pure: no I/O.
pub fn plan_sidecars(
    defs: &[ServiceDefinition],
    opts: &PlanOptions,
) -> Result<Vec<SidecarPlan>, PlanError> {
    let mut used: BTreeSet<u16> = opts.reserved_ports.clone();
    for def in defs {
        used.extend(def.port);
        used.extend(def.sidecar_service().and_then(|s| s.port));
    }
    let mut plans = Vec::new();
    for def in defs {
        if let Some(sidecar) = def.sidecar_service() {
            plans.push(nested(def, sidecar, &mut used, opts)?);
        } else if def.kind == ServiceKind::ConnectProxy {
            plans.push(registered(def, defs)?);
        }
    }
    Ok(plans)
}

/// `connect.sidecar_service` expanded as agent/sidecar_service.go does.
fn nested(
    def: &ServiceDefinition,
    sc: &ServiceDefinition,
    used: &mut BTreeSet<u16>,
    opts: &PlanOptions,
) -> Result<SidecarPlan, PlanError> {
    let service_id = def.service_id().to_owned();
    let sidecar_id = format!("{service_id}{SIDECAR_SUFFIX}");
    let (sidecar_port, port_assigned) = match sc.port {
        Some(p) => (p, false),
        None => {
            let p = opts
                .sidecar_ports
                .clone()
                .find(|p| !used.contains(p))
                .ok_or_else(|| PlanError::NoPortLeft {
                    service: def.name.clone(),
                    min: *opts.sidecar_ports.start(),
                    max: *opts.sidecar_ports.end(),
                })?;
            used.insert(p);
            (p, true)
        }
    };
    let mut proxy = sc.proxy.clone().unwrap_or_default();
    if proxy.destination_service_name.is_empty() {
        proxy.destination_service_name.clone_from(&def.name);
    }
    if proxy.destination_service_id.is_empty() {
        proxy.destination_service_id.clone_from(&service_id);
    }
    let incomplete = proxy.local_service_address.is_empty() || proxy.local_service_port.is_none();
    if proxy.local_service_socket_path.is_empty() && incomplete {
        match &def.socket_path {
            Some(path) => proxy.local_service_socket_path.clone_from(path),
            None => {
                if proxy.local_service_address.is_empty() {
                    proxy.local_service_address = DEFAULT_LOCAL_ADDRESS.to_owned();
                }
                proxy.local_service_port = proxy.local_service_port.or(def.port);
            }
        }
    }
    let address = sc.address.clone().or_else(|| def.address.clone());
    let checks = if sc.checks.is_empty() {
        let check_host = address.as_deref().unwrap_or(&proxy.local_service_address);
        default_checks(&service_id, check_host, sidecar_port)
    } else {
        sc.checks.clone()
    };
    let pick = |own: &Vec<String>, parent: &Vec<String>| {
        if own.is_empty() {
            parent.clone()
        } else {
            own.clone()
        }
    };
    let expanded = ServiceDefinition {
        id: Some(sidecar_id.clone()),
        name: if sc.name.is_empty() {
            format!("{}{SIDECAR_SUFFIX}", def.name)
        } else {
            sc.name.clone()
        },
        kind: ServiceKind::ConnectProxy,
        tags: pick(&sc.tags, &def.tags),
        meta: if sc.meta.is_empty() {
            def.meta.clone()
        } else {
            sc.meta.clone()
        },
        address,
        port: Some(sidecar_port),
        checks,
        proxy: Some(proxy),
        namespace: def.namespace.clone(),
        partition: def.partition.clone(),
        token: None,
        connect: None,
        ..sc.clone()
    };
    let mut registration = ServiceRegistration::from_definition(def);
    if let Some(nested) = registration
        .connect
        .as_mut()
        .and_then(|c| c.sidecar_service.as_mut())
    {
        // pinned, so the agent registers the port planned here rather than picking its own
        nested.port = Some(sidecar_port);
    }
    let token = sc.token.clone().or_else(|| def.token.clone());
    finish(
        SidecarSource::Nested,
        expanded,
        registration,
        token,
        &def.name,
        port_assigned,
    )
}

/// A `kind = "connect-proxy"` registration of its own; the local port, when not given,
/// comes from the destination service when it is in the same set.
fn registered(
    def: &ServiceDefinition,
    defs: &[ServiceDefinition],
) -> Result<SidecarPlan, PlanError> {
    if def.port.is_none() {
        return Err(PlanError::NoSidecarPort {
            sidecar: def.service_id().to_owned(),
        });
    }
    let mut proxy = def.proxy.clone().unwrap_or_default();
    if proxy.local_service_socket_path.is_empty() {
        if proxy.local_service_address.is_empty() {
            proxy.local_service_address = DEFAULT_LOCAL_ADDRESS.to_owned();
        }
        if proxy.local_service_port.is_none() {
            let dest_id = if proxy.destination_service_id.is_empty() {
                &proxy.destination_service_name
            } else {
                &proxy.destination_service_id
            };
            proxy.local_service_port = defs
                .iter()
                .find(|d| d.kind == ServiceKind::Typical && d.service_id() == dest_id.as_str())
                .and_then(|d| d.port);
        }
    }
    let expanded = ServiceDefinition {
        id: Some(def.service_id().to_owned()),
        proxy: Some(proxy),
        token: None,
        ..def.clone()
    };
    let registration = ServiceRegistration::from_definition(def);
    let service = expanded
        .proxy
        .as_ref()
        .map(|p| p.destination_service_name.clone())
        .unwrap_or_default();
    finish(
        SidecarSource::ProxyRegistration,
        expanded,
        registration,
        def.token.clone(),
        &service,
        false,
    )
}

/// The plan of an expanded `connect-proxy` definition.
fn finish(
    source: SidecarSource,
    expanded: ServiceDefinition,
    registration: ServiceRegistration,
    token: Option<String>,
    service: &str,
    port_assigned: bool,
) -> Result<SidecarPlan, PlanError> {
    let proxy: ProxyConfig = expanded.proxy.clone().unwrap_or_default();
    let sidecar_port = expanded.port.unwrap_or(0);
    let local_app = if proxy.local_service_socket_path.is_empty() {
        let port = proxy
            .local_service_port
            .ok_or_else(|| PlanError::NoLocalPort {
                service: service.to_owned(),
            })?;
        Endpoint::Tcp {
            address: proxy.local_service_address.clone(),
            port,
        }
    } else {
        Endpoint::Unix {
            path: proxy.local_service_socket_path.clone(),
        }
    };
    let conflict = |what: String, port: u16| PlanError::PortConflict {
        service: service.to_owned(),
        what,
        port,
    };
    if let Endpoint::Tcp { port, .. } = &local_app
        && *port == sidecar_port
    {
        return Err(conflict("the local service".to_owned(), *port));
    }
    let mut upstreams = Vec::new();
    for u in &proxy.upstreams {
        let bind = match u.local_bind_port {
            Some(port) if port == sidecar_port => {
                return Err(conflict(
                    format!("the upstream {:?}", u.destination_name),
                    port,
                ));
            }
            Some(port) => Endpoint::Tcp {
                address: bind_address(u).to_owned(),
                port,
            },
            None => Endpoint::Unix {
                path: u.local_bind_socket_path.clone(),
            },
        };
        upstreams.push(PlannedUpstream {
            destination_type: u.destination_type,
            destination_name: u.destination_name.clone(),
            destination_namespace: u.destination_namespace.clone(),
            destination_partition: u.destination_partition.clone(),
            datacenter: u.datacenter.clone(),
            bind,
        });
    }
    tracing::debug!(sidecar = %expanded.service_id(), port = sidecar_port, "planned sidecar");
    Ok(SidecarPlan {
        source,
        service_name: proxy.destination_service_name.clone(),
        service_id: if proxy.destination_service_id.is_empty() {
            proxy.destination_service_name.clone()
        } else {
            proxy.destination_service_id.clone()
        },
        sidecar_id: expanded.service_id().to_owned(),
        sidecar_name: expanded.name.clone(),
        sidecar_address: expanded.address.clone(),
        sidecar_port,
        port_assigned,
        local_app,
        upstreams,
        tags: expanded.tags.clone(),
        meta: expanded.meta.clone(),
        checks: expanded.checks.clone(),
        sidecar_registration: ServiceRegistration::from_definition(&expanded),
        proxy,
        token,
        registration,
    })
}

/// Consul's two default sidecar checks (`sidecarDefaultChecks`): TCP on the sidecar's
/// listener every 10 s, and an alias of the service's own health.
fn default_checks(service_id: &str, host: &str, port: u16) -> Vec<CheckDefinition> {
    vec![
        CheckDefinition {
            name: "Connect Sidecar Listening".to_owned(),
            tcp: join_host_port(host, port),
            interval: Some(SIDECAR_CHECK_INTERVAL),
            ..CheckDefinition::default()
        },
        CheckDefinition {
            name: format!("Connect Sidecar Aliasing {service_id}"),
            alias_service: service_id.to_owned(),
            ..CheckDefinition::default()
        },
    ]
}
