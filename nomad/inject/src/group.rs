//! Injection into one task group: plan from the read-only views, then edit the group block.

use rigging_nomad_jobspec::{Block, GatewayKind, Group};

use crate::error::Warning;
use crate::options::Options;
use crate::task::{Role, Spec};
use crate::{env, merge, names, task};

/// What one connect service (sidecar or gateway) needs injected.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    service: String,
    /// Position of the service among the group's `service` blocks.
    service_index: usize,
    /// The service's `port` as written; empty when unset (Nomad's PortLabel).
    port: String,
    /// `ingress` or `terminating`; `None` for a sidecar.
    gateway: Option<&'static str>,
    /// `sidecar_service.port`.
    sidecar_port: Option<String>,
    sidecar_task: Option<Block>,
    /// `(destination_name, local_bind_port)` of each upstream bound to a port.
    upstreams: Vec<(String, i64)>,
}

/// The group's connect services that get a proxy task; native services are left alone, mesh
/// gateways were refused before.
pub(crate) fn plan(g: &Group<'_>) -> Vec<Plan> {
    let mut plans = Vec::new();
    for (service_index, s) in g.services().iter().enumerate() {
        let Some(c) = s.connect() else { continue };
        let Some(name) = s.name() else { continue };
        let gateway = match c.gateway().map(|gw| gw.kind()) {
            None if c.sidecar_service().is_some() => None,
            Some(Some(GatewayKind::Ingress)) => Some("ingress"),
            Some(Some(GatewayKind::Terminating)) => Some("terminating"),
            _ => continue,
        };
        let sc = c.sidecar_service();
        let upstreams = sc
            .and_then(|sc| sc.proxy())
            .map(|p| p.upstreams())
            .unwrap_or_default()
            .iter()
            .filter_map(|u| Some((u.destination_name()?.to_owned(), u.local_bind_port()?)))
            .collect();
        plans.push(Plan {
            service: name.to_owned(),
            service_index,
            port: s.port().unwrap_or_default(),
            gateway,
            sidecar_port: sc.and_then(|sc| sc.port()),
            sidecar_task: c.sidecar_task().map(|t| t.block().clone()),
            upstreams,
        });
    }
    plans
}

/// Applies `plans` to the group block: proxy tasks, sidecar ports, upstream env.
pub(crate) fn apply(
    file: &str,
    group: &mut Block,
    plans: &[Plan],
    options: &Options,
    warnings: &mut Vec<Warning>,
) {
    let gname = group.label().unwrap_or_default().to_owned();
    let host_network = group
        .block("network")
        .and_then(|n| n.get_str("mode"))
        .is_none_or(|m| m == "host");
    for (index, p) in plans.iter().enumerate() {
        let path = format!("group {gname:?} service {:?}", p.service);
        let prefix = match p.gateway {
            None => names::SIDECAR_PREFIX,
            Some("ingress") => names::INGRESS_PREFIX,
            Some(_) => names::TERMINATING_PREFIX,
        };
        let kind = names::kind(prefix, &p.service);
        let existing = group
            .blocks_mut("task")
            .find(|t| t.get_str("kind") == Some(kind.as_str()));
        match (existing, &p.sidecar_task) {
            (Some(t), Some(st)) => merge::merge(file, &path, st, t, warnings),
            (Some(_), None) => {}
            (None, st) => {
                let default_name = names::task_name(prefix, &p.service);
                let name = st
                    .as_ref()
                    .and_then(|s| s.get_str("name"))
                    .unwrap_or(&default_name);
                let driver = st
                    .as_ref()
                    .and_then(|s| s.get_str("driver"))
                    .unwrap_or(options.driver.name());
                let role = match p.gateway {
                    None => Role::Sidecar { port: &p.port },
                    Some(kind) => Role::Gateway { kind },
                };
                let spec = Spec {
                    name,
                    kind: &kind,
                    service: &p.service,
                    role,
                    driver,
                    index,
                    host_network: host_network && p.gateway.is_some(),
                };
                let mut t = task::build(&spec, options);
                if let Some(st) = st {
                    merge::merge(file, &path, st, &mut t, warnings);
                }
                group.push_block(t);
            }
        }
        if let Some(connect) = group
            .blocks_mut("service")
            .nth(p.service_index)
            .and_then(|s| s.block_mut("connect"))
        {
            connect.remove_blocks("sidecar_task");
        }
        if p.gateway.is_none() {
            let label = p
                .sidecar_port
                .clone()
                .unwrap_or_else(|| names::task_name(prefix, &p.service));
            inject_port(group, &label);
        }
    }
    let vars: Vec<(String, String)> = plans
        .iter()
        .flat_map(|p| &p.upstreams)
        .flat_map(|(name, port)| env::upstream_vars(name, *port))
        .collect();
    for t in group.blocks_mut("task") {
        if !names::is_proxy_kind(t.get_str("kind")) {
            env::add_missing(t, &vars);
        }
    }
}

/// Nomad's `injectPort`: a dynamic port mapped to the same number inside the namespace,
/// unless the label exists already (or is a number, which names no label).
fn inject_port(group: &mut Block, label: &str) {
    if label.is_empty() || label.bytes().all(|b| b.is_ascii_digit()) {
        return;
    }
    let Some(network) = group.block_mut("network") else {
        return;
    };
    if network.labeled("port", label).is_none() {
        network.push_block(Block::new("port", &[label]).with_attr("to", -1_i64));
    }
}
