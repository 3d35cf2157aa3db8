//! TLS to a service outside the mesh, as a terminating gateway's cluster asks for it: the
//! CA file, client certificate and key files, SNI and names of Consul's linked service,
//! converted into an [`OriginationTls`].
//!
//! Only files are accepted (a gateway reads the files its entry names), only exact DNS
//! names are matched, and nothing weakens the check: there is no way to skip verifying the
//! server's chain.

use std::path::PathBuf;

use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, SubjectAltNameMatcher, TlsCertificate,
    common_tls_context::ValidationContextType, subject_alt_name_matcher::SanType,
};
use envoy_types::pb::envoy::r#type::matcher::v3::string_matcher::MatchPattern;

use super::super::common::{Ctx, join, reject_set};
use super::server_name;
use crate::error::ConfigError;
use crate::types::{CertificateFiles, OriginationTls};

/// ALPN protocols a gateway may offer an external service.
const ALPN_PROTOCOLS: &[&str] = &["h2", "http/1.1"];

/// Converts the `sni` and `common_tls_context` of the origination context at `typed`.
#[allow(deprecated)]
pub(super) fn convert(
    ctx: Ctx<'_>,
    typed: &str,
    sni: String,
    context: Option<CommonTlsContext>,
) -> Result<OriginationTls, ConfigError> {
    let sni = (!sni.is_empty()).then_some(sni);
    if let Some(sni) = &sni {
        server_name(ctx, &join(typed, "sni"), sni)?;
    }
    let path = &join(typed, "common_tls_context");
    let CommonTlsContext {
        tls_params,
        tls_certificates,
        tls_certificate_sds_secret_configs,
        tls_certificate_provider_instance,
        custom_tls_certificate_selector,
        tls_certificate_certificate_provider,
        tls_certificate_certificate_provider_instance,
        alpn_protocols,
        custom_handshaker,
        key_log,
        validation_context_type,
    } = context.ok_or_else(|| ctx.missing(path))?;
    reject_set!(
        ctx,
        path,
        tls_params,
        tls_certificate_sds_secret_configs,
        tls_certificate_provider_instance,
        custom_tls_certificate_selector,
        tls_certificate_certificate_provider,
        tls_certificate_certificate_provider_instance,
        custom_handshaker,
        key_log,
    );
    for (i, p) in alpn_protocols.iter().enumerate() {
        if !ALPN_PROTOCOLS.contains(&p.as_str()) || alpn_protocols[..i].contains(p) {
            return Err(ctx.unsupported(
                format!("{path}.alpn_protocols[{i}]"),
                format!(
                    "ALPN protocol {p:?} (only {}, each once)",
                    ALPN_PROTOCOLS.join(", ")
                ),
            ));
        }
    }
    let client_certificate = match <[TlsCertificate; 1]>::try_from(tls_certificates) {
        Ok([c]) => Some(certificate(ctx, &format!("{path}.tls_certificates[0]"), c)?),
        Err(v) if v.is_empty() => None,
        Err(v) => {
            return Err(ctx.unsupported(
                join(path, "tls_certificates"),
                format!("{} certificates (only one)", v.len()),
            ));
        }
    };
    let Some(ValidationContextType::ValidationContext(validation)) = validation_context_type else {
        return Err(ctx.missing(join(path, "validation_context")));
    };
    let (ca_file, verify_names) =
        validation_context(ctx, &join(path, "validation_context"), validation)?;
    Ok(OriginationTls {
        ca_file,
        client_certificate,
        sni,
        verify_names,
        alpn: alpn_protocols,
    })
}

#[allow(deprecated)]
fn validation_context(
    ctx: Ctx<'_>,
    path: &str,
    v: CertificateValidationContext,
) -> Result<(PathBuf, Vec<String>), ConfigError> {
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
    let ca = file(ctx, &join(path, "trusted_ca"), trusted_ca)?;
    let mut names = Vec::new();
    for (i, m) in match_typed_subject_alt_names.into_iter().enumerate() {
        let field = format!("{path}.match_typed_subject_alt_names[{i}]");
        names.push(dns_name(ctx, &field, m)?);
    }
    Ok((ca, names))
}

/// An exact DNS SAN: the only kind of name an external service is checked against.
fn dns_name(ctx: Ctx<'_>, path: &str, m: SubjectAltNameMatcher) -> Result<String, ConfigError> {
    let SubjectAltNameMatcher {
        san_type,
        matcher,
        oid,
    } = m;
    reject_set!(ctx, path, oid);
    if san_type != SanType::Dns as i32 {
        return Err(ctx.unsupported(join(path, "san_type"), "SAN type (only DNS)"));
    }
    match matcher.and_then(|m| m.match_pattern) {
        Some(MatchPattern::Exact(name)) if !name.is_empty() => {
            server_name(ctx, &join(path, "matcher.exact"), &name)?;
            Ok(name)
        }
        Some(_) => Err(ctx.unsupported(join(path, "matcher"), "matcher (only exact)")),
        None => Err(ctx.missing(join(path, "matcher.exact"))),
    }
}

#[allow(deprecated)]
fn certificate(
    ctx: Ctx<'_>,
    path: &str,
    c: TlsCertificate,
) -> Result<CertificateFiles, ConfigError> {
    let TlsCertificate {
        certificate_chain,
        private_key,
        pkcs12,
        tls_params,
        password,
        ocsp_staple,
        signed_certificate_timestamp,
        private_key_provider,
        watched_directory,
    } = c;
    reject_set!(
        ctx,
        path,
        pkcs12,
        tls_params,
        password,
        ocsp_staple,
        signed_certificate_timestamp,
        private_key_provider,
        watched_directory,
    );
    Ok(CertificateFiles {
        certificate_chain: file(ctx, &join(path, "certificate_chain"), certificate_chain)?,
        private_key: file(ctx, &join(path, "private_key"), private_key)?,
    })
}

/// A `DataSource` naming a file; inline data is refused (a gateway reads the files its
/// config entry names).
fn file(ctx: Ctx<'_>, path: &str, source: Option<DataSource>) -> Result<PathBuf, ConfigError> {
    let DataSource {
        specifier,
        watched_directory,
    } = source.ok_or_else(|| ctx.missing(join(path, "filename")))?;
    reject_set!(ctx, path, watched_directory);
    match specifier {
        Some(data_source::Specifier::Filename(f)) if !f.is_empty() => Ok(PathBuf::from(f)),
        Some(data_source::Specifier::Filename(_)) | None => {
            Err(ctx.missing(join(path, "filename")))
        }
        Some(_) => Err(ctx.unsupported(
            path,
            "data source (only filename: a gateway reads the files its config entry names)",
        )),
    }
}
