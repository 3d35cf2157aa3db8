//! Health checks, with Consul's check rules (`CheckType.Validate`).

use std::collections::BTreeMap;

use crate::decode::{Fields, string};
use crate::error::Diag;
use crate::model::CheckDefinition;
use crate::tree::Node;

/// The keys of a check; Consul's agent also takes the CamelCase and older spellings
/// (`ScriptArgs`, `script_args`, `CheckID`, `TLSSkipVerify`, `GRPCUseTLS`).
const CHECK_KEYS: &[&str] = &[
    "id|CheckID",
    "name",
    "notes",
    "status",
    "service_id",
    "args|script_args",
    "http",
    "header",
    "method",
    "body",
    "disable_redirects",
    "tls_server_name",
    "tls_skip_verify",
    "tcp",
    "tcp_use_tls",
    "udp",
    "grpc",
    "grpc_use_tls",
    "h2ping",
    "h2ping_use_tls",
    "os_service",
    "alias_node",
    "alias_service",
    "docker_container_id",
    "shell",
    "interval",
    "timeout",
    "ttl",
    "deregister_critical_service_after",
    "output_max_size",
    "success_before_passing",
    "failures_before_warning",
    "failures_before_critical",
];

/// One check, or `None` after recording why it is not one.
pub(super) fn check(d: &mut Diag, node: &Node) -> Option<CheckDefinition> {
    let f = Fields::of(d, node, "check", CHECK_KEYS)?;
    let count = |d: &mut Diag, name| {
        f.int(d, name, 0..=i64::from(u32::MAX))
            .and_then(|v| u32::try_from(v).ok())
    };
    let c = CheckDefinition {
        id: f.text(d, "id"),
        name: f.text(d, "name"),
        notes: f.text(d, "notes"),
        status: status(d, &f),
        service_id: f.text(d, "service_id"),
        args: f.strings(d, "args"),
        http: f.text(d, "http"),
        header: header(d, &f),
        method: f.text(d, "method"),
        body: f.text(d, "body"),
        disable_redirects: f.flag(d, "disable_redirects"),
        tls_server_name: f.text(d, "tls_server_name"),
        tls_skip_verify: f.flag(d, "tls_skip_verify"),
        tcp: f.text(d, "tcp"),
        tcp_use_tls: f.flag(d, "tcp_use_tls"),
        udp: f.text(d, "udp"),
        grpc: f.text(d, "grpc"),
        grpc_use_tls: f.flag(d, "grpc_use_tls"),
        h2ping: f.text(d, "h2ping"),
        h2ping_use_tls: f.flag(d, "h2ping_use_tls"),
        os_service: f.text(d, "os_service"),
        alias_node: f.text(d, "alias_node"),
        alias_service: f.text(d, "alias_service"),
        docker_container_id: f.text(d, "docker_container_id"),
        shell: f.text(d, "shell"),
        interval: f.duration(d, "interval"),
        timeout: f.duration(d, "timeout"),
        ttl: f.duration(d, "ttl"),
        deregister_critical_service_after: f.duration(d, "deregister_critical_service_after"),
        output_max_size: count(d, "output_max_size"),
        success_before_passing: count(d, "success_before_passing"),
        failures_before_warning: count(d, "failures_before_warning"),
        failures_before_critical: count(d, "failures_before_critical"),
    };
    rules(d, &f, &c);
    Some(c)
}

fn status(d: &mut Diag, f: &Fields<'_>) -> String {
    let s = f.text(d, "status");
    if !matches!(s.as_str(), "" | "passing" | "warning" | "critical") {
        d.err(
            &f.key_at("status"),
            format!("status: expected \"passing\", \"warning\" or \"critical\", found {s:?}"),
        );
    }
    s
}

/// `header = { Name = ["v1", "v2"] }`; a single string reads as a list of one.
fn header(d: &mut Diag, f: &Fields<'_>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for m in f.map(d, "header") {
        let values = match &m.value.val {
            crate::tree::Val::List(items) => {
                items.iter().filter_map(|n| string(d, n, &m.key)).collect()
            }
            _ => string(d, &m.value, &m.key).into_iter().collect(),
        };
        out.insert(m.key.clone(), values);
    }
    out
}

/// Consul's `CheckType.Validate`: which timing each kind of check needs.
fn rules(d: &mut Diag, f: &Fields<'_>, c: &CheckDefinition) {
    let interval_check = !c.args.is_empty()
        || !c.http.is_empty()
        || !c.tcp.is_empty()
        || !c.udp.is_empty()
        || !c.grpc.is_empty()
        || !c.h2ping.is_empty()
        || !c.os_service.is_empty()
        || !c.docker_container_id.is_empty();
    let alias = !c.alias_node.is_empty() || !c.alias_service.is_empty();
    // a value that did not read is an error already; count it as given, not as missing
    let given = |v: Option<std::time::Duration>, key| match v {
        Some(d) => (!d.is_zero()).then_some(d),
        None if f.has(key) => Some(std::time::Duration::MAX),
        None => None,
    };
    let interval = given(c.interval, "interval");
    let ttl = given(c.ttl, "ttl");
    let at = f.at();
    if interval.is_some() && ttl.is_some() {
        d.err(
            &f.key_at("ttl"),
            "check: interval and ttl cannot both be set",
        );
    }
    if interval_check && interval.is_none() {
        d.err(
            at,
            "check: interval must be set for script (args), http, tcp, udp, grpc, h2ping, docker and os_service checks",
        );
    }
    if interval_check && alias {
        d.err(
            at,
            "check: an alias check cannot also be a script, http, tcp, udp or grpc check",
        );
    }
    if alias && ttl.is_some() {
        d.err(
            &f.key_at("ttl"),
            "check: ttl cannot be set on an alias check",
        );
    }
    if !interval_check && !alias && ttl.is_none() {
        d.err(
            at,
            "check: expected one of args, http, tcp, udp, grpc, h2ping, docker_container_id, os_service, alias_service, alias_node, or a ttl",
        );
    }
    if !c.docker_container_id.is_empty() && c.args.is_empty() {
        d.err(
            &f.key_at("docker_container_id"),
            "check: a docker check needs args",
        );
    }
}
