//! Nomad's Connect rules that jobspec's `validate()` leaves to the server's connect hook
//! (`groupConnectValidate` in nomad/job_endpoint_hook_connect.go), and what Rigging cannot run.

use rigging_nomad_jobspec::{GatewayKind, Group, Job, Service};

use crate::error::Located;
use crate::names;

/// Rules Nomad enforces on submit beyond jobspec's: a gateway group has exactly one network,
/// `bridge` or `host`; a native service names a task that exists (or the group has one task).
pub(crate) fn nomad_rules(job: &Job) -> Vec<Located> {
    let mut out = Vec::new();
    for g in job.groups() {
        let gpath = format!("group {:?}", g.name());
        for s in g.services() {
            let Some(c) = s.connect() else { continue };
            let path = format!("{gpath} service {:?}", s.name().unwrap_or(""));
            if c.gateway().is_some() {
                gateway_network(job.file(), &g, &s, &path, &mut out);
            }
            if c.native() {
                native_task(job.file(), &g, &s, &path, &mut out);
            }
        }
    }
    out
}

fn gateway_network(file: &str, g: &Group<'_>, s: &Service<'_>, path: &str, out: &mut Vec<Located>) {
    let nets = g.networks();
    match nets.as_slice() {
        [n] if matches!(n.mode(), "bridge" | "host") => {}
        [n] => out.push(Located::at(file, n.block(), path, format!("a Consul Connect gateway needs network mode \"bridge\" or \"host\", found {:?}", n.mode()))),
        _ => out.push(Located::at(file, s.block(), path, format!("a group with a Consul Connect gateway must have exactly one network block, found {}", nets.len()))),
    }
}

fn native_task(file: &str, g: &Group<'_>, s: &Service<'_>, path: &str, out: &mut Vec<Located>) {
    let tasks = g.tasks();
    match s.task() {
        None if tasks.len() == 1 => {}
        None => out.push(Located::at(file, s.block(), path, "the task of a Consul Connect native service is ambiguous: set service.task to the task that serves it")),
        Some(t) if tasks.iter().any(|x| x.name() == t) => {}
        Some(t) => out.push(Located::at(file, s.block(), path, format!("task {t:?} named by this Consul Connect native service does not exist in the group"))),
    }
}

/// What Rigging will not inject: mesh gateways (Rigging has none), connect services without
/// a literal name (the proxy task's name and kind derive from it), and a group task that
/// already holds the proxy task's name without being that proxy (Nomad would append random
/// characters; an injector must be deterministic).
pub(crate) fn unsupported(job: &Job) -> Vec<Located> {
    let mut out = Vec::new();
    for g in job.groups() {
        let gpath = format!("group {:?}", g.name());
        for s in g.services() {
            let Some(c) = s.connect() else { continue };
            if c.native() {
                continue;
            }
            let path = format!("{gpath} service {:?}", s.name().unwrap_or(""));
            let Some(name) = s.name().filter(|n| !n.contains("${")) else {
                out.push(Located::at(job.file(), s.block(), &path, "a connect service needs a literal name: the injected proxy task is named after it"));
                continue;
            };
            let gateway = c.gateway().map(|gw| gw.kind());
            let prefix = match gateway {
                None => names::SIDECAR_PREFIX,
                Some(Some(GatewayKind::Ingress)) => names::INGRESS_PREFIX,
                Some(Some(GatewayKind::Terminating)) => names::TERMINATING_PREFIX,
                Some(Some(GatewayKind::Mesh)) => {
                    let at = c.gateway().map_or(c.block(), |gw| gw.block());
                    out.push(Located::at(job.file(), at, &path, "mesh gateways are not supported: Rigging has no mesh gateway (rig proxy --gateway takes ingress or terminating); run Consul's Envoy mesh gateway in a job of its own"));
                    continue;
                }
                Some(_) => {
                    let at = c.gateway().map_or(c.block(), |gw| gw.block());
                    out.push(Located::at(
                        job.file(),
                        at,
                        &path,
                        "gateway needs one of ingress, terminating or mesh",
                    ));
                    continue;
                }
            };
            let kind = names::kind(prefix, name);
            let task_name = names::task_name(prefix, name);
            let wanted = c
                .sidecar_task()
                .and_then(|t| t.name())
                .unwrap_or(&task_name)
                .to_owned();
            let has_kind = g.tasks().iter().any(|t| t.kind() == Some(kind.as_str()));
            if let Some(t) = g.task(&wanted)
                && !has_kind
            {
                out.push(Located::at(job.file(), t.block(), &path, format!("task {wanted:?} already exists without kind = {kind:?}; rename it, or give it that kind to make it this service's proxy")));
            }
        }
    }
    out
}
