//! From the definition model to the API bodies: every field as written, no defaults added.

use std::time::Duration;

use super::{
    AddressRegistration, CheckRegistration, ConnectRegistration, ExposePathRegistration,
    ExposeRegistration, LocalityRegistration, MeshGatewayRegistration, ProxyRegistration,
    ServiceRegistration, TransparentProxyRegistration, UpstreamRegistration, WeightsRegistration,
    go_duration,
};
use crate::model::{
    CheckDefinition, ExposePath, MeshGatewayMode, ProxyConfig, ServiceDefinition, Upstream,
};

fn opt_duration(d: Option<Duration>) -> String {
    d.map(go_duration).unwrap_or_default()
}

impl ServiceRegistration {
    /// The definition as Consul's API takes it, every field as written (no defaults added).
    pub fn from_definition(s: &ServiceDefinition) -> Self {
        Self {
            id: s.id.clone().filter(|id| !id.is_empty()),
            name: s.name.clone(),
            kind: s.kind.as_str().to_owned(),
            tags: s.tags.clone(),
            address: s.address.clone(),
            tagged_addresses: s
                .tagged_addresses
                .iter()
                .map(|(k, a)| {
                    let a = AddressRegistration {
                        address: a.address.clone(),
                        port: a.port.unwrap_or(0),
                    };
                    (k.clone(), a)
                })
                .collect(),
            meta: s.meta.clone(),
            port: s.port,
            socket_path: s.socket_path.clone(),
            enable_tag_override: s.enable_tag_override,
            weights: s.weights.map(|w| WeightsRegistration {
                passing: w.passing,
                warning: w.warning,
            }),
            checks: s.checks.iter().map(CheckRegistration::from).collect(),
            proxy: s.proxy.as_ref().map(ProxyRegistration::from),
            connect: s.connect.as_ref().map(|c| ConnectRegistration {
                native: c.native,
                sidecar_service: c
                    .sidecar_service
                    .as_deref()
                    .map(|sc| Box::new(Self::from_definition(sc))),
            }),
            namespace: s.namespace.clone(),
            partition: s.partition.clone(),
            locality: s.locality.as_ref().map(|l| LocalityRegistration {
                region: l.region.clone(),
                zone: l.zone.clone(),
            }),
        }
    }
}

fn mesh_gateway(mode: MeshGatewayMode) -> Option<MeshGatewayRegistration> {
    let mode = mode.as_str();
    (!mode.is_empty()).then(|| MeshGatewayRegistration {
        mode: mode.to_owned(),
    })
}

impl From<&ProxyConfig> for ProxyRegistration {
    fn from(p: &ProxyConfig) -> Self {
        let expose = (p.expose.checks || !p.expose.paths.is_empty()).then(|| ExposeRegistration {
            checks: p.expose.checks,
            paths: p
                .expose
                .paths
                .iter()
                .map(ExposePathRegistration::from)
                .collect(),
        });
        Self {
            destination_service_name: p.destination_service_name.clone(),
            destination_service_id: p.destination_service_id.clone(),
            local_service_address: p.local_service_address.clone(),
            local_service_port: p.local_service_port,
            local_service_socket_path: p.local_service_socket_path.clone(),
            mode: p.mode.as_str().to_owned(),
            transparent_proxy: p.transparent_proxy.map(|t| TransparentProxyRegistration {
                outbound_listener_port: t.outbound_listener_port,
                dialed_directly: t.dialed_directly,
            }),
            config: p.config.clone(),
            upstreams: p.upstreams.iter().map(UpstreamRegistration::from).collect(),
            mesh_gateway: mesh_gateway(p.mesh_gateway),
            expose,
        }
    }
}

impl From<&ExposePath> for ExposePathRegistration {
    fn from(p: &ExposePath) -> Self {
        Self {
            path: p.path.clone(),
            local_path_port: p.local_path_port,
            listener_port: p.listener_port,
            protocol: p.protocol.clone(),
        }
    }
}

impl From<&Upstream> for UpstreamRegistration {
    fn from(u: &Upstream) -> Self {
        Self {
            destination_type: u.destination_type.as_str().to_owned(),
            destination_name: u.destination_name.clone(),
            destination_namespace: u.destination_namespace.clone(),
            destination_partition: u.destination_partition.clone(),
            destination_peer: u.destination_peer.clone(),
            datacenter: u.datacenter.clone(),
            local_bind_address: u.local_bind_address.clone(),
            local_bind_port: u.local_bind_port,
            local_bind_socket_path: u.local_bind_socket_path.clone(),
            local_bind_socket_mode: u.local_bind_socket_mode.clone(),
            config: u.config.clone(),
            mesh_gateway: mesh_gateway(u.mesh_gateway),
        }
    }
}

impl From<&CheckDefinition> for CheckRegistration {
    fn from(c: &CheckDefinition) -> Self {
        Self {
            check_id: c.id.clone(),
            name: c.name.clone(),
            notes: c.notes.clone(),
            status: c.status.clone(),
            args: c.args.clone(),
            http: c.http.clone(),
            header: c.header.clone(),
            method: c.method.clone(),
            body: c.body.clone(),
            disable_redirects: c.disable_redirects,
            tls_server_name: c.tls_server_name.clone(),
            tls_skip_verify: c.tls_skip_verify,
            tcp: c.tcp.clone(),
            tcp_use_tls: c.tcp_use_tls,
            udp: c.udp.clone(),
            grpc: c.grpc.clone(),
            grpc_use_tls: c.grpc_use_tls,
            h2ping: c.h2ping.clone(),
            h2ping_use_tls: c.h2ping_use_tls,
            os_service: c.os_service.clone(),
            alias_node: c.alias_node.clone(),
            alias_service: c.alias_service.clone(),
            docker_container_id: c.docker_container_id.clone(),
            shell: c.shell.clone(),
            interval: opt_duration(c.interval),
            timeout: opt_duration(c.timeout),
            ttl: opt_duration(c.ttl),
            deregister_critical_service_after: opt_duration(c.deregister_critical_service_after),
            output_max_size: c.output_max_size,
            success_before_passing: c.success_before_passing,
            failures_before_warning: c.failures_before_warning,
            failures_before_critical: c.failures_before_critical,
        }
    }
}
