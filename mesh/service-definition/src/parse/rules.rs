//! Consul's rules for a whole definition (`NodeService.Validate`, `ValidateServiceMetadata`,
//! `ValidateWeights`, and the nested sidecar rules), located at the offending key.

use super::Role;
use crate::decode::Fields;
use crate::error::Diag;
use crate::model::{ServiceDefinition, ServiceKind};

/// At most this many `meta` pairs (Consul's `metaMaxKeyPairs`).
pub const META_MAX_PAIRS: usize = 64;
/// Longest `meta` key (Consul's `metaKeyMaxLength`).
pub const META_KEY_MAX_LEN: usize = 128;
/// Longest `meta` value (Consul's `metaValueMaxLength`).
pub const META_VALUE_MAX_LEN: usize = 512;
/// The `meta` key prefix Consul keeps for itself.
const META_RESERVED_PREFIX: &str = "consul-";

pub(super) fn service(d: &mut Diag, f: &Fields<'_>, s: &ServiceDefinition, role: Role) {
    if role == Role::Service && s.name.trim().is_empty() && !f.repeated("name") {
        d.err(
            f.at(),
            "missing required key \"name\": a service definition needs a name",
        );
    }
    meta(d, f, s);
    match role {
        Role::Sidecar => sidecar(d, f, s),
        Role::Service => {}
    }
    if s.kind == ServiceKind::ConnectProxy {
        connect_proxy(d, f, s);
    }
    if s.kind.is_gateway() {
        gateway(d, f, s);
    }
    if s.connect.as_ref().is_some_and(|c| c.native) && s.port.is_none() && s.socket_path.is_none() {
        d.err(
            &f.key_at("connect"),
            "port or socket_path must be set for a connect native service",
        );
    }
    if role == Role::Service && s.kind == ServiceKind::Typical && s.proxy.is_some() {
        // Consul stores it and never uses it; worth a word, not a refusal
        d.warn(
            &f.key_at("proxy"),
            "proxy is ignored without kind = \"connect-proxy\" (or outside connect.sidecar_service)",
        );
    }
}

fn meta(d: &mut Diag, f: &Fields<'_>, s: &ServiceDefinition) {
    let at = f.key_at("meta");
    if s.meta.len() > META_MAX_PAIRS {
        d.err(
            &at,
            format!(
                "meta: at most {META_MAX_PAIRS} pairs are allowed, found {}",
                s.meta.len()
            ),
        );
    }
    for (k, v) in &s.meta {
        let bad = k.is_empty()
            || k.len() > META_KEY_MAX_LEN
            || !k
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if bad {
            d.err(
                &at,
                format!("meta: key {k:?} must be 1 to {META_KEY_MAX_LEN} characters of A-Z, a-z, 0-9, '_' and '-'"),
            );
        }
        if k.starts_with(META_RESERVED_PREFIX) {
            d.err(
                &at,
                format!("meta: key {k:?} uses the reserved prefix {META_RESERVED_PREFIX:?}"),
            );
        }
        if v.len() > META_VALUE_MAX_LEN {
            d.err(
                &at,
                format!("meta: the value of {k:?} is longer than {META_VALUE_MAX_LEN} characters"),
            );
        }
    }
}

fn sidecar(d: &mut Diag, f: &Fields<'_>, s: &ServiceDefinition) {
    if s.id.as_deref().is_some_and(|id| !id.is_empty()) {
        d.err(
            &f.key_at("id"),
            "sidecar_service cannot set id: the agent names it <service-id>-sidecar-proxy",
        );
    }
    if !matches!(s.kind, ServiceKind::Typical | ServiceKind::ConnectProxy) {
        d.err(
            &f.key_at("kind"),
            "sidecar_service: kind must be \"connect-proxy\" (or unset)",
        );
    }
    if let Some(c) = &s.connect {
        if c.sidecar_service.is_some() {
            d.err(
                &f.key_at("connect"),
                "a sidecar_service cannot have a nested sidecar_service",
            );
        }
        if c.native {
            d.err(
                &f.key_at("connect"),
                "a sidecar_service (a proxy) cannot also be connect native",
            );
        }
    }
}

fn connect_proxy(d: &mut Diag, f: &Fields<'_>, s: &ServiceDefinition) {
    let dest = s
        .proxy
        .as_ref()
        .map_or("", |p| p.destination_service_name.trim());
    if dest.is_empty() {
        d.err(
            &f.key_at("proxy"),
            "kind = \"connect-proxy\" needs proxy.destination_service_name",
        );
    }
    if s.port.is_none() && s.socket_path.is_none() {
        d.err(
            f.at(),
            "kind = \"connect-proxy\" needs a port (or socket_path)",
        );
    }
    if s.connect.as_ref().is_some_and(|c| c.native) {
        d.err(
            &f.key_at("connect"),
            "a connect proxy cannot also be connect native",
        );
    }
    if s.sidecar_service().is_some() {
        d.err(
            &f.key_at("connect"),
            "a connect proxy cannot have a sidecar_service",
        );
    }
}

fn gateway(d: &mut Diag, f: &Fields<'_>, s: &ServiceDefinition) {
    let kind = s.kind.as_str();
    if s.port.is_none()
        && !matches!(
            s.kind,
            ServiceKind::IngressGateway | ServiceKind::ApiGateway
        )
    {
        d.err(f.at(), format!("port must be non-zero for a {kind}"));
    }
    if s.sidecar_service().is_some() {
        d.err(
            &f.key_at("connect"),
            format!("a {kind} cannot have a sidecar service"),
        );
    }
    if let Some(p) = &s.proxy {
        let set = [
            (
                "destination_service_name",
                !p.destination_service_name.is_empty(),
            ),
            (
                "destination_service_id",
                !p.destination_service_id.is_empty(),
            ),
            ("local_service_address", !p.local_service_address.is_empty()),
            ("local_service_port", p.local_service_port.is_some()),
            (
                "local_service_socket_path",
                !p.local_service_socket_path.is_empty(),
            ),
            ("upstreams", !p.upstreams.is_empty()),
        ];
        for (name, _) in set.iter().filter(|(_, on)| *on) {
            d.err(
                &f.key_at("proxy"),
                format!("proxy.{name} is invalid for a {kind}"),
            );
        }
    }
}
