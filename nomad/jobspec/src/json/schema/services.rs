//! Services, checks and everything under `connect`.

use super::Kind::{Any, Bool, Dur, Int, Keyed, Many, Map, One, Str, StrMap};
use super::*;

schema!(
    SERVICE,
    None,
    [
        ("name", "Name", Str),
        ("tags", "Tags", Any),
        ("canary_tags", "CanaryTags", Any),
        ("enable_tag_override", "EnableTagOverride", Bool),
        ("port", "PortLabel", Str),
        ("address_mode", "AddressMode", Str),
        ("address", "Address", Str),
        ("check", "Checks", Many(&CHECK)),
        ("check_restart", "CheckRestart", One(&CHECK_RESTART)),
        ("connect", "Connect", One(&CONNECT)),
        ("meta", "Meta", StrMap),
        ("canary_meta", "CanaryMeta", StrMap),
        ("tagged_addresses", "TaggedAddresses", StrMap),
        ("task", "TaskName", Str),
        ("on_update", "OnUpdate", Str),
        ("identity", "Identity", One(&IDENTITY)),
        ("weights", "Weights", One(&GENERIC)),
        ("provider", "Provider", Str),
        ("cluster", "Cluster", Str),
        ("kind", "Kind", Str),
    ]
);
schema!(
    CHECK,
    None,
    [
        ("name", "Name", Str),
        ("type", "Type", Str),
        ("command", "Command", Str),
        ("args", "Args", Any),
        ("path", "Path", Str),
        ("protocol", "Protocol", Str),
        ("port", "PortLabel", Str),
        ("expose", "Expose", Bool),
        ("address_mode", "AddressMode", Str),
        ("advertise", "Advertise", Str),
        ("interval", "Interval", Dur),
        ("timeout", "Timeout", Dur),
        ("initial_status", "InitialStatus", Str),
        ("notes", "Notes", Str),
        ("tls_server_name", "TLSServerName", Str),
        ("tls_skip_verify", "TLSSkipVerify", Bool),
        ("header", "Header", Map),
        ("method", "Method", Str),
        ("check_restart", "CheckRestart", One(&CHECK_RESTART)),
        ("grpc_service", "GRPCService", Str),
        ("grpc_use_tls", "GRPCUseTLS", Bool),
        ("task", "TaskName", Str),
        ("success_before_passing", "SuccessBeforePassing", Int),
        ("failures_before_critical", "FailuresBeforeCritical", Int),
        ("failures_before_warning", "FailuresBeforeWarning", Int),
        ("body", "Body", Str),
        ("on_update", "OnUpdate", Str),
    ]
);
schema!(
    CHECK_RESTART,
    None,
    [
        ("limit", "Limit", Int),
        ("grace", "Grace", Dur),
        ("ignore_warnings", "IgnoreWarnings", Bool)
    ]
);
schema!(
    CONNECT,
    None,
    [
        ("native", "Native", Bool),
        ("gateway", "Gateway", One(&GATEWAY)),
        ("sidecar_service", "SidecarService", One(&SIDECAR_SERVICE)),
        ("sidecar_task", "SidecarTask", One(&SIDECAR_TASK)),
    ]
);
schema!(
    SIDECAR_SERVICE,
    None,
    [
        ("tags", "Tags", Any),
        ("port", "Port", Str),
        ("proxy", "Proxy", One(&PROXY)),
        ("disable_default_tcp_check", "DisableDefaultTCPCheck", Bool),
        ("meta", "Meta", StrMap),
    ]
);
schema!(
    SIDECAR_TASK,
    None,
    [
        ("name", "Name", Str),
        ("driver", "Driver", Str),
        ("user", "User", Str),
        ("config", "Config", Map),
        ("env", "Env", StrMap),
        ("resources", "Resources", One(&RESOURCES)),
        ("meta", "Meta", StrMap),
        ("kill_timeout", "KillTimeout", Dur),
        ("logs", "LogConfig", One(&LOGS)),
        ("shutdown_delay", "ShutdownDelay", Dur),
        ("kill_signal", "KillSignal", Str),
        ("volume_mount", "VolumeMounts", Many(&VOLUME_MOUNT)),
        ("identity", "Identities", Many(&IDENTITY)),
    ]
);
schema!(
    PROXY,
    None,
    [
        ("local_service_address", "LocalServiceAddress", Str),
        ("local_service_port", "LocalServicePort", Int),
        ("expose", "Expose", One(&EXPOSE)),
        ("upstreams", "Upstreams", Many(&UPSTREAM)),
        (
            "transparent_proxy",
            "TransparentProxy",
            One(&TRANSPARENT_PROXY)
        ),
        ("config", "Config", Map),
    ]
);
schema!(
    UPSTREAM,
    None,
    [
        ("destination_name", "DestinationName", Str),
        ("destination_namespace", "DestinationNamespace", Str),
        ("destination_peer", "DestinationPeer", Str),
        ("destination_partition", "DestinationPartition", Str),
        ("destination_type", "DestinationType", Str),
        ("local_bind_port", "LocalBindPort", Int),
        ("datacenter", "Datacenter", Str),
        ("local_bind_address", "LocalBindAddress", Str),
        ("local_bind_socket_path", "LocalBindSocketPath", Str),
        ("local_bind_socket_mode", "LocalBindSocketMode", Str),
        ("mesh_gateway", "MeshGateway", One(&MESH_GATEWAY)),
        ("config", "Config", Map),
    ]
);
schema!(MESH_GATEWAY, None, [("mode", "Mode", Str)]);
schema!(
    TRANSPARENT_PROXY,
    None,
    [
        ("uid", "UID", Str),
        ("outbound_port", "OutboundPort", Int),
        ("exclude_inbound_ports", "ExcludeInboundPorts", Any),
        ("exclude_outbound_ports", "ExcludeOutboundPorts", Any),
        ("exclude_outbound_cidrs", "ExcludeOutboundCIDRs", Any),
        ("exclude_uids", "ExcludeUIDs", Any),
        ("no_dns", "NoDNS", Bool),
    ]
);
schema!(EXPOSE, None, [("path", "Paths", Many(&EXPOSE_PATH))]);
schema!(
    EXPOSE_PATH,
    None,
    [
        ("path", "Path", Str),
        ("protocol", "Protocol", Str),
        ("local_path_port", "LocalPathPort", Int),
        ("listener_port", "ListenerPort", Str),
    ]
);
schema!(
    GATEWAY,
    None,
    [
        ("proxy", "Proxy", One(&GATEWAY_PROXY)),
        ("ingress", "Ingress", One(&INGRESS)),
        ("terminating", "Terminating", One(&TERMINATING)),
        ("mesh", "Mesh", One(&GENERIC)),
    ]
);
schema!(
    GATEWAY_PROXY,
    None,
    [
        ("connect_timeout", "ConnectTimeout", Dur),
        (
            "envoy_gateway_bind_tagged_addresses",
            "EnvoyGatewayBindTaggedAddresses",
            Bool
        ),
        (
            "envoy_gateway_bind_addresses",
            "EnvoyGatewayBindAddresses",
            Keyed(&BIND_ADDRESS)
        ),
        (
            "envoy_gateway_no_default_bind",
            "EnvoyGatewayNoDefaultBind",
            Bool
        ),
        ("envoy_dns_discovery_type", "EnvoyDNSDiscoveryType", Str),
        ("config", "Config", Map),
    ]
);
schema!(
    BIND_ADDRESS,
    Some("Name"),
    [("address", "Address", Str), ("port", "Port", Int)]
);
schema!(
    INGRESS,
    None,
    [
        ("tls", "TLS", One(&GATEWAY_TLS)),
        ("listener", "Listeners", Many(&LISTENER))
    ]
);
schema!(
    LISTENER,
    None,
    [
        ("port", "Port", Int),
        ("protocol", "Protocol", Str),
        ("service", "Services", Many(&INGRESS_SERVICE))
    ]
);
schema!(
    INGRESS_SERVICE,
    None,
    [
        ("name", "Name", Str),
        ("hosts", "Hosts", Any),
        ("tls", "TLS", One(&GATEWAY_TLS)),
        ("request_headers", "RequestHeaders", One(&HEADERS)),
        ("response_headers", "ResponseHeaders", One(&HEADERS)),
        ("max_connections", "MaxConnections", Int),
        ("max_pending_requests", "MaxPendingRequests", Int),
        ("max_concurrent_requests", "MaxConcurrentRequests", Int),
    ]
);
schema!(
    GATEWAY_TLS,
    None,
    [
        ("enabled", "Enabled", Bool),
        ("tls_min_version", "TLSMinVersion", Str),
        ("tls_max_version", "TLSMaxVersion", Str),
        ("cipher_suites", "CipherSuites", Any),
        ("sds", "SDS", One(&SDS)),
    ]
);
schema!(
    SDS,
    None,
    [
        ("cluster_name", "ClusterName", Str),
        ("cert_resource", "CertResource", Str)
    ]
);
schema!(
    HEADERS,
    None,
    [
        ("add", "Add", StrMap),
        ("set", "Set", StrMap),
        ("remove", "Remove", Any)
    ]
);
schema!(
    TERMINATING,
    None,
    [("service", "Services", Many(&LINKED_SERVICE))]
);
schema!(
    LINKED_SERVICE,
    None,
    [
        ("name", "Name", Str),
        ("ca_file", "CAFile", Str),
        ("cert_file", "CertFile", Str),
        ("key_file", "KeyFile", Str),
        ("sni", "SNI", Str),
    ]
);
