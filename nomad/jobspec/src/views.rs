//! Typed, read-only views of the parts of a job the mesh reads. Each wraps a [`Block`]
//! (reachable with `block()`), so anything not covered here is still one call away.

mod connect;

use crate::Value;
use crate::tree::Block;

pub use connect::{
    Connect, ExposePath, Gateway, GatewayKind, Proxy, SidecarService, SidecarTask, Upstream,
};

macro_rules! view {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<'a> {
            block: &'a Block,
        }

        impl<'a> $name<'a> {
            pub(crate) fn new(block: &'a Block) -> Self {
                Self { block }
            }

            /// The underlying block, for fields this view does not cover.
            pub fn block(&self) -> &'a Block {
                self.block
            }
        }
    };
}
pub(crate) use view;

view!(
    /// A `group "<name>"` block.
    Group
);
view!(
    /// A `network` block.
    Network
);
view!(
    /// A `port "<label>"` block in a network.
    Port
);
view!(
    /// A `service` block, at group or task level.
    Service
);
view!(
    /// A `check` block in a service.
    Check
);
view!(
    /// A `task "<name>"` block.
    Task
);

impl<'a> Group<'a> {
    /// The group name (its label).
    pub fn name(&self) -> &'a str {
        self.block.label().unwrap_or_default()
    }

    /// `count`, when set (Nomad's default is 1).
    pub fn count(&self) -> Option<i64> {
        self.block.get_i64("count")
    }

    /// The `network` blocks (Nomad allows at most one).
    pub fn networks(&self) -> Vec<Network<'a>> {
        self.block.blocks("network").map(Network::new).collect()
    }

    /// Group-level services.
    pub fn services(&self) -> Vec<Service<'a>> {
        self.block.blocks("service").map(Service::new).collect()
    }

    /// The tasks, in order.
    pub fn tasks(&self) -> Vec<Task<'a>> {
        self.block.blocks("task").map(Task::new).collect()
    }

    /// The task named `name`.
    pub fn task(&self, name: &str) -> Option<Task<'a>> {
        self.block.labeled("task", name).map(Task::new)
    }

    /// Every port label of the group's networks.
    pub fn port_labels(&self) -> Vec<&'a str> {
        self.networks()
            .iter()
            .flat_map(|n| n.ports())
            .map(|p| p.label())
            .collect()
    }
}

impl<'a> Network<'a> {
    /// `mode`: `host` (the default), `bridge`, `none` or `cni/<name>`.
    pub fn mode(&self) -> &'a str {
        self.block.get_str("mode").unwrap_or("host")
    }

    /// The `port "<label>"` blocks.
    pub fn ports(&self) -> Vec<Port<'a>> {
        self.block.blocks("port").map(Port::new).collect()
    }

    /// Whether a `dns` block is set.
    pub fn has_dns(&self) -> bool {
        self.block.block("dns").is_some()
    }
}

impl<'a> Port<'a> {
    /// The port label.
    pub fn label(&self) -> &'a str {
        self.block.label().unwrap_or_default()
    }

    /// `static`: the reserved host port.
    pub fn static_port(&self) -> Option<i64> {
        self.block.get_i64("static")
    }

    /// `to`: the port inside the network namespace (`-1` or unset: same as the host port).
    pub fn to(&self) -> Option<i64> {
        self.block.get_i64("to")
    }

    /// `host_network`.
    pub fn host_network(&self) -> Option<&'a str> {
        self.block.get_str("host_network")
    }
}

impl<'a> Service<'a> {
    /// `name` (Nomad defaults it to `<job>-<group>-<task>`).
    pub fn name(&self) -> Option<&'a str> {
        self.block.get_str("name")
    }

    /// `port`: a port label or a number, as text.
    pub fn port(&self) -> Option<String> {
        self.block.get_string("port")
    }

    /// `tags`.
    pub fn tags(&self) -> Vec<String> {
        self.block.get_strings("tags")
    }

    /// `meta`, block or attribute form.
    pub fn meta(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("meta").unwrap_or_default()
    }

    /// `provider`: `consul` (the default) or `nomad`.
    pub fn provider(&self) -> &'a str {
        self.block.get_str("provider").unwrap_or("consul")
    }

    /// `task`: the task that backs a group service.
    pub fn task(&self) -> Option<&'a str> {
        self.block.get_str("task")
    }

    /// The `check` blocks.
    pub fn checks(&self) -> Vec<Check<'a>> {
        self.block.blocks("check").map(Check::new).collect()
    }

    /// The `connect` block.
    pub fn connect(&self) -> Option<Connect<'a>> {
        self.block.block("connect").map(Connect::new)
    }
}

impl<'a> Check<'a> {
    /// `name`.
    pub fn name(&self) -> Option<&'a str> {
        self.block.get_str("name")
    }

    /// `type`: `http`, `tcp`, `grpc`, `script`.
    pub fn check_type(&self) -> Option<&'a str> {
        self.block.get_str("type")
    }

    /// `path`, for http checks.
    pub fn path(&self) -> Option<&'a str> {
        self.block.get_str("path")
    }

    /// `port`: a label or number, as text.
    pub fn port(&self) -> Option<String> {
        self.block.get_string("port")
    }

    /// `expose`: Nomad creates an expose path for this check.
    pub fn expose(&self) -> bool {
        self.block.get_bool("expose").unwrap_or(false)
    }

    /// `interval`, as written (`"10s"`).
    pub fn interval(&self) -> Option<&'a str> {
        self.block.get_str("interval")
    }

    /// `timeout`, as written.
    pub fn timeout(&self) -> Option<&'a str> {
        self.block.get_str("timeout")
    }
}

impl<'a> Task<'a> {
    /// The task name (its label).
    pub fn name(&self) -> &'a str {
        self.block.label().unwrap_or_default()
    }

    /// `driver`.
    pub fn driver(&self) -> Option<&'a str> {
        self.block.get_str("driver")
    }

    /// `config`, keys verbatim.
    pub fn config(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("config").unwrap_or_default()
    }

    /// `env`, keys verbatim.
    pub fn env(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("env").unwrap_or_default()
    }

    /// `resources.cpu` (MHz) and `resources.memory` (MB), when set.
    pub fn resources(&self) -> (Option<i64>, Option<i64>) {
        let r = self.block.block("resources");
        (
            r.and_then(|r| r.get_i64("cpu")),
            r.and_then(|r| r.get_i64("memory")),
        )
    }

    /// `lifecycle { hook, sidecar }`, when set.
    pub fn lifecycle(&self) -> Option<(Option<&'a str>, bool)> {
        self.block
            .block("lifecycle")
            .map(|l| (l.get_str("hook"), l.get_bool("sidecar").unwrap_or(false)))
    }

    /// `kind`, such as `connect-proxy:<service>`.
    pub fn kind(&self) -> Option<&'a str> {
        self.block.get_str("kind")
    }

    /// The `identity` blocks.
    pub fn identities(&self) -> Vec<&'a Block> {
        self.block.blocks("identity").collect()
    }

    /// The `template` blocks.
    pub fn templates(&self) -> Vec<&'a Block> {
        self.block.blocks("template").collect()
    }

    /// Task-level services.
    pub fn services(&self) -> Vec<Service<'a>> {
        self.block.blocks("service").map(Service::new).collect()
    }
}
