//! `RouteConfiguration` (RDS) → [`RouteConfig`]: virtual hosts of prefix or exact path routes to one cluster.

use std::collections::HashSet;
use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3 as xds;

use super::common::{Ctx, duration, join, reject_set, require_name};
use crate::error::{ConfigError, ResourceKind};
use crate::types::{PathMatch, Route, RouteAction, RouteConfig, VirtualHost};

/// Envoy's route timeout when `timeout` is absent.
pub const DEFAULT_ROUTE_TIMEOUT: Duration = Duration::from_secs(15);

impl TryFrom<xds::RouteConfiguration> for RouteConfig {
    type Error = ConfigError;

    #[allow(deprecated)]
    fn try_from(rc: xds::RouteConfiguration) -> Result<Self, ConfigError> {
        let xds::RouteConfiguration {
            name,
            virtual_hosts,
            vhds,
            internal_only_headers,
            response_headers_to_add,
            response_headers_to_remove,
            request_headers_to_add,
            request_headers_to_remove,
            most_specific_header_mutations_wins,
            validate_clusters,
            max_direct_response_body_size_bytes,
            cluster_specifier_plugins,
            request_mirror_policies,
            ignore_port_in_host_matching,
            vhost_header,
            ignore_path_parameters_in_path_matching,
            typed_per_filter_config,
            metadata: _,
            route_specifiers,
        } = rc;
        let ctx = Ctx {
            kind: ResourceKind::RouteConfig,
            name: &name,
        };
        require_name(ctx, "name", &name)?;
        reject_set!(
            ctx,
            "",
            vhds,
            internal_only_headers,
            response_headers_to_add,
            response_headers_to_remove,
            request_headers_to_add,
            request_headers_to_remove,
            most_specific_header_mutations_wins,
            validate_clusters,
            max_direct_response_body_size_bytes,
            cluster_specifier_plugins,
            request_mirror_policies,
            ignore_port_in_host_matching,
            vhost_header,
            ignore_path_parameters_in_path_matching,
            typed_per_filter_config,
            route_specifiers,
        );
        let mut names = HashSet::new();
        let mut domains = HashSet::new();
        let mut hosts = Vec::with_capacity(virtual_hosts.len());
        for (i, vh) in virtual_hosts.into_iter().enumerate() {
            let path = format!("virtual_hosts[{i}]");
            let vh = virtual_host(ctx, &path, vh)?;
            if !names.insert(vh.name.clone()) {
                return Err(ctx.invalid(
                    join(&path, "name"),
                    format!("duplicate virtual host {:?}", vh.name),
                ));
            }
            for d in &vh.domains {
                if !domains.insert(d.clone()) {
                    return Err(
                        ctx.invalid(join(&path, "domains"), format!("duplicate domain {d:?}"))
                    );
                }
            }
            hosts.push(vh);
        }
        Ok(RouteConfig {
            name,
            virtual_hosts: hosts,
        })
    }
}

#[allow(deprecated)]
fn virtual_host(
    ctx: Ctx<'_>,
    path: &str,
    vh: xds::VirtualHost,
) -> Result<VirtualHost, ConfigError> {
    let xds::VirtualHost {
        name,
        domains,
        routes,
        matcher,
        require_tls,
        virtual_clusters,
        rate_limits,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        cors,
        typed_per_filter_config,
        include_request_attempt_count,
        include_attempt_count_in_response,
        retry_policy,
        retry_policy_typed_config,
        hedge_policy,
        include_is_timeout_retry_header,
        per_request_buffer_limit_bytes,
        request_body_buffer_limit,
        request_mirror_policies,
        metadata: _,
        route_specifiers,
    } = vh;
    reject_set!(
        ctx,
        path,
        matcher,
        require_tls,
        virtual_clusters,
        rate_limits,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        cors,
        typed_per_filter_config,
        include_request_attempt_count,
        include_attempt_count_in_response,
        retry_policy,
        retry_policy_typed_config,
        hedge_policy,
        include_is_timeout_retry_header,
        per_request_buffer_limit_bytes,
        request_body_buffer_limit,
        request_mirror_policies,
        route_specifiers,
    );
    require_name(ctx, &join(path, "name"), &name)?;
    if domains.is_empty() {
        return Err(ctx.missing(join(path, "domains")));
    }
    if let Some(i) = domains.iter().position(String::is_empty) {
        return Err(ctx.missing(format!("{path}.domains[{i}]")));
    }
    let routes = routes
        .into_iter()
        .enumerate()
        .map(|(i, r)| route(ctx, &format!("{path}.routes[{i}]"), r))
        .collect::<Result<_, _>>()?;
    Ok(VirtualHost {
        name,
        domains,
        routes,
    })
}

#[allow(deprecated)]
fn route(ctx: Ctx<'_>, path: &str, r: xds::Route) -> Result<Route, ConfigError> {
    let xds::Route {
        name,
        r#match,
        metadata: _,
        decorator,
        typed_per_filter_config,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        tracing,
        per_request_buffer_limit_bytes,
        stat_prefix: _,
        request_body_buffer_limit,
        route_specifiers,
        action,
    } = r;
    reject_set!(
        ctx,
        path,
        decorator,
        typed_per_filter_config,
        request_headers_to_add,
        request_headers_to_remove,
        response_headers_to_add,
        response_headers_to_remove,
        tracing,
        per_request_buffer_limit_bytes,
        request_body_buffer_limit,
        route_specifiers,
    );
    let m = r#match.ok_or_else(|| ctx.missing(join(path, "match")))?;
    let path_match = route_match(ctx, &join(path, "match"), m)?;
    let action = match action {
        Some(xds::route::Action::Route(a)) => route_action(ctx, &join(path, "route"), a)?,
        Some(xds::route::Action::Redirect(_)) => {
            return Err(ctx.unsupported(join(path, "redirect"), "action (only route)"));
        }
        Some(xds::route::Action::DirectResponse(_)) => {
            return Err(ctx.unsupported(join(path, "direct_response"), "action (only route)"));
        }
        Some(xds::route::Action::FilterAction(_)) => {
            return Err(ctx.unsupported(join(path, "filter_action"), "action (only route)"));
        }
        Some(xds::route::Action::NonForwardingAction(_)) => {
            return Err(ctx.unsupported(join(path, "non_forwarding_action"), "action (only route)"));
        }
        None => return Err(ctx.missing(join(path, "route"))),
    };
    Ok(Route {
        name,
        path: path_match,
        action,
    })
}

fn route_match(ctx: Ctx<'_>, path: &str, m: xds::RouteMatch) -> Result<PathMatch, ConfigError> {
    let xds::RouteMatch {
        case_sensitive,
        runtime_fraction,
        headers,
        query_parameters,
        cookies,
        grpc,
        tls_context,
        dynamic_metadata,
        filter_state,
        path_specifier,
    } = m;
    reject_set!(
        ctx,
        path,
        runtime_fraction,
        headers,
        query_parameters,
        cookies,
        grpc,
        tls_context,
        dynamic_metadata,
        filter_state,
    );
    if case_sensitive.is_some_and(|b| !b.value) {
        return Err(ctx.unsupported(join(path, "case_sensitive"), "value false"));
    }
    use xds::route_match::PathSpecifier as P;
    let unsupported =
        |field: &str| Err(ctx.unsupported(join(path, field), "matcher (only prefix or path)"));
    match path_specifier {
        Some(P::Prefix(p)) if p.is_empty() || p.starts_with('/') => Ok(PathMatch::Prefix(p)),
        Some(P::Prefix(p)) => Err(ctx.invalid(
            join(path, "prefix"),
            format!("{p:?} does not start with '/'"),
        )),
        Some(P::Path(p)) if p.starts_with('/') => Ok(PathMatch::Exact(p)),
        Some(P::Path(p)) => {
            Err(ctx.invalid(join(path, "path"), format!("{p:?} does not start with '/'")))
        }
        Some(P::SafeRegex(_)) => unsupported("safe_regex"),
        Some(P::ConnectMatcher(_)) => unsupported("connect_matcher"),
        Some(P::PathSeparatedPrefix(_)) => unsupported("path_separated_prefix"),
        Some(P::PathMatchPolicy(_)) => unsupported("path_match_policy"),
        None => Err(ctx.missing(join(path, "prefix"))),
    }
}

#[allow(deprecated)]
fn route_action(ctx: Ctx<'_>, path: &str, a: xds::RouteAction) -> Result<RouteAction, ConfigError> {
    let xds::RouteAction {
        cluster_not_found_response_code,
        metadata_match,
        prefix_rewrite,
        regex_rewrite,
        path_rewrite_policy,
        path_rewrite,
        append_x_forwarded_host,
        timeout,
        idle_timeout,
        flush_timeout,
        early_data_policy,
        retry_policy,
        retry_policy_typed_config,
        request_mirror_policies,
        priority,
        rate_limits,
        include_vh_rate_limits,
        hash_policy,
        cors,
        max_grpc_timeout,
        grpc_timeout_offset,
        upgrade_configs,
        internal_redirect_policy,
        internal_redirect_action,
        max_internal_redirects,
        hedge_policy,
        max_stream_duration,
        cluster_specifier,
        host_rewrite_specifier,
    } = a;
    reject_set!(
        ctx,
        path,
        cluster_not_found_response_code,
        metadata_match,
        prefix_rewrite,
        regex_rewrite,
        path_rewrite_policy,
        path_rewrite,
        append_x_forwarded_host,
        idle_timeout,
        flush_timeout,
        early_data_policy,
        retry_policy,
        retry_policy_typed_config,
        request_mirror_policies,
        priority,
        rate_limits,
        include_vh_rate_limits,
        hash_policy,
        cors,
        max_grpc_timeout,
        grpc_timeout_offset,
        upgrade_configs,
        internal_redirect_policy,
        internal_redirect_action,
        max_internal_redirects,
        hedge_policy,
        max_stream_duration,
        host_rewrite_specifier,
    );
    use xds::route_action::ClusterSpecifier as C;
    let cluster = match cluster_specifier {
        Some(C::Cluster(c)) if !c.is_empty() => c,
        Some(C::ClusterHeader(_)) => {
            return Err(ctx.unsupported(join(path, "cluster_header"), "field"));
        }
        Some(C::WeightedClusters(_)) => {
            return Err(ctx.unsupported(join(path, "weighted_clusters"), "field"));
        }
        Some(C::ClusterSpecifierPlugin(_) | C::InlineClusterSpecifierPlugin(_)) => {
            return Err(ctx.unsupported(join(path, "cluster_specifier_plugin"), "field"));
        }
        _ => return Err(ctx.missing(join(path, "cluster"))),
    };
    let timeout = match timeout {
        None => Some(DEFAULT_ROUTE_TIMEOUT),
        Some(t) => Some(duration(ctx, &join(path, "timeout"), &t)?).filter(|d| !d.is_zero()),
    };
    Ok(RouteAction { cluster, timeout })
}
