//! `RouteConfiguration` (RDS) → [`RouteConfig`]: virtual hosts of routes matched on path, headers
//! and query parameters, to one cluster or a weighted split, with the traffic rules of XDS.md.

mod action;
mod fault;
mod headers;
mod matcher;

use std::collections::HashSet;
use std::time::Duration;

use envoy_types::pb::envoy::config::route::v3 as xds;

pub use action::DEFAULT_NUM_RETRIES;
pub(crate) use fault::empty_filter_config as empty_fault_filter_config;
pub use fault::{FAULT_FILTER_NAME, FAULT_TYPE_URL};

use super::common::{Ctx, join, reject_set, require_name};
use crate::error::{ConfigError, ResourceKind};
use crate::types::{PathMatch, Route, RouteConfig, VirtualHost};

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
        tracing,
        per_request_buffer_limit_bytes,
        request_body_buffer_limit,
        route_specifiers,
    );
    let m = r#match.ok_or_else(|| ctx.missing(join(path, "match")))?;
    let (path_match, case_sensitive, headers, query_parameters) =
        matcher::route_match(ctx, &join(path, "match"), m)?;
    let action = match action {
        Some(xds::route::Action::Route(a)) => action::route_action(ctx, &join(path, "route"), a)?,
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
    let request_headers = headers::mutations(
        ctx,
        path,
        ("request_headers_to_add", request_headers_to_add),
        ("request_headers_to_remove", request_headers_to_remove),
    )?;
    let response_headers = headers::mutations(
        ctx,
        path,
        ("response_headers_to_add", response_headers_to_add),
        ("response_headers_to_remove", response_headers_to_remove),
    )?;
    let fault = fault::per_filter_config(ctx, path, typed_per_filter_config)?;
    if action.prefix_rewrite.is_some() && matches!(path_match, PathMatch::Regex(_)) {
        return Err(ctx.unsupported(
            join(path, "route.prefix_rewrite"),
            "rewrite of a safe_regex match (only prefix or path)",
        ));
    }
    Ok(Route {
        name,
        path: path_match,
        case_sensitive,
        headers,
        query_parameters,
        action,
        request_headers,
        response_headers,
        fault,
    })
}
