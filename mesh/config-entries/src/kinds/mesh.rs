//! `mesh`: settings for the whole mesh, in the one entry named `mesh`.

use crate::common::Header;
use crate::decode::{Fields, one_of};
use crate::error::{Diag, Origin};
use crate::kinds::tls::{TlsParams, tls_params};
use crate::tree::Node;

/// The only name a `mesh` entry has.
pub const MESH_NAME: &str = "mesh";

/// A `mesh` entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MeshConfig {
    /// `name` is always [`MESH_NAME`].
    pub header: Header,
    /// `TransparentProxy { MeshDestinationsOnly }`: no pass-through to destinations
    /// outside the mesh.
    pub mesh_destinations_only: bool,
    pub allow_enabling_permissive_mutual_tls: bool,
    pub validate_clusters: bool,
    pub tls_incoming: Option<TlsParams>,
    pub tls_outgoing: Option<TlsParams>,
    pub http: Option<MeshHttp>,
    pub peer_through_mesh_gateways: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MeshHttp {
    pub sanitize_x_forwarded_client_cert: bool,
    pub insecure_disable_path_normalization: bool,
    pub merge_slashes: bool,
    pub path_with_escaped_slashes_action: Option<String>,
    pub headers_with_underscores_action: Option<String>,
}

const KEYS: &[&str] = crate::entry_keys![
    "TransparentProxy",
    "AllowEnablingPermissiveMutualTLS",
    "ValidateClusters",
    "TLS",
    "HTTP",
    "Peering",
];

impl MeshConfig {
    pub(crate) fn decode(d: &mut Diag, node: &Node, origin: Origin) -> Option<Self> {
        let f = Fields::of(d, node, "mesh", KEYS)?;
        let mut header = Header::decode(d, &f, origin);
        if header.name.is_empty() {
            header.name = MESH_NAME.to_owned();
        } else if header.name != MESH_NAME {
            d.err(
                &f.value_at("Name"),
                format!(
                    "invalid name {:?}: the mesh entry is named {MESH_NAME:?}",
                    header.name
                ),
            );
        }
        let mesh_destinations_only = f
            .node(d, "TransparentProxy")
            .and_then(|n| Fields::of(d, n, "mesh TransparentProxy", &["MeshDestinationsOnly"]))
            .is_some_and(|t| t.flag(d, "MeshDestinationsOnly"));
        let (tls_incoming, tls_outgoing) = f
            .node(d, "TLS")
            .and_then(|n| Fields::of(d, n, "mesh TLS", &["Incoming", "Outgoing"]))
            .map(|t| (direction(d, &t, "Incoming"), direction(d, &t, "Outgoing")))
            .unwrap_or_default();
        let peer_through_mesh_gateways = f
            .node(d, "Peering")
            .and_then(|n| Fields::of(d, n, "mesh Peering", &["PeerThroughMeshGateways"]))
            .is_some_and(|p| p.flag(d, "PeerThroughMeshGateways"));
        Some(Self {
            header,
            mesh_destinations_only,
            allow_enabling_permissive_mutual_tls: f.flag(d, "AllowEnablingPermissiveMutualTLS"),
            validate_clusters: f.flag(d, "ValidateClusters"),
            tls_incoming,
            tls_outgoing,
            http: f.node(d, "HTTP").and_then(|n| http(d, n)),
            peer_through_mesh_gateways,
        })
    }
}

fn direction(d: &mut Diag, f: &Fields<'_>, name: &str) -> Option<TlsParams> {
    let node = f.node(d, name)?;
    let t = Fields::of(
        d,
        node,
        name,
        &["TLSMinVersion", "TLSMaxVersion", "CipherSuites"],
    )?;
    Some(tls_params(d, &t))
}

fn http(d: &mut Diag, node: &Node) -> Option<MeshHttp> {
    let h = Fields::of(
        d,
        node,
        "mesh HTTP",
        &["SanitizeXForwardedClientCert", "Incoming"],
    )?;
    let mut out = MeshHttp {
        sanitize_x_forwarded_client_cert: h.flag(d, "SanitizeXForwardedClientCert"),
        ..MeshHttp::default()
    };
    let Some(incoming) = h.node(d, "Incoming") else {
        return Some(out);
    };
    let i = Fields::of(d, incoming, "mesh HTTP Incoming", &["RequestNormalization"])?;
    let Some(rn) = i.node(d, "RequestNormalization") else {
        return Some(out);
    };
    let r = Fields::of(
        d,
        rn,
        "RequestNormalization",
        &[
            "InsecureDisablePathNormalization",
            "MergeSlashes",
            "PathWithEscapedSlashesAction",
            "HeadersWithUnderscoresAction",
        ],
    )?;
    out.insecure_disable_path_normalization = r.flag(d, "InsecureDisablePathNormalization");
    out.merge_slashes = r.flag(d, "MergeSlashes");
    out.path_with_escaped_slashes_action = one_of(
        d,
        &r,
        "PathWithEscapedSlashesAction",
        &[
            ("", None),
            (
                "IMPLEMENTATION_SPECIFIC_DEFAULT",
                Some("IMPLEMENTATION_SPECIFIC_DEFAULT"),
            ),
            ("KEEP_UNCHANGED", Some("KEEP_UNCHANGED")),
            ("REJECT_REQUEST", Some("REJECT_REQUEST")),
            ("UNESCAPE_AND_REDIRECT", Some("UNESCAPE_AND_REDIRECT")),
            ("UNESCAPE_AND_FORWARD", Some("UNESCAPE_AND_FORWARD")),
        ],
    )
    .flatten()
    .map(str::to_owned);
    out.headers_with_underscores_action = one_of(
        d,
        &r,
        "HeadersWithUnderscoresAction",
        &[
            ("", None),
            ("ALLOW", Some("ALLOW")),
            ("REJECT_REQUEST", Some("REJECT_REQUEST")),
            ("DROP_HEADER", Some("DROP_HEADER")),
        ],
    )
    .flatten()
    .map(str::to_owned);
    if out.insecure_disable_path_normalization && out.merge_slashes {
        d.err(
            r.at(),
            "RequestNormalization: MergeSlashes cannot be set when InsecureDisablePathNormalization is true",
        );
    }
    Some(out)
}
