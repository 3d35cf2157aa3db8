//! Jobs, groups, tasks and their policies, networks and resources.

use super::Kind::{Any, Bool, Dur, Identities, Int, Keyed, Many, Map, One, Ports, Str, StrMap};
use super::*;

schema!(GENERIC, None, []);
schema!(
    JOB,
    Some("ID"),
    [
        ("region", "Region", Str),
        ("namespace", "Namespace", Str),
        ("name", "Name", Str),
        ("type", "Type", Str),
        ("priority", "Priority", Int),
        ("all_at_once", "AllAtOnce", Bool),
        ("datacenters", "Datacenters", Any),
        ("node_pool", "NodePool", Str),
        ("constraint", "Constraints", Many(&CONSTRAINT)),
        ("affinity", "Affinities", Many(&AFFINITY)),
        ("group", "TaskGroups", Many(&GROUP)),
        ("update", "Update", One(&UPDATE)),
        ("multiregion", "Multiregion", One(&GENERIC)),
        ("spread", "Spreads", Many(&SPREAD)),
        ("periodic", "Periodic", One(&PERIODIC)),
        ("parameterized", "ParameterizedJob", One(&PARAMETERIZED)),
        ("reschedule", "Reschedule", One(&RESCHEDULE)),
        ("migrate", "Migrate", One(&MIGRATE)),
        ("meta", "Meta", StrMap),
        ("ui", "UI", One(&UI)),
        ("vault", "Vault", One(&VAULT)),
    ]
);
schema!(
    GROUP,
    Some("Name"),
    [
        ("count", "Count", Int),
        ("constraint", "Constraints", Many(&CONSTRAINT)),
        ("affinity", "Affinities", Many(&AFFINITY)),
        ("task", "Tasks", Many(&TASK)),
        ("spread", "Spreads", Many(&SPREAD)),
        ("volume", "Volumes", Keyed(&VOLUME)),
        ("restart", "RestartPolicy", One(&RESTART)),
        ("disconnect", "Disconnect", One(&DISCONNECT)),
        ("reschedule", "ReschedulePolicy", One(&RESCHEDULE)),
        ("ephemeral_disk", "EphemeralDisk", One(&EPHEMERAL_DISK)),
        ("update", "Update", One(&UPDATE)),
        ("migrate", "Migrate", One(&MIGRATE)),
        ("network", "Networks", Many(&NETWORK)),
        ("meta", "Meta", StrMap),
        ("service", "Services", Many(&SERVICE)),
        ("shutdown_delay", "ShutdownDelay", Dur),
        ("max_run_duration", "MaxRunDuration", Dur),
        (
            "stop_after_client_disconnect",
            "StopAfterClientDisconnect",
            Dur
        ),
        ("max_client_disconnect", "MaxClientDisconnect", Dur),
        ("scaling", "Scaling", One(&GENERIC)),
        ("consul", "Consul", One(&CONSUL)),
        (
            "prevent_reschedule_on_lost",
            "PreventRescheduleOnLost",
            Bool
        ),
    ]
);
schema!(
    TASK,
    Some("Name"),
    [
        ("driver", "Driver", Str),
        ("user", "User", Str),
        ("lifecycle", "Lifecycle", One(&LIFECYCLE)),
        ("config", "Config", Map),
        ("constraint", "Constraints", Many(&CONSTRAINT)),
        ("affinity", "Affinities", Many(&AFFINITY)),
        ("env", "Env", StrMap),
        ("service", "Services", Many(&SERVICE)),
        ("resources", "Resources", One(&RESOURCES)),
        ("restart", "RestartPolicy", One(&RESTART)),
        ("meta", "Meta", StrMap),
        ("kill_timeout", "KillTimeout", Dur),
        ("logs", "LogConfig", One(&LOGS)),
        ("artifact", "Artifacts", Many(&ARTIFACT)),
        ("vault", "Vault", One(&VAULT)),
        ("consul", "Consul", One(&CONSUL)),
        ("template", "Templates", Many(&TEMPLATE)),
        ("dispatch_payload", "DispatchPayload", One(&GENERIC)),
        ("volume_mount", "VolumeMounts", Many(&VOLUME_MOUNT)),
        ("csi_plugin", "CSIPluginConfig", One(&GENERIC)),
        ("leader", "Leader", Bool),
        ("shutdown_delay", "ShutdownDelay", Dur),
        ("kill_signal", "KillSignal", Str),
        ("kind", "Kind", Str),
        ("scaling", "ScalingPolicies", Many(&GENERIC)),
        ("secret", "Secrets", Many(&GENERIC)),
        ("identity", "Identities", Identities),
        ("action", "Actions", Many(&GENERIC)),
        ("schedule", "Schedule", One(&GENERIC)),
    ]
);
schema!(
    RESOURCES,
    None,
    [
        ("cpu", "CPU", Int),
        ("cores", "Cores", Int),
        ("memory", "MemoryMB", Int),
        ("memory_max", "MemoryMaxMB", Int),
        ("disk", "DiskMB", Int),
        ("network", "Networks", Many(&NETWORK)),
        ("device", "Devices", Many(&DEVICE)),
        ("numa", "NUMA", One(&GENERIC)),
        ("secrets", "SecretsMB", Int),
        ("iops", "IOPS", Int),
    ]
);
schema!(
    DEVICE,
    Some("Name"),
    [
        ("count", "Count", Int),
        ("constraint", "Constraints", Many(&CONSTRAINT)),
        ("affinity", "Affinities", Many(&AFFINITY)),
    ]
);
schema!(
    NETWORK,
    None,
    [
        ("mode", "Mode", Str),
        ("device", "Device", Str),
        ("cidr", "CIDR", Str),
        ("ip", "IP", Str),
        ("dns", "DNS", One(&DNS)),
        ("port", "DynamicPorts", Ports),
        ("hostname", "Hostname", Str),
        ("mbits", "MBits", Int),
        ("cni", "CNI", One(&GENERIC)),
    ]
);
schema!(
    DNS,
    None,
    [
        ("servers", "Servers", Any),
        ("searches", "Searches", Any),
        ("options", "Options", Any)
    ]
);
schema!(
    PORT,
    Some("Label"),
    [
        ("static", "Value", Int),
        ("to", "To", Int),
        ("host_network", "HostNetwork", Str),
        ("ignore_collision", "IgnoreCollision", Bool),
    ]
);
schema!(
    CONSTRAINT,
    None,
    [
        ("attribute", "LTarget", Str),
        ("value", "RTarget", Str),
        ("operator", "Operand", Str)
    ]
);
schema!(
    AFFINITY,
    None,
    [
        ("attribute", "LTarget", Str),
        ("value", "RTarget", Str),
        ("operator", "Operand", Str),
        ("weight", "Weight", Int),
    ]
);
schema!(
    SPREAD,
    None,
    [
        ("attribute", "Attribute", Str),
        ("weight", "Weight", Int),
        ("target", "SpreadTarget", Many(&SPREAD_TARGET))
    ]
);
schema!(SPREAD_TARGET, Some("Value"), [("percent", "Percent", Int)]);
schema!(
    RESTART,
    None,
    [
        ("interval", "Interval", Dur),
        ("attempts", "Attempts", Int),
        ("delay", "Delay", Dur),
        ("mode", "Mode", Str),
        ("render_templates", "RenderTemplates", Bool),
    ]
);
schema!(
    RESCHEDULE,
    None,
    [
        ("attempts", "Attempts", Int),
        ("interval", "Interval", Dur),
        ("delay", "Delay", Dur),
        ("delay_function", "DelayFunction", Str),
        ("max_delay", "MaxDelay", Dur),
        ("unlimited", "Unlimited", Bool),
    ]
);
schema!(
    UPDATE,
    None,
    [
        ("stagger", "Stagger", Dur),
        ("max_parallel", "MaxParallel", Int),
        ("health_check", "HealthCheck", Str),
        ("min_healthy_time", "MinHealthyTime", Dur),
        ("healthy_deadline", "HealthyDeadline", Dur),
        ("progress_deadline", "ProgressDeadline", Dur),
        ("canary", "Canary", Int),
        ("auto_revert", "AutoRevert", Bool),
        ("auto_promote", "AutoPromote", Bool),
    ]
);
schema!(
    MIGRATE,
    None,
    [
        ("max_parallel", "MaxParallel", Int),
        ("health_check", "HealthCheck", Str),
        ("min_healthy_time", "MinHealthyTime", Dur),
        ("healthy_deadline", "HealthyDeadline", Dur),
    ]
);
schema!(
    EPHEMERAL_DISK,
    None,
    [
        ("sticky", "Sticky", Bool),
        ("migrate", "Migrate", Bool),
        ("size", "SizeMB", Int)
    ]
);
schema!(
    DISCONNECT,
    None,
    [
        ("lost_after", "LostAfter", Dur),
        ("stop_on_client_after", "StopOnClientAfter", Dur),
        ("replace", "Replace", Bool),
        ("reconcile", "Reconcile", Str),
    ]
);
schema!(
    LIFECYCLE,
    None,
    [("hook", "Hook", Str), ("sidecar", "Sidecar", Bool)]
);
schema!(
    LOGS,
    None,
    [
        ("max_files", "MaxFiles", Int),
        ("max_file_size", "MaxFileSizeMB", Int),
        ("enabled", "Enabled", Bool),
        ("disabled", "Disabled", Bool),
    ]
);
