//! Views of `connect` and what it holds: sidecar service and proxy, sidecar task, gateways.

use super::view;
use crate::Value;
use crate::tree::Block;

view!(
    /// A service's `connect` block.
    Connect
);
view!(
    /// `connect.sidecar_service`.
    SidecarService
);
view!(
    /// `sidecar_service.proxy` (or `gateway.proxy`).
    Proxy
);
view!(
    /// One `proxy.upstreams` block.
    Upstream
);
view!(
    /// One `proxy.expose.path` block.
    ExposePath
);
view!(
    /// `connect.sidecar_task`.
    SidecarTask
);
view!(
    /// `connect.gateway`.
    Gateway
);

/// Which kind of gateway a `gateway` block defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayKind {
    /// `ingress {}`.
    Ingress,
    /// `terminating {}`.
    Terminating,
    /// `mesh {}`.
    Mesh,
}

impl<'a> Connect<'a> {
    /// `native = true`: the app speaks mTLS itself.
    pub fn native(&self) -> bool {
        self.block.get_bool("native").unwrap_or(false)
    }

    /// `sidecar_service`.
    pub fn sidecar_service(&self) -> Option<SidecarService<'a>> {
        self.block.block("sidecar_service").map(SidecarService::new)
    }

    /// `sidecar_task`.
    pub fn sidecar_task(&self) -> Option<SidecarTask<'a>> {
        self.block.block("sidecar_task").map(SidecarTask::new)
    }

    /// `gateway`.
    pub fn gateway(&self) -> Option<Gateway<'a>> {
        self.block.block("gateway").map(Gateway::new)
    }
}

impl<'a> SidecarService<'a> {
    /// `port`: the label of the sidecar's public listener port.
    pub fn port(&self) -> Option<String> {
        self.block.get_string("port")
    }

    /// `tags`.
    pub fn tags(&self) -> Vec<String> {
        self.block.get_strings("tags")
    }

    /// `meta`.
    pub fn meta(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("meta").unwrap_or_default()
    }

    /// `disable_default_tcp_check`.
    pub fn disable_default_tcp_check(&self) -> bool {
        self.block
            .get_bool("disable_default_tcp_check")
            .unwrap_or(false)
    }

    /// `proxy`.
    pub fn proxy(&self) -> Option<Proxy<'a>> {
        self.block.block("proxy").map(Proxy::new)
    }
}

impl<'a> Proxy<'a> {
    /// `local_service_address` (Consul's default is 127.0.0.1).
    pub fn local_service_address(&self) -> Option<&'a str> {
        self.block.get_str("local_service_address")
    }

    /// `local_service_port` (Consul's default is the service port).
    pub fn local_service_port(&self) -> Option<i64> {
        self.block.get_i64("local_service_port")
    }

    /// The `upstreams` blocks.
    pub fn upstreams(&self) -> Vec<Upstream<'a>> {
        self.block.blocks("upstreams").map(Upstream::new).collect()
    }

    /// The `expose { path {} }` blocks.
    pub fn expose_paths(&self) -> Vec<ExposePath<'a>> {
        self.block
            .blocks("expose")
            .flat_map(|e| e.blocks("path"))
            .map(ExposePath::new)
            .collect()
    }

    /// `transparent_proxy`, when set.
    pub fn transparent_proxy(&self) -> Option<&'a Block> {
        self.block.block("transparent_proxy")
    }

    /// `config`: opaque, passed to Consul/Envoy.
    pub fn config(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("config").unwrap_or_default()
    }
}

impl<'a> Upstream<'a> {
    /// `destination_name`.
    pub fn destination_name(&self) -> Option<&'a str> {
        self.block.get_str("destination_name")
    }

    /// `destination_namespace`.
    pub fn destination_namespace(&self) -> Option<&'a str> {
        self.block.get_str("destination_namespace")
    }

    /// `local_bind_port`.
    pub fn local_bind_port(&self) -> Option<i64> {
        self.block.get_i64("local_bind_port")
    }

    /// `local_bind_address`.
    pub fn local_bind_address(&self) -> Option<&'a str> {
        self.block.get_str("local_bind_address")
    }

    /// `datacenter`.
    pub fn datacenter(&self) -> Option<&'a str> {
        self.block.get_str("datacenter")
    }

    /// `mesh_gateway.mode`: `local`, `remote` or `none`.
    pub fn mesh_gateway_mode(&self) -> Option<&'a str> {
        self.block
            .block("mesh_gateway")
            .and_then(|m| m.get_str("mode"))
    }

    /// `config`.
    pub fn config(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("config").unwrap_or_default()
    }
}

impl<'a> ExposePath<'a> {
    /// `path`.
    pub fn path(&self) -> Option<&'a str> {
        self.block.get_str("path")
    }

    /// `protocol`: `http` or `http2`.
    pub fn protocol(&self) -> Option<&'a str> {
        self.block.get_str("protocol")
    }

    /// `local_path_port`.
    pub fn local_path_port(&self) -> Option<i64> {
        self.block.get_i64("local_path_port")
    }

    /// `listener_port`: a port label.
    pub fn listener_port(&self) -> Option<&'a str> {
        self.block.get_str("listener_port")
    }
}

impl<'a> SidecarTask<'a> {
    /// `name` (Nomad's default is `connect-proxy-<service>`).
    pub fn name(&self) -> Option<&'a str> {
        self.block.get_str("name")
    }

    /// `driver` (Nomad's default is `docker`).
    pub fn driver(&self) -> Option<&'a str> {
        self.block.get_str("driver")
    }

    /// `user`.
    pub fn user(&self) -> Option<&'a str> {
        self.block.get_str("user")
    }

    /// `config`.
    pub fn config(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("config").unwrap_or_default()
    }

    /// `env`.
    pub fn env(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("env").unwrap_or_default()
    }

    /// `meta`.
    pub fn meta(&self) -> Vec<(&'a str, &'a Value)> {
        self.block.get_map("meta").unwrap_or_default()
    }

    /// `resources`, `logs` and other nested blocks by type.
    pub fn nested(&self, ident: &str) -> Option<&'a Block> {
        self.block.block(ident)
    }

    /// `kill_timeout`, `shutdown_delay` or `kill_signal`, as written.
    pub fn setting(&self, key: &str) -> Option<&'a str> {
        self.block.get_str(key)
    }
}

impl<'a> Gateway<'a> {
    /// `proxy`.
    pub fn proxy(&self) -> Option<&'a Block> {
        self.block.block("proxy")
    }

    /// Which kind of gateway (the first of `ingress`, `terminating`, `mesh` present).
    pub fn kind(&self) -> Option<GatewayKind> {
        [
            ("ingress", GatewayKind::Ingress),
            ("terminating", GatewayKind::Terminating),
            ("mesh", GatewayKind::Mesh),
        ]
        .into_iter()
        .find(|(i, _)| self.block.block(i).is_some())
        .map(|(_, k)| k)
    }

    /// The block of that kind (`ingress {…}` and so on).
    pub fn config_entry(&self) -> Option<&'a Block> {
        ["ingress", "terminating", "mesh"]
            .into_iter()
            .find_map(|i| self.block.block(i))
    }
}
