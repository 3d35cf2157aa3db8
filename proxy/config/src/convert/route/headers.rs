//! Header names and the `*_headers_to_add` / `*_headers_to_remove` pairs of routes and weighted
//! clusters.

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};

use super::super::common::{Ctx, join, reject_set};
use crate::error::ConfigError;
use crate::types::{HeaderAdd, HeaderAppend, HeaderMutations};

/// A regular header name (RFC 9110 token), lowercased.
pub(super) fn header_name(ctx: Ctx<'_>, path: &str, name: String) -> Result<String, ConfigError> {
    if name.is_empty() {
        return Err(ctx.missing(path));
    }
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(token) {
        return Err(ctx.invalid(path, format!("{name:?} is not a header name")));
    }
    Ok(name.to_ascii_lowercase())
}

/// A header name a route may add or remove: not `host`, as in Envoy (pseudo-headers are not
/// header names).
fn modifiable(ctx: Ctx<'_>, path: &str, name: String) -> Result<String, ConfigError> {
    let name = header_name(ctx, path, name)?;
    if name == "host" {
        return Err(ctx.unsupported(path, "header \"host\" (not modifiable)"));
    }
    Ok(name)
}

/// A header mutation pair; `add` and `remove` are the names of the two fields under `path`.
pub(super) fn mutations(
    ctx: Ctx<'_>,
    path: &str,
    (add_field, add): (&str, Vec<HeaderValueOption>),
    (remove_field, remove): (&str, Vec<String>),
) -> Result<HeaderMutations, ConfigError> {
    let add = add
        .into_iter()
        .enumerate()
        .map(|(i, h)| header_add(ctx, &format!("{}[{i}]", join(path, add_field)), h))
        .collect::<Result<_, _>>()?;
    let remove = remove
        .into_iter()
        .enumerate()
        .map(|(i, h)| modifiable(ctx, &format!("{}[{i}]", join(path, remove_field)), h))
        .collect::<Result<_, _>>()?;
    Ok(HeaderMutations { add, remove })
}

#[allow(deprecated)]
fn header_add(ctx: Ctx<'_>, path: &str, h: HeaderValueOption) -> Result<HeaderAdd, ConfigError> {
    let HeaderValueOption {
        header,
        append,
        append_action,
        keep_empty_value,
    } = h;
    reject_set!(ctx, path, append, keep_empty_value);
    let p = join(path, "header");
    let HeaderValue {
        key,
        value,
        raw_value,
    } = header.ok_or_else(|| ctx.missing(&p))?;
    reject_set!(ctx, p, raw_value);
    let name = modifiable(ctx, &join(&p, "key"), key)?;
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
        return Err(ctx.invalid(join(&p, "value"), "holds CR, LF or NUL"));
    }
    let action = match HeaderAppendAction::try_from(append_action) {
        Ok(HeaderAppendAction::AppendIfExistsOrAdd) => HeaderAppend::Append,
        Ok(HeaderAppendAction::OverwriteIfExistsOrAdd) => HeaderAppend::Overwrite,
        Ok(other) => {
            return Err(ctx.unsupported(
                join(path, "append_action"),
                format!(
                    "action {} (only APPEND_IF_EXISTS_OR_ADD or OVERWRITE_IF_EXISTS_OR_ADD)",
                    other.as_str_name()
                ),
            ));
        }
        Err(_) => {
            return Err(ctx.invalid(
                join(path, "append_action"),
                format!("unknown value {append_action}"),
            ));
        }
    };
    Ok(HeaderAdd {
        name,
        value,
        action,
    })
}
