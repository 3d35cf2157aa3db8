//! `service-intentions`: which sources may call a destination service (parsed and
//! checked here; enforced by a later part of the mesh).

use crate::common::Header;
use crate::decode::{Fields, one_of};
use crate::error::{Diag, Origin};
use crate::kinds::matching::{HeaderMatch, PathMatch, Site, headers, http_fields, methods, path};
use crate::tree::Node;

/// A `service-intentions` entry; `header.name` is the destination (`*` for every
/// service without intentions of its own).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceIntentions {
    pub header: Header,
    /// In file order; Consul evaluates them by precedence, not order.
    pub sources: Vec<SourceIntention>,
    /// Enterprise/API-gateway JWT requirement; kept, not enforced yet.
    pub jwt: Option<JwtRequirement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntentionAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourceIntention {
    pub name: String,
    pub namespace: Option<String>,
    pub partition: Option<String>,
    pub peer: Option<String>,
    pub sameness_group: Option<String>,
    /// L4: set exactly when `permissions` is empty.
    pub action: Option<IntentionAction>,
    /// L7: the first matching permission decides.
    pub permissions: Vec<Permission>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permission {
    pub action: IntentionAction,
    pub http: Option<PermissionHttp>,
    pub jwt: Option<JwtRequirement>,
}

/// `HTTP { PathExact|PathPrefix|PathRegex, Header, Methods }`; at least one is set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PermissionHttp {
    pub path: Option<PathMatch>,
    pub headers: Vec<HeaderMatch>,
    pub methods: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwtRequirement {
    pub providers: Vec<JwtProvider>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JwtProvider {
    pub name: String,
    pub verify_claims: Vec<(Vec<String>, String)>,
}

const KEYS: &[&str] = crate::entry_keys!["Sources", "JWT"];

const SOURCE_KEYS: &[&str] = &[
    "Name",
    "Namespace",
    "Partition",
    "Peer",
    "SamenessGroup",
    "Action",
    "Permissions",
    "Precedence",
    "Type",
    "Description",
    "LegacyID",
    "LegacyMeta",
    "LegacyCreateTime",
    "LegacyUpdateTime",
];

const ACTIONS: &[(&str, IntentionAction)] = &[
    ("allow", IntentionAction::Allow),
    ("deny", IntentionAction::Deny),
];

impl ServiceIntentions {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "service-intentions", KEYS)?;
        let header = Header::decode(d, &f, origin);
        header.require_name(d, &f);
        check_wildcard(d, &f.value_at("Name"), "Name", &header.name);
        let wild_destination = header.name == "*" || header.namespace.as_deref() == Some("*");
        let nodes = f.list(d, "Sources");
        if nodes.is_empty() {
            d.err(
                &f.key_at("Sources"),
                "Sources: at least one source is required",
            );
        }
        let mut sources: Vec<SourceIntention> = Vec::new();
        for n in nodes {
            let Some(s) = source(d, n, wild_destination) else {
                continue;
            };
            let key = |s: &SourceIntention| {
                (
                    s.name.clone(),
                    s.namespace.clone(),
                    s.partition.clone(),
                    s.peer.clone(),
                    s.sameness_group.clone(),
                )
            };
            if sources.iter().any(|p| key(p) == key(&s)) {
                d.err(
                    &n.at,
                    format!("Sources: {:?} is listed more than once", s.name),
                );
            }
            sources.push(s);
        }
        Some(Self {
            header,
            sources,
            jwt: f.node(d, "JWT").and_then(|n| jwt(d, n)),
        })
    }
}

/// Only a whole `*` is a wildcard.
fn check_wildcard(d: &mut Diag, at: &rigging_mesh_hcl::Location, what: &str, v: &str) {
    if v != "*" && v.contains('*') {
        d.err(
            at,
            format!("{what}: the wildcard '*' cannot be part of a name, found {v:?}"),
        );
    }
}

fn source(d: &mut Diag, node: &Node, wild_destination: bool) -> Option<SourceIntention> {
    let f = Fields::of(d, node, "intention source", SOURCE_KEYS)?;
    let at = f.at().clone();
    let mut s = |name| f.string(d, name).filter(|v| !v.is_empty());
    let src = SourceIntention {
        name: s("Name").unwrap_or_default(),
        namespace: s("Namespace"),
        partition: s("Partition"),
        peer: s("Peer"),
        sameness_group: s("SamenessGroup"),
        description: s("Description"),
        action: one_of(d, &f, "Action", ACTIONS),
        permissions: f
            .list(d, "Permissions")
            .into_iter()
            .filter_map(|n| permission(d, n))
            .collect(),
    };
    if src.name.is_empty() {
        d.err(&at, "Sources: Name is required");
    }
    check_wildcard(d, &f.value_at("Name"), "Name", &src.name);
    for (key, v) in [
        ("Peer", &src.peer),
        ("SamenessGroup", &src.sameness_group),
        ("Partition", &src.partition),
    ] {
        if v.as_deref().is_some_and(|v| v.contains('*')) {
            d.err(
                &f.value_at(key),
                format!("{key}: cannot use the wildcard '*'"),
            );
        }
    }
    for (bad, message) in [
        (
            src.peer.is_some() && src.partition.is_some(),
            "Peer and Partition cannot both be set",
        ),
        (
            src.sameness_group.is_some() && src.partition.is_some(),
            "SamenessGroup and Partition cannot both be set",
        ),
        (
            src.sameness_group.is_some() && src.peer.is_some(),
            "SamenessGroup and Peer cannot both be set",
        ),
    ] {
        if bad {
            d.err(&at, format!("source {:?}: {message}", src.name));
        }
    }
    match (&src.action, src.permissions.is_empty()) {
        (Some(_), false) => d.err(
            &f.key_at("Action"),
            "Action must be omitted when Permissions are given",
        ),
        (None, true) if !f.has("Action") && !f.has("Permissions") => {
            d.err(
                &at,
                format!(
                    "source {:?}: Action must be \"allow\" or \"deny\" (or give Permissions)",
                    src.name
                ),
            );
        }
        _ => {}
    }
    if wild_destination && !src.permissions.is_empty() {
        d.err(
            &f.key_at("Permissions"),
            "Permissions cannot be given on intentions with a wildcard destination",
        );
    }
    if let Some(t) = f.string(d, "Type")
        && !t.is_empty()
        && t != "consul"
    {
        d.err(
            &f.value_at("Type"),
            format!("Type: must be \"consul\", found {t:?}"),
        );
    }
    for legacy in [
        "LegacyID",
        "LegacyMeta",
        "LegacyCreateTime",
        "LegacyUpdateTime",
    ] {
        if f.has(legacy) {
            d.err(
                &f.key_at(legacy),
                format!(
                    "{legacy} must be omitted; it is set only by Consul's legacy intentions API"
                ),
            );
        }
    }
    // Precedence is computed by Consul on every write; a value read back is ignored.
    let _ = f.node(d, "Precedence");
    Some(src)
}

fn permission(d: &mut Diag, node: &Node) -> Option<Permission> {
    let f = Fields::of(d, node, "intention permission", &["Action", "HTTP", "JWT"])?;
    let action = one_of(d, &f, "Action", ACTIONS);
    if action.is_none() && !f.has("Action") {
        d.err(f.at(), "permission: Action must be \"allow\" or \"deny\"");
    }
    let http = f.node(d, "HTTP").and_then(|n| {
        let h = http_fields(d, n, "permission HTTP", Site::Permission)?;
        let p = PermissionHttp {
            path: path(d, &h),
            headers: headers(d, &h, Site::Permission),
            methods: methods(d, &h),
        };
        if p.path.is_none() && p.headers.is_empty() && p.methods.is_empty() {
            d.err(
                h.at(),
                "permission HTTP: should not be empty; expected a path, a header or methods",
            );
        }
        Some(p)
    });
    if !f.has("HTTP") && !f.has("JWT") {
        d.err(f.at(), "permission: HTTP is required");
    }
    Some(Permission {
        action: action?,
        http,
        jwt: f.node(d, "JWT").and_then(|n| jwt(d, n)),
    })
}

fn jwt(d: &mut Diag, node: &Node) -> Option<JwtRequirement> {
    let f = Fields::of(d, node, "JWT", &["Providers"])?;
    let providers = f
        .list(d, "Providers")
        .into_iter()
        .filter_map(|n| {
            let p = Fields::of(d, n, "JWT provider", &["Name", "VerifyClaims"])?;
            let name = p.text(d, "Name");
            if name.is_empty() {
                d.err(p.at(), "JWT provider: Name is required");
            }
            let verify_claims = p
                .list(d, "VerifyClaims")
                .into_iter()
                .filter_map(|n| {
                    let c = Fields::of(d, n, "JWT claim", &["Path", "Value"])?;
                    Some((c.strings(d, "Path"), c.text(d, "Value")))
                })
                .collect();
            Some(JwtProvider {
                name,
                verify_claims,
            })
        })
        .collect();
    Some(JwtRequirement { providers })
}
