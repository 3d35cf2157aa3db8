//! The task that replaces Envoy: `rig proxy` with Nomad's sidecar defaults.

use rigging_nomad_jobspec::{Block, Value};

use crate::options::{IDENTITY_NAME, Options, is_container_driver};

/// Lifetime of the proxy's workload identity. Without a `ttl` Nomad signs a JWT that never
/// expires, which Citadel refuses (it requires `exp`); with one, Nomad renews the file
/// before it expires and the proxy reads it again at each certificate issuance.
const IDENTITY_TTL: &str = "1h";

/// CPU of an injected proxy task, in MHz: Nomad's Envoy default (`connectSidecarResources`).
const DEFAULT_CPU_MHZ: i64 = 250;
/// Memory of an injected proxy task, in MB: Nomad's Envoy default.
const DEFAULT_MEMORY_MB: i64 = 128;
/// Time the proxy keeps serving after its service is deregistered, so in-flight requests
/// drain: Nomad's Envoy default.
const DEFAULT_SHUTDOWN_DELAY: &str = "5s";
/// Log files kept, and the size of each in MB: Nomad's Envoy default (2 × 2 MB).
const DEFAULT_LOG_FILES: i64 = 2;
const DEFAULT_LOG_FILE_MB: i64 = 2;
/// First admin port of a group's proxies; one per proxy so that several share a bridge
/// namespace (Nomad uses 19000 + task index the same way for Envoy's admin).
const ADMIN_PORT_BASE: i64 = 19000;
/// Admin address inside a bridge namespace: off the 127.0.0.1 the application uses, as Nomad
/// puts Envoy's admin on 127.0.0.2.
const BRIDGE_ADMIN_IP: &str = "127.0.0.2";
/// Where gateway listeners bind: every address of the task's network (the bridge namespace,
/// or the host under host networking), since a gateway exists to be reached from outside.
const GATEWAY_BIND: &str = "0.0.0.0";

/// What the proxy task is for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Role<'a> {
    /// The sidecar of one service; `port` is the service's `port` as written (Nomad's
    /// PortLabel, part of the Consul service ID).
    Sidecar { port: &'a str },
    /// A gateway, `ingress` or `terminating`.
    Gateway { kind: &'a str },
}

/// One proxy task to build.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spec<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub service: &'a str,
    pub role: Role<'a>,
    pub driver: &'a str,
    /// The proxy's position among the group's proxies, for its admin port.
    pub index: usize,
    /// The group uses host networking (gateways only).
    pub host_network: bool,
}

/// The proxy task with Nomad's defaults, before any `sidecar_task` is merged.
pub(crate) fn build(spec: &Spec<'_>, options: &Options) -> Block {
    let mut task = Block::new("task", &[spec.name])
        .with_attr("driver", spec.driver)
        .with_attr("kind", spec.kind)
        .with_attr("shutdown_delay", DEFAULT_SHUTDOWN_DELAY);
    if matches!(spec.role, Role::Sidecar { .. }) {
        task.push_block(
            Block::new("lifecycle", &[])
                .with_attr("hook", "prestart")
                .with_attr("sidecar", true),
        );
    }
    task.push_block(config(spec, options));
    task.push_block(
        Block::new("identity", &[])
            .with_attr("name", IDENTITY_NAME)
            .with_attr("aud", Value::List(vec![options.audience.as_str().into()]))
            .with_attr("file", true)
            .with_attr("ttl", IDENTITY_TTL),
    );
    task.push_block(
        Block::new("resources", &[])
            .with_attr("cpu", DEFAULT_CPU_MHZ)
            .with_attr("memory", DEFAULT_MEMORY_MB),
    );
    task.push_block(
        Block::new("logs", &[])
            .with_attr("max_files", DEFAULT_LOG_FILES)
            .with_attr("max_file_size", DEFAULT_LOG_FILE_MB),
    );
    task
}

/// `config`: the image or command that runs `rig proxy …`.
pub(crate) fn config(spec: &Spec<'_>, options: &Options) -> Block {
    let args = Value::List(args(spec, options).into_iter().map(Value::from).collect());
    let mut config = Block::new("config", &[]);
    if is_container_driver(spec.driver) {
        config.set("image", options.image.as_str());
        config.set("args", args);
        if spec.host_network {
            config.set("network_mode", "host");
        }
    } else {
        config.set("command", options.rig_path.as_str());
        config.set("args", args);
    }
    config
}

/// `rig proxy`'s arguments: identity towards Pilot, control plane addresses, credential.
pub(crate) fn args(spec: &Spec<'_>, options: &Options) -> Vec<String> {
    let mut a: Vec<String> = vec!["proxy".into()];
    match spec.role {
        Role::Sidecar { port } => {
            a.push("--id".into());
            a.push(sidecar_id(spec.service, port));
        }
        Role::Gateway { kind } => {
            a.extend(["--gateway".into(), kind.into(), "--id".into()]);
            a.push(spec.service.into());
            a.extend(["--gateway-bind".into(), GATEWAY_BIND.into()]);
        }
    }
    let admin = if spec.host_network {
        // Under host networking proxies of several allocations share the host: let the
        // kernel pick a free port rather than collide.
        "127.0.0.1:0".to_owned()
    } else {
        let offset = i64::try_from(spec.index).unwrap_or(0);
        format!("{BRIDGE_ADMIN_IP}:{}", ADMIN_PORT_BASE + offset)
    };
    a.extend([
        "--pilot".into(),
        options.pilot.clone(),
        "--admin".into(),
        admin,
        "--citadel".into(),
        options.citadel.clone(),
        "--citadel-ca".into(),
        options.citadel_ca.clone(),
        "--nomad-jwt-file".into(),
        format!("${{NOMAD_SECRETS_DIR}}/nomad_{IDENTITY_NAME}.jwt"),
    ]);
    a
}

/// The ID the Nomad client registers the sidecar under in Consul:
/// `_nomad-task-<alloc>-group-<group>-<service>-<port label>-sidecar-proxy`
/// (`MakeAllocServiceID` with task name `group-<group>`, plus `-sidecar-proxy`).
pub(crate) fn sidecar_id(service: &str, port: &str) -> String {
    format!(
        "_nomad-task-${{NOMAD_ALLOC_ID}}-group-${{NOMAD_GROUP_NAME}}-{service}-{port}-sidecar-proxy"
    )
}
