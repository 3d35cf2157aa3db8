//! The error of a rejected xDS resource: which resource, which field, and what is wrong with it.

use std::fmt;

use rigging_mesh_xds::AnyError;

/// The kind of xDS resource a [`ConfigError`] is about, named as in the error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    Listener,
    RouteConfig,
    Cluster,
    ClusterLoadAssignment,
}

/// Why an xDS resource was rejected. The update that carried it is NACKed with this message.
///
/// Messages read `<kind> "<name>": <field path>: <problem>`, e.g.
/// `listener "outbound:api:9191": filter_chains[0].filters[0].typed_config: unsupported type URL "…"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A required field is absent or empty.
    #[error("{kind} {name:?}: {field}: missing")]
    Missing {
        kind: ResourceKind,
        name: String,
        field: String,
    },
    /// A field holds a value that is never valid (a negative duration, a port out of range).
    #[error("{kind} {name:?}: {field}: {reason}")]
    Invalid {
        kind: ResourceKind,
        name: String,
        field: String,
        reason: String,
    },
    /// A field or value the proxy does not implement and would change behaviour if ignored.
    #[error("{kind} {name:?}: {field}: unsupported {what}")]
    Unsupported {
        kind: ResourceKind,
        name: String,
        field: String,
        what: String,
    },
    /// An `Any` of the response that is not the expected resource type or does not decode.
    #[error("{kind} resources[{index}]: {source}")]
    Decode {
        kind: ResourceKind,
        index: usize,
        #[source]
        source: AnyError,
    },
    /// Two resources of one response share a name.
    #[error("{kind} {name:?}: name: duplicate")]
    Duplicate { kind: ResourceKind, name: String },
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Listener => "listener",
            Self::RouteConfig => "route configuration",
            Self::Cluster => "cluster",
            Self::ClusterLoadAssignment => "cluster load assignment",
        })
    }
}
