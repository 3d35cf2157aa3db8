//! Helpers every conversion shares: error construction, "must be unset" checks, durations,
//! socket addresses and config sources.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, ConfigSource, address, config_source, socket_address,
};
use envoy_types::pb::google::protobuf::{self, Any};
use rigging_mesh_xds::unpack;

use crate::error::{ConfigError, ResourceKind};

/// Rejects each listed local binding (a destructured field) that differs from its default, naming
/// it in the error: the way this crate refuses fields it does not implement.
macro_rules! reject_set {
    ($ctx:expr, $prefix:expr, $($field:ident),+ $(,)?) => {
        $( $ctx.reject_set(&$prefix, stringify!($field), &$field)?; )+
    };
}
pub(crate) use reject_set;

/// The resource a conversion is working on, to name it in errors.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub kind: ResourceKind,
    pub name: &'a str,
}

impl Ctx<'_> {
    pub fn missing(&self, field: impl Into<String>) -> ConfigError {
        ConfigError::Missing {
            kind: self.kind,
            name: self.name.to_owned(),
            field: field.into(),
        }
    }

    pub fn invalid(&self, field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            kind: self.kind,
            name: self.name.to_owned(),
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub fn unsupported(&self, field: impl Into<String>, what: impl Into<String>) -> ConfigError {
        ConfigError::Unsupported {
            kind: self.kind,
            name: self.name.to_owned(),
            field: field.into(),
            what: what.into(),
        }
    }

    pub fn unsupported_type(&self, field: impl Into<String>, type_url: &str) -> ConfigError {
        self.unsupported(field, format!("type URL {type_url:?}"))
    }

    /// Fails when `value` is not its type's default, i.e. when the field was set.
    pub fn reject_set<T: Default + PartialEq>(
        &self,
        prefix: &str,
        field: &str,
        value: &T,
    ) -> Result<(), ConfigError> {
        if *value == T::default() {
            Ok(())
        } else {
            Err(self.unsupported(join(prefix, field), "field"))
        }
    }
}

/// `prefix.field`, or `field` at the top of a resource.
pub(crate) fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

/// A `google.protobuf.Duration` that must be non-negative and well formed.
pub(crate) fn duration(
    ctx: Ctx<'_>,
    field: &str,
    d: &protobuf::Duration,
) -> Result<Duration, ConfigError> {
    let seconds = u64::try_from(d.seconds)
        .map_err(|_| ctx.invalid(field, format!("negative duration {}s", d.seconds)))?;
    let nanos = u32::try_from(d.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)
        .ok_or_else(|| ctx.invalid(field, format!("nanos {} out of range", d.nanos)))?;
    Ok(Duration::new(seconds, nanos))
}

/// A TCP socket address with a literal IP (no DNS) and a port in 1..=65535.
pub(crate) fn socket_addr(
    ctx: Ctx<'_>,
    field: &str,
    addr: Option<envoy_types::pb::envoy::config::core::v3::Address>,
) -> Result<SocketAddr, ConfigError> {
    let addr = addr.ok_or_else(|| ctx.missing(field))?;
    let sa = match addr.address {
        Some(address::Address::SocketAddress(sa)) => sa,
        Some(address::Address::Pipe(_)) => {
            return Err(ctx.unsupported(join(field, "pipe"), "address"));
        }
        Some(address::Address::EnvoyInternalAddress(_)) => {
            return Err(ctx.unsupported(join(field, "envoy_internal_address"), "address"));
        }
        None => return Err(ctx.missing(join(field, "socket_address"))),
    };
    let field = join(field, "socket_address");
    let envoy_types::pb::envoy::config::core::v3::SocketAddress {
        protocol,
        address,
        resolver_name,
        ipv4_compat,
        network_namespace_filepath,
        port_specifier,
    } = sa;
    if protocol != socket_address::Protocol::Tcp as i32 {
        return Err(ctx.unsupported(
            join(&field, "protocol"),
            format!("protocol {protocol} (only TCP)"),
        ));
    }
    reject_set!(
        ctx,
        field,
        resolver_name,
        ipv4_compat,
        network_namespace_filepath
    );
    if address.is_empty() {
        return Err(ctx.missing(join(&field, "address")));
    }
    let ip: IpAddr = address.parse().map_err(|_| {
        ctx.invalid(
            join(&field, "address"),
            format!("{address:?} is not an IP address"),
        )
    })?;
    let port = match port_specifier {
        Some(socket_address::PortSpecifier::PortValue(p)) => p,
        Some(socket_address::PortSpecifier::NamedPort(_)) => {
            return Err(ctx.unsupported(join(&field, "named_port"), "field"));
        }
        None => return Err(ctx.missing(join(&field, "port_value"))),
    };
    let port = u16::try_from(port)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| {
            ctx.invalid(
                join(&field, "port_value"),
                format!("port {port} not in 1..=65535"),
            )
        })?;
    Ok(SocketAddr::new(ip, port))
}

/// A config source that must be the aggregated stream this resource came on (`ads {}`).
pub(crate) fn require_ads(
    ctx: Ctx<'_>,
    field: &str,
    source: Option<ConfigSource>,
) -> Result<(), ConfigError> {
    let source = source.ok_or_else(|| ctx.missing(field))?;
    // initial_fetch_timeout only delays readiness, and resource_api_version is informational
    // when it is V3 or AUTO.
    let ConfigSource {
        authorities,
        initial_fetch_timeout: _,
        resource_api_version,
        config_source_specifier,
    } = source;
    reject_set!(ctx, field, authorities);
    if !matches!(
        ApiVersion::try_from(resource_api_version),
        Ok(ApiVersion::Auto | ApiVersion::V3)
    ) {
        return Err(ctx.unsupported(
            join(field, "resource_api_version"),
            format!("version {resource_api_version} (only V3)"),
        ));
    }
    match config_source_specifier {
        Some(config_source::ConfigSourceSpecifier::Ads(_)) => Ok(()),
        None => Err(ctx.missing(join(field, "ads"))),
        Some(_) => Err(ctx.unsupported(field, "config source (only ads)")),
    }
}

/// A non-empty resource name.
pub(crate) fn require_name(ctx: Ctx<'_>, field: &str, name: &str) -> Result<(), ConfigError> {
    if name.is_empty() {
        Err(ctx.missing(field))
    } else {
        Ok(())
    }
}

/// Decodes a typed config whose type URL was already matched.
pub(crate) fn decode<M: prost::Message + Default>(
    ctx: Ctx<'_>,
    field: &str,
    any: &Any,
) -> Result<M, ConfigError> {
    unpack(&any.type_url, any).map_err(|e| ctx.invalid(field, e.to_string()))
}

/// A `FractionalPercent` of any denominator, in hundredths of a percent (rounded, capped at 100 %).
pub(crate) fn fractional_percent(
    ctx: Ctx<'_>,
    field: &str,
    f: envoy_types::pb::envoy::r#type::v3::FractionalPercent,
) -> Result<crate::types::BasisPoints, ConfigError> {
    use envoy_types::pb::envoy::r#type::v3::fractional_percent::DenominatorType as D;
    let envoy_types::pb::envoy::r#type::v3::FractionalPercent {
        numerator,
        denominator,
    } = f;
    let per = match D::try_from(denominator) {
        Ok(D::Hundred) => 100,
        Ok(D::TenThousand) => 10_000,
        Ok(D::Million) => 1_000_000,
        Err(_) => {
            return Err(ctx.invalid(
                join(field, "denominator"),
                format!("unknown value {denominator}"),
            ));
        }
    };
    Ok(crate::types::BasisPoints::from_fraction(numerator, per))
}
