//! `RouteAction`: the destination (one cluster or a weighted split), timeout, prefix rewrite,
//! retries, hash policies and mirrors.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use envoy_types::pb::envoy::config::route::v3 as xds;

use super::super::common::{Ctx, duration, fractional_percent, join, reject_set};
use super::DEFAULT_ROUTE_TIMEOUT;
use super::headers::{header_name, mutations};
use crate::error::ConfigError;
use crate::types::{
    BasisPoints, HashPolicy, HashPolicyKind, RequestMirror, RetryOn, RetryPolicy, RouteAction,
    RouteDestination, WeightedCluster,
};

/// Envoy's `num_retries` when absent.
pub const DEFAULT_NUM_RETRIES: u32 = 1;

#[allow(deprecated)]
pub(super) fn route_action(
    ctx: Ctx<'_>,
    path: &str,
    a: xds::RouteAction,
) -> Result<RouteAction, ConfigError> {
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
        regex_rewrite,
        path_rewrite_policy,
        path_rewrite,
        append_x_forwarded_host,
        flush_timeout,
        early_data_policy,
        retry_policy_typed_config,
        priority,
        rate_limits,
        include_vh_rate_limits,
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
    let destination = match cluster_specifier {
        Some(C::Cluster(c)) if !c.is_empty() => RouteDestination::Cluster(c),
        Some(C::WeightedClusters(w)) => {
            weighted(ctx, &join(path, "weighted_clusters"), w).map(RouteDestination::Weighted)?
        }
        Some(C::ClusterHeader(_)) => {
            return Err(ctx.unsupported(join(path, "cluster_header"), "field"));
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
    // 0 disables it, as in Envoy.
    let idle_timeout = idle_timeout
        .map(|t| duration(ctx, &join(path, "idle_timeout"), &t))
        .transpose()?
        .filter(|d| !d.is_zero());
    let prefix_rewrite = match prefix_rewrite {
        p if p.is_empty() => None,
        p if p.starts_with('/') => Some(p),
        p => {
            return Err(ctx.invalid(
                join(path, "prefix_rewrite"),
                format!("{p:?} does not start with '/'"),
            ));
        }
    };
    let retry = retry_policy
        .map(|r| retry(ctx, &join(path, "retry_policy"), r))
        .transpose()?;
    let hash_policies = hash_policy
        .into_iter()
        .enumerate()
        .map(|(i, h)| hash(ctx, &format!("{path}.hash_policy[{i}]"), h))
        .collect::<Result<_, _>>()?;
    let mirrors = request_mirror_policies
        .into_iter()
        .enumerate()
        .map(|(i, m)| mirror(ctx, &format!("{path}.request_mirror_policies[{i}]"), m))
        .collect::<Result<_, _>>()?;
    Ok(RouteAction {
        destination,
        timeout,
        idle_timeout,
        prefix_rewrite,
        retry,
        hash_policies,
        mirrors,
    })
}

#[allow(deprecated)]
fn weighted(
    ctx: Ctx<'_>,
    path: &str,
    w: xds::WeightedCluster,
) -> Result<Vec<WeightedCluster>, ConfigError> {
    let xds::WeightedCluster {
        clusters,
        total_weight,
        runtime_key_prefix,
        random_value_specifier,
    } = w;
    reject_set!(
        ctx,
        path,
        total_weight,
        runtime_key_prefix,
        random_value_specifier
    );
    if clusters.is_empty() {
        return Err(ctx.missing(join(path, "clusters")));
    }
    let mut out = Vec::with_capacity(clusters.len());
    let mut names = BTreeSet::new();
    for (i, c) in clusters.into_iter().enumerate() {
        let p = format!("{path}.clusters[{i}]");
        let xds::weighted_cluster::ClusterWeight {
            name,
            cluster_header,
            weight,
            metadata_match,
            request_headers_to_add,
            request_headers_to_remove,
            response_headers_to_add,
            response_headers_to_remove,
            typed_per_filter_config,
            host_rewrite_specifier,
        } = c;
        reject_set!(
            ctx,
            p,
            cluster_header,
            metadata_match,
            typed_per_filter_config,
            host_rewrite_specifier
        );
        if name.is_empty() {
            return Err(ctx.missing(join(&p, "name")));
        }
        if !names.insert(name.clone()) {
            return Err(ctx.invalid(join(&p, "name"), format!("duplicate cluster {name:?}")));
        }
        // Envoy skips a cluster of weight 0; the split Pilot compiles never holds one, so it
        // is refused rather than silently dropped.
        let weight = weight
            .and_then(|w| NonZeroU32::new(w.value))
            .ok_or_else(|| ctx.invalid(join(&p, "weight"), "must be at least 1"))?;
        let request_headers = mutations(
            ctx,
            &p,
            ("request_headers_to_add", request_headers_to_add),
            ("request_headers_to_remove", request_headers_to_remove),
        )?;
        let response_headers = mutations(
            ctx,
            &p,
            ("response_headers_to_add", response_headers_to_add),
            ("response_headers_to_remove", response_headers_to_remove),
        )?;
        out.push(WeightedCluster {
            name,
            weight,
            request_headers,
            response_headers,
        });
    }
    let total: u64 = out.iter().map(|c| u64::from(c.weight.get())).sum();
    if total > u64::from(u32::MAX) {
        return Err(ctx.invalid(
            join(path, "clusters"),
            format!("weights sum to {total}, above {}", u32::MAX),
        ));
    }
    Ok(out)
}

#[allow(deprecated)]
fn retry(ctx: Ctx<'_>, path: &str, r: xds::RetryPolicy) -> Result<RetryPolicy, ConfigError> {
    let xds::RetryPolicy {
        retry_on,
        num_retries,
        per_try_timeout,
        per_try_idle_timeout,
        retry_priority,
        retry_host_predicate,
        retry_options_predicates,
        host_selection_retry_max_attempts,
        retriable_status_codes,
        retry_back_off,
        rate_limited_retry_back_off,
        retriable_headers,
        retriable_request_headers,
        refresh_cluster_on_retry,
    } = r;
    reject_set!(
        ctx,
        path,
        per_try_timeout,
        per_try_idle_timeout,
        retry_priority,
        retry_host_predicate,
        retry_options_predicates,
        host_selection_retry_max_attempts,
        retry_back_off,
        rate_limited_retry_back_off,
        retriable_headers,
        retriable_request_headers,
        refresh_cluster_on_retry,
    );
    let field = join(path, "retry_on");
    let mut conditions = BTreeSet::new();
    for token in retry_on.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let on = RetryOn::from_token(token)
            .ok_or_else(|| ctx.unsupported(&field, format!("retry condition {token:?}")))?;
        conditions.insert(on);
    }
    if conditions.is_empty() {
        return Err(ctx.missing(field));
    }
    let mut codes = BTreeSet::new();
    for (i, code) in retriable_status_codes.into_iter().enumerate() {
        let status = u16::try_from(code)
            .ok()
            .filter(|c| (100..=599).contains(c))
            .ok_or_else(|| {
                ctx.invalid(
                    format!("{path}.retriable_status_codes[{i}]"),
                    format!("{code} is not an HTTP status"),
                )
            })?;
        codes.insert(status);
    }
    Ok(RetryPolicy {
        retry_on: conditions,
        num_retries: num_retries.map_or(DEFAULT_NUM_RETRIES, |n| n.value),
        retriable_status_codes: codes,
    })
}

fn hash(
    ctx: Ctx<'_>,
    path: &str,
    h: xds::route_action::HashPolicy,
) -> Result<HashPolicy, ConfigError> {
    use xds::route_action::hash_policy::{self as hp, PolicySpecifier as P};
    let xds::route_action::HashPolicy {
        terminal,
        policy_specifier,
    } = h;
    let kind = match policy_specifier {
        Some(P::Header(hp::Header {
            header_name: name,
            regex_rewrite,
        })) => {
            let p = join(path, "header");
            reject_set!(ctx, p, regex_rewrite);
            HashPolicyKind::Header(header_name(ctx, &join(&p, "header_name"), name)?)
        }
        Some(P::Cookie(hp::Cookie {
            name,
            ttl,
            path: cookie_path,
            attributes,
        })) => {
            let p = join(path, "cookie");
            reject_set!(ctx, p, attributes);
            if name.is_empty() {
                return Err(ctx.missing(join(&p, "name")));
            }
            let ttl = ttl
                .map(|t| duration(ctx, &join(&p, "ttl"), &t))
                .transpose()?;
            let cookie_path = Some(cookie_path).filter(|c| !c.is_empty());
            HashPolicyKind::Cookie {
                name,
                ttl,
                path: cookie_path,
            }
        }
        Some(P::QueryParameter(hp::QueryParameter { name })) => {
            if name.is_empty() {
                return Err(ctx.missing(join(path, "query_parameter.name")));
            }
            HashPolicyKind::QueryParameter(name)
        }
        Some(P::ConnectionProperties(hp::ConnectionProperties { source_ip: true })) => {
            HashPolicyKind::SourceIp
        }
        Some(P::ConnectionProperties(_)) => {
            return Err(ctx.missing(join(path, "connection_properties.source_ip")));
        }
        Some(P::FilterState(_)) => {
            return Err(ctx.unsupported(
                join(path, "filter_state"),
                "hash policy (only header, cookie, query_parameter or connection_properties)",
            ));
        }
        None => return Err(ctx.missing(join(path, "header"))),
    };
    Ok(HashPolicy { kind, terminal })
}

#[allow(deprecated)]
fn mirror(
    ctx: Ctx<'_>,
    path: &str,
    m: xds::route_action::RequestMirrorPolicy,
) -> Result<RequestMirror, ConfigError> {
    let xds::route_action::RequestMirrorPolicy {
        cluster,
        cluster_header,
        runtime_fraction,
        trace_sampled,
        disable_shadow_host_suffix_append,
        request_headers_mutations,
        host_rewrite_literal,
    } = m;
    reject_set!(
        ctx,
        path,
        cluster_header,
        trace_sampled,
        disable_shadow_host_suffix_append,
        request_headers_mutations,
        host_rewrite_literal,
    );
    if cluster.is_empty() {
        return Err(ctx.missing(join(path, "cluster")));
    }
    // Without a fraction Envoy mirrors every request.
    let fraction = match runtime_fraction {
        None => BasisPoints::ALL,
        Some(rf) => {
            let p = join(path, "runtime_fraction");
            let runtime_key = rf.runtime_key;
            reject_set!(ctx, p, runtime_key);
            let value = rf
                .default_value
                .ok_or_else(|| ctx.missing(join(&p, "default_value")))?;
            fractional_percent(ctx, &join(&p, "default_value"), value)?
        }
    };
    Ok(RequestMirror { cluster, fraction })
}
