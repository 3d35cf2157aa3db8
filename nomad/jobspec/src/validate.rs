//! The rules Nomad enforces on submit that concern the mesh (FORMATS.md 1.2–1.4): networks
//! and modes for Connect, names, port labels, one kind of `connect`, upstream bind ports.

use rigging_mesh_hcl::Location;

use crate::error::{Invalid, ValidationError};
use crate::tree::Block;
use crate::views::{Group, Service};
use crate::{Job, Proxy};

/// Collects errors with the job's file for unlocated parts.
struct Report<'a> {
    file: &'a str,
    errors: Vec<ValidationError>,
}

impl Report<'_> {
    fn at(&mut self, location: Option<&Location>, path: &str, message: impl Into<String>) {
        self.errors.push(ValidationError {
            location: location.cloned(),
            file: self.file.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        });
    }

    /// An error at attribute `key` of `block`, or at the block when the key is absent.
    fn attr(&mut self, block: &Block, key: &str, path: &str, message: impl Into<String>) {
        let loc = block
            .attr(key)
            .and_then(|a| a.location.as_ref())
            .or(block.location.as_ref());
        self.at(loc, path, message);
    }
}

pub(crate) fn validate(job: &Job) -> Result<(), Invalid> {
    let mut r = Report {
        file: job.file(),
        errors: Vec::new(),
    };
    let mut seen: Vec<&str> = Vec::new();
    for g in job.groups() {
        if seen.contains(&g.name()) {
            r.at(
                g.block().location.as_ref(),
                "",
                format!(
                    "group {:?} is defined more than once; group names must be unique in a job",
                    g.name()
                ),
            );
        }
        seen.push(g.name());
        group(&mut r, &g);
    }
    if r.errors.is_empty() {
        Ok(())
    } else {
        Err(Invalid { errors: r.errors })
    }
}

/// A Consul service name: RFC 1123 label characters, under 64 characters (Nomad's
/// `validConsulServiceName`). Names with runtime interpolation are checked by Nomad later.
fn valid_service_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit())
}

fn group(r: &mut Report<'_>, g: &Group<'_>) {
    let gpath = format!("group {:?}", g.name());
    let networks = g.networks();
    if let Some(second) = networks.get(1) {
        r.at(
            second.block().location.as_ref(),
            &gpath,
            "only one network block is allowed in a group",
        );
    }
    let labels = g.port_labels();
    for (i, l) in labels.iter().enumerate() {
        if labels[..i].contains(l) {
            r.at(
                g.block().location.as_ref(),
                &gpath,
                format!("port label {l:?} is defined more than once in the group's network"),
            );
        }
    }
    let mut tasks: Vec<&str> = Vec::new();
    for t in g.tasks() {
        if tasks.contains(&t.name()) {
            r.at(
                t.block().location.as_ref(),
                &gpath,
                format!("task {:?} is defined more than once in the group", t.name()),
            );
        }
        tasks.push(t.name());
        for s in t.services() {
            let path = format!(
                "{gpath} task {:?} service {:?}",
                t.name(),
                s.name().unwrap_or("")
            );
            service_common(r, &s, &labels, &path);
            if let Some(c) = s.connect()
                && (c.sidecar_service().is_some()
                    || c.gateway().is_some()
                    || c.sidecar_task().is_some())
            {
                r.at(c.block().location.as_ref(), &path, "connect sidecar_service, sidecar_task and gateway are only allowed in group-level services, not in a task's service");
            }
        }
    }
    let services = g.services();
    let connect_count = services.iter().filter(|s| s.connect().is_some()).count();
    let mut binds: Vec<(String, i64)> = Vec::new();
    for s in &services {
        let path = format!("{gpath} service {:?}", s.name().unwrap_or(""));
        service_common(r, s, &labels, &path);
        let Some(c) = s.connect() else { continue };
        if g.name().chars().any(|ch| ch.is_ascii_uppercase()) {
            r.at(
                g.block().location.as_ref(),
                &gpath,
                "group names must be lowercase when a service uses Consul Connect",
            );
        }
        if let Some(name) = s.name()
            && !name.contains("${")
            && name.chars().any(|ch| ch.is_ascii_uppercase())
        {
            r.attr(
                s.block(),
                "name",
                &path,
                "service names must be lowercase for Consul Connect",
            );
        }
        if s.provider() == "nomad" {
            r.attr(s.block(), "provider", &path, "service with provider nomad cannot include connect blocks; use provider = \"consul\"");
        }
        let (native, sidecar, gateway) = (c.native(), c.sidecar_service(), c.gateway());
        let kinds =
            usize::from(native) + usize::from(sidecar.is_some()) + usize::from(gateway.is_some());
        if kinds != 1 {
            r.at(
                c.block().location.as_ref(),
                &path,
                "connect must be exactly one of native = true, sidecar_service or gateway",
            );
        }
        if c.sidecar_task().is_some() && sidecar.is_none() {
            r.at(
                c.block().location.as_ref(),
                &path,
                "connect sidecar_task needs a sidecar_service",
            );
        }
        let mode = networks.first().map(|n| n.mode());
        let bridge_like = |m: &str| m == "bridge" || m.starts_with("cni/");
        if sidecar.is_some() {
            match (networks.len(), mode) {
                (1, Some(m)) if bridge_like(m) => {}
                (1, Some(m)) => r.at(networks[0].block().location.as_ref(), &gpath, format!("invalid network mode {m:?} for a Consul Connect sidecar; expected network {{ mode = \"bridge\" }} or \"cni/<name>\"")),
                _ => r.at(c.block().location.as_ref(), &path, "a group with a Consul Connect sidecar must have exactly one network block, with mode = \"bridge\""),
            }
        }
        if gateway.is_some()
            && let Some(m) = mode
            && !(bridge_like(m) || m == "host")
        {
            r.at(networks[0].block().location.as_ref(), &gpath, format!("invalid network mode {m:?} for a Consul Connect gateway; expected bridge, host or cni/<name>"));
        }
        let Some(sc) = sidecar else { continue };
        if let Some(p) = sc.port()
            && !is_number(&p)
            && !p.contains("${")
            && !labels.contains(&p.as_str())
        {
            r.attr(sc.block(), "port", &path, format!("sidecar_service port label {p:?} is not defined in the group's network; expected one of {labels:?}"));
        }
        if let Some(proxy) = sc.proxy() {
            proxy_rules(r, &proxy, &labels, &path, &mut binds);
            if proxy.transparent_proxy().is_some() {
                if connect_count > 1 {
                    r.at(proxy.transparent_proxy().and_then(|t| t.location.as_ref()), &path, "transparent_proxy needs the group to have only one service with a connect block");
                }
                let no_dns = proxy
                    .transparent_proxy()
                    .and_then(|t| t.get_bool("no_dns"))
                    .unwrap_or(false);
                if !no_dns && networks.first().is_some_and(|n| n.has_dns()) {
                    r.at(networks[0].block().location.as_ref(), &gpath, "a network dns block cannot be used with transparent_proxy unless no_dns = true");
                }
            }
        }
    }
}

/// Rules for services at either level: name, port label, check port labels.
fn service_common(r: &mut Report<'_>, s: &Service<'_>, labels: &[&str], path: &str) {
    if let Some(name) = s.name()
        && !name.contains("${")
        && !valid_service_name(name)
    {
        r.attr(s.block(), "name", path, format!("service name {name:?} must be valid per RFC 1123: only letters, digits and dashes, not starting or ending with a dash, at most 63 characters"));
    }
    if let Some(p) = s.port()
        && !is_number(&p)
        && !p.contains("${")
        && !labels.contains(&p.as_str())
    {
        r.attr(s.block(), "port", path, format!("port label {p:?} is not defined in the group's network; expected a number or one of {labels:?}"));
    }
    for c in s.checks() {
        if let Some(p) = c.port()
            && !is_number(&p)
            && !p.contains("${")
            && !labels.contains(&p.as_str())
        {
            r.attr(c.block(), "port", path, format!("check port label {p:?} is not defined in the group's network; expected a number or one of {labels:?}"));
        }
    }
}

fn proxy_rules(
    r: &mut Report<'_>,
    proxy: &Proxy<'_>,
    labels: &[&str],
    path: &str,
    binds: &mut Vec<(String, i64)>,
) {
    for u in proxy.upstreams() {
        let b = u.block();
        if u.destination_name().is_none_or(str::is_empty) {
            r.attr(
                b,
                "destination_name",
                path,
                "upstreams needs destination_name",
            );
        }
        if b.get("local_bind_socket_path").is_some() {
            continue;
        }
        match u.local_bind_port() {
            None | Some(0) => r.attr(
                b,
                "local_bind_port",
                path,
                "upstreams needs local_bind_port, a port from 1 to 65535",
            ),
            Some(p) if !(1..=65535).contains(&p) => r.attr(
                b,
                "local_bind_port",
                path,
                format!("local_bind_port must be from 1 to 65535, found {p}"),
            ),
            Some(p) => {
                let key = (u.local_bind_address().unwrap_or("").to_owned(), p);
                if binds.contains(&key) {
                    r.attr(b, "local_bind_port", path, format!("upstreams in one group must not share a local bind address and port; {}:{p} is used twice", if key.0.is_empty() { "127.0.0.1" } else { &key.0 }));
                }
                binds.push(key);
            }
        }
    }
    for e in proxy.expose_paths() {
        let b = e.block();
        if !e.path().is_some_and(|p| p.starts_with('/')) {
            r.attr(b, "path", path, "expose path needs path, starting with /");
        }
        if let Some(proto) = e.protocol()
            && !matches!(proto, "http" | "http2")
        {
            r.attr(
                b,
                "protocol",
                path,
                format!("expose path protocol must be http or http2, found {proto:?}"),
            );
        }
        if e.local_path_port().is_none() {
            r.attr(
                b,
                "local_path_port",
                path,
                "expose path needs local_path_port",
            );
        }
        match e.listener_port() {
            Some(l) if labels.contains(&l) || l.contains("${") => {}
            Some(l) => r.attr(b, "listener_port", path, format!("expose listener_port {l:?} is not a port label of the group's network; expected one of {labels:?}")),
            None => r.attr(b, "listener_port", path, "expose path needs listener_port, a port label"),
        }
    }
}
