//! The `HttpConnectionManager` of an HTTP listener: RDS over ADS, the fault and router filters,
//! websocket upgrades.

use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, Rds, http_connection_manager, http_filter,
};
use rigging_mesh_xds::ROUTER;

use super::common::{Ctx, decode, join, reject_set, require_ads};
use super::route::{FAULT_FILTER_NAME, FAULT_TYPE_URL, empty_fault_filter_config};
use crate::error::ConfigError;

/// What a listener's connection manager says: its route configuration and which features are on.
pub(super) struct Hcm {
    pub route_config: String,
    pub websocket: bool,
    pub fault_filter: bool,
}

/// Checks the connection manager and returns the name of its route configuration.
#[allow(deprecated)]
pub(super) fn route_config(
    ctx: Ctx<'_>,
    path: &str,
    hcm: HttpConnectionManager,
) -> Result<Hcm, ConfigError> {
    let HttpConnectionManager {
        codec_type,
        stat_prefix: _,
        http_filters,
        add_user_agent,
        tracing,
        common_http_protocol_options,
        http1_safe_max_connection_duration,
        http_protocol_options,
        http2_protocol_options,
        http3_protocol_options,
        server_name,
        server_header_transformation,
        scheme_header_transformation,
        max_request_headers_kb,
        stream_idle_timeout,
        stream_flush_timeout,
        request_timeout,
        request_headers_timeout,
        drain_timeout,
        drain_timeout_jitter,
        delayed_close_timeout,
        access_log,
        access_log_flush_interval,
        flush_access_log_on_new_request,
        access_log_options,
        use_remote_address,
        xff_num_trusted_hops,
        original_ip_detection_extensions,
        early_header_mutation_extensions,
        internal_address_config,
        skip_xff_append,
        via,
        generate_request_id,
        preserve_external_request_id,
        always_set_request_id_in_response,
        forward_client_cert_details,
        set_current_client_cert_details,
        forward_client_cert_matcher,
        proxy_100_continue,
        represent_ipv4_remote_address_as_ipv4_mapped_ipv6,
        upgrade_configs,
        normalize_path,
        merge_slashes,
        path_with_escaped_slashes_action,
        request_id_extension,
        local_reply_config,
        strip_matching_host_port,
        stream_error_on_invalid_http_message,
        path_normalization_options,
        strip_trailing_host_dot,
        proxy_status_config,
        typed_header_validation_config,
        append_x_forwarded_port,
        append_local_overload,
        add_proxy_protocol_connection_state,
        forward_proto_config,
        route_specifier,
        strip_port_mode,
    } = hcm;
    // codec_type AUTO is the default (0): HTTP/1.1 and h2c, as the proxy serves them.
    reject_set!(
        ctx,
        path,
        codec_type,
        add_user_agent,
        tracing,
        common_http_protocol_options,
        http1_safe_max_connection_duration,
        http_protocol_options,
        http2_protocol_options,
        http3_protocol_options,
        server_name,
        server_header_transformation,
        scheme_header_transformation,
        max_request_headers_kb,
        stream_idle_timeout,
        stream_flush_timeout,
        request_timeout,
        request_headers_timeout,
        drain_timeout,
        drain_timeout_jitter,
        delayed_close_timeout,
        access_log,
        access_log_flush_interval,
        flush_access_log_on_new_request,
        access_log_options,
        use_remote_address,
        xff_num_trusted_hops,
        original_ip_detection_extensions,
        early_header_mutation_extensions,
        internal_address_config,
        skip_xff_append,
        via,
        generate_request_id,
        preserve_external_request_id,
        always_set_request_id_in_response,
        forward_client_cert_details,
        set_current_client_cert_details,
        forward_client_cert_matcher,
        proxy_100_continue,
        represent_ipv4_remote_address_as_ipv4_mapped_ipv6,
        normalize_path,
        merge_slashes,
        path_with_escaped_slashes_action,
        request_id_extension,
        local_reply_config,
        strip_matching_host_port,
        stream_error_on_invalid_http_message,
        path_normalization_options,
        strip_trailing_host_dot,
        proxy_status_config,
        typed_header_validation_config,
        append_x_forwarded_port,
        append_local_overload,
        add_proxy_protocol_connection_state,
        forward_proto_config,
        strip_port_mode,
    );
    let fault_filter = filters(ctx, &join(path, "http_filters"), http_filters)?;
    let websocket = !upgrade_configs.is_empty();
    for (i, u) in upgrade_configs.into_iter().enumerate() {
        let p = format!("{path}.upgrade_configs[{i}]");
        if !u.upgrade_type.eq_ignore_ascii_case("websocket") {
            return Err(ctx.unsupported(
                join(&p, "upgrade_type"),
                format!("upgrade {:?} (only websocket)", u.upgrade_type),
            ));
        }
        let (filters, enabled) = (u.filters, u.enabled.map(|b| b.value).unwrap_or(true));
        reject_set!(ctx, p, filters);
        if !enabled {
            return Err(ctx.unsupported(join(&p, "enabled"), "value false"));
        }
    }
    match route_specifier {
        Some(http_connection_manager::RouteSpecifier::Rds(rds)) => {
            let Rds {
                config_source,
                route_config_name,
            } = rds;
            let p = join(path, "rds");
            require_ads(ctx, &join(&p, "config_source"), config_source)?;
            if route_config_name.is_empty() {
                return Err(ctx.missing(join(&p, "route_config_name")));
            }
            Ok(Hcm {
                route_config: route_config_name,
                websocket,
                fault_filter,
            })
        }
        Some(http_connection_manager::RouteSpecifier::RouteConfig(_)) => Err(ctx.unsupported(
            join(path, "route_config"),
            "inline route configuration (only rds)",
        )),
        Some(http_connection_manager::RouteSpecifier::ScopedRoutes(_)) => {
            Err(ctx.unsupported(join(path, "scoped_routes"), "field"))
        }
        None => Err(ctx.missing(join(path, "rds"))),
    }
}

/// The HTTP filters must be the router, with an empty config, last, optionally preceded by the
/// fault filter (named `envoy.filters.http.fault`, empty config). Returns whether the fault
/// filter is there.
fn filters(ctx: Ctx<'_>, path: &str, filters: Vec<HttpFilter>) -> Result<bool, ConfigError> {
    let count = filters.len();
    if count == 0 {
        return Err(ctx.missing(format!("{path}[0] (router)")));
    }
    let routers = filters
        .iter()
        .filter(|f| {
            matches!(&f.config_type, Some(http_filter::ConfigType::TypedConfig(a)) if a.type_url == ROUTER)
        })
        .count();
    if routers > 1 {
        return Err(ctx.unsupported(path, format!("{routers} router filters (only one)")));
    }
    let mut fault = false;
    for (i, f) in filters.into_iter().enumerate() {
        let p = format!("{path}[{i}]");
        let HttpFilter {
            name,
            is_optional: _,
            disabled,
            config_type,
        } = f;
        reject_set!(ctx, p, disabled);
        let any = match config_type {
            Some(http_filter::ConfigType::TypedConfig(any)) => any,
            Some(http_filter::ConfigType::ConfigDiscovery(_)) => {
                return Err(ctx.unsupported(join(&p, "config_discovery"), "field"));
            }
            None => return Err(ctx.missing(join(&p, "typed_config"))),
        };
        let field = join(&p, "typed_config");
        let last = i + 1 == count;
        match any.type_url.as_str() {
            ROUTER if last => {
                let router: Router = decode(ctx, &field, &any)?;
                if router != Router::default() {
                    return Err(ctx.unsupported(field, "router settings (only an empty Router)"));
                }
            }
            ROUTER => {
                return Err(ctx.unsupported(p, "filter after the router (the router is last)"));
            }
            FAULT_TYPE_URL if !last && !fault => {
                // Routes name the filter in `typed_per_filter_config`, so its name matters.
                if name != FAULT_FILTER_NAME {
                    return Err(ctx.unsupported(
                        join(&p, "name"),
                        format!("fault filter name {name:?} (only {FAULT_FILTER_NAME})"),
                    ));
                }
                empty_fault_filter_config(ctx, &field, &any)?;
                fault = true;
            }
            FAULT_TYPE_URL if fault => {
                return Err(ctx.unsupported(p, "second fault filter (only one)"));
            }
            FAULT_TYPE_URL => return Err(ctx.missing(format!("{path}[{count}] (router)"))),
            other => return Err(ctx.unsupported_type(field, other)),
        }
    }
    Ok(fault)
}
