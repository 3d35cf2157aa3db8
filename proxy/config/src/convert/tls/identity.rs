//! The identities an mTLS cluster accepts: exact SPIFFE IDs in URI SANs, checked against the
//! trust bundle.

use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, SubjectAltNameMatcher, common_tls_context,
    subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher::MatchPattern};
use rigging_mesh_spiffe::SpiffeId;
use rigging_mesh_xds::TRUST_BUNDLE_SECRET;

use super::secret;
use crate::convert::common::{Ctx, join, reject_set};
use crate::error::ConfigError;

/// The upstream validation: the trust bundle plus the SPIFFE IDs the server may present.
#[allow(deprecated)]
pub(super) fn combined(
    ctx: Ctx<'_>,
    path: &str,
    c: common_tls_context::CombinedCertificateValidationContext,
) -> Result<Vec<String>, ConfigError> {
    let common_tls_context::CombinedCertificateValidationContext {
        default_validation_context,
        validation_context_sds_secret_config,
        validation_context_certificate_provider,
        validation_context_certificate_provider_instance,
    } = c;
    reject_set!(
        ctx,
        path,
        validation_context_certificate_provider,
        validation_context_certificate_provider_instance,
    );
    let field = join(path, "validation_context_sds_secret_config");
    let bundle = validation_context_sds_secret_config.ok_or_else(|| ctx.missing(&field))?;
    secret(ctx, &field, bundle, TRUST_BUNDLE_SECRET)?;
    let field = join(path, "default_validation_context");
    let v = default_validation_context
        .ok_or_else(|| no_identities(ctx, join(&field, "match_typed_subject_alt_names")))?;
    expected_ids(ctx, &field, v)
}

/// The SPIFFE IDs of `match_typed_subject_alt_names`; nothing else may be set, since the trust
/// bundle and the chain rules are the proxy's own.
#[allow(deprecated)]
fn expected_ids(
    ctx: Ctx<'_>,
    path: &str,
    v: CertificateValidationContext,
) -> Result<Vec<String>, ConfigError> {
    let CertificateValidationContext {
        trusted_ca,
        ca_certificate_provider_instance,
        system_root_certs,
        watched_directory,
        verify_certificate_spki,
        verify_certificate_hash,
        match_typed_subject_alt_names,
        match_subject_alt_names,
        require_signed_certificate_timestamp,
        crl,
        allow_expired_certificate,
        trust_chain_verification,
        custom_validator_config,
        only_verify_leaf_cert_crl,
        max_verify_depth,
        suppress_client_ca_list,
    } = v;
    reject_set!(
        ctx,
        path,
        trusted_ca,
        ca_certificate_provider_instance,
        system_root_certs,
        watched_directory,
        verify_certificate_spki,
        verify_certificate_hash,
        match_subject_alt_names,
        require_signed_certificate_timestamp,
        crl,
        allow_expired_certificate,
        trust_chain_verification,
        custom_validator_config,
        only_verify_leaf_cert_crl,
        max_verify_depth,
        suppress_client_ca_list,
    );
    let field = join(path, "match_typed_subject_alt_names");
    if match_typed_subject_alt_names.is_empty() {
        return Err(no_identities(ctx, field));
    }
    match_typed_subject_alt_names
        .into_iter()
        .enumerate()
        .map(|(i, m)| spiffe_san(ctx, &format!("{field}[{i}]"), m))
        .collect()
}

/// One accepted identity: a URI SAN matched exactly against a SPIFFE ID.
fn spiffe_san(ctx: Ctx<'_>, path: &str, m: SubjectAltNameMatcher) -> Result<String, ConfigError> {
    let SubjectAltNameMatcher {
        san_type,
        matcher,
        oid,
    } = m;
    reject_set!(ctx, path, oid);
    match SanType::try_from(san_type) {
        Ok(SanType::Uri) => {}
        Ok(other) => {
            return Err(ctx.unsupported(
                join(path, "san_type"),
                format!(
                    "SAN type {} (only URI, for SPIFFE IDs)",
                    other.as_str_name()
                ),
            ));
        }
        Err(_) => {
            return Err(ctx.invalid(join(path, "san_type"), format!("unknown value {san_type}")));
        }
    }
    let path = join(path, "matcher");
    let StringMatcher {
        ignore_case,
        match_pattern,
    } = matcher.ok_or_else(|| ctx.missing(join(&path, "exact")))?;
    reject_set!(ctx, path, ignore_case);
    let id = match match_pattern {
        Some(MatchPattern::Exact(id)) => id,
        Some(other) => {
            return Err(ctx.unsupported(
                join(&path, pattern_field(&other)),
                "matcher (only exact SPIFFE IDs)",
            ));
        }
        None => return Err(ctx.missing(join(&path, "exact"))),
    };
    SpiffeId::parse(&id)
        .map(|parsed| parsed.as_str().to_owned())
        .map_err(|e| {
            ctx.invalid(
                join(&path, "exact"),
                format!("{id:?} is not a SPIFFE ID: {e}"),
            )
        })
}

/// The error of an upstream validation that names no identity: without one, any workload of
/// the trust domain could answer for the destination.
pub(super) fn no_identities(ctx: Ctx<'_>, field: String) -> ConfigError {
    ctx.invalid(field, "an mTLS cluster must name the identities it accepts")
}

/// The proto field name of a string matcher variant, for error paths.
fn pattern_field(p: &MatchPattern) -> &'static str {
    match p {
        MatchPattern::Exact(_) => "exact",
        MatchPattern::Prefix(_) => "prefix",
        MatchPattern::Suffix(_) => "suffix",
        MatchPattern::SafeRegex(_) => "safe_regex",
        MatchPattern::Contains(_) => "contains",
        MatchPattern::Custom(_) => "custom",
    }
}
