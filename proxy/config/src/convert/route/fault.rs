//! A route's `typed_per_filter_config`: only the fault filter's `HTTPFault`, a delay and/or an abort.

use std::collections::HashMap;

use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay as XdsDelay, fault_delay,
};
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{
    FaultAbort as XdsAbort, HttpFault, fault_abort,
};
use envoy_types::pb::google::protobuf::Any;

use super::super::common::{Ctx, decode, duration, fractional_percent, join, reject_set};
use crate::error::ConfigError;
use crate::types::{AbortStatus, FaultAbort, FaultDelay, FaultInjection};

/// The fault filter's name: the key of its per-route config and its name in `http_filters`.
pub const FAULT_FILTER_NAME: &str = "envoy.filters.http.fault";
/// The type URL of the fault filter's config, in the listener and per route.
pub const FAULT_TYPE_URL: &str =
    "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault";

/// The fault of a route, if its `typed_per_filter_config` holds one.
pub(super) fn per_filter_config(
    ctx: Ctx<'_>,
    path: &str,
    configs: HashMap<String, Any>,
) -> Result<Option<FaultInjection>, ConfigError> {
    let mut keys: Vec<_> = configs.keys().cloned().collect();
    keys.sort();
    if let Some(key) = keys.iter().find(|k| *k != FAULT_FILTER_NAME) {
        return Err(ctx.unsupported(
            format!("{path}.typed_per_filter_config[{key:?}]"),
            format!("filter config (only {FAULT_FILTER_NAME})"),
        ));
    }
    let Some(any) = configs.get(FAULT_FILTER_NAME) else {
        return Ok(None);
    };
    let path = format!("{path}.typed_per_filter_config[{FAULT_FILTER_NAME:?}]");
    if any.type_url != FAULT_TYPE_URL {
        return Err(ctx.unsupported_type(path, &any.type_url));
    }
    let fault: HttpFault = decode(ctx, &path, any)?;
    fault_injection(ctx, &path, fault).map(Some)
}

/// Checks the fault filter's own config in `http_filters`, which must be empty: faults are
/// configured per route.
pub(crate) fn empty_filter_config(ctx: Ctx<'_>, path: &str, any: &Any) -> Result<(), ConfigError> {
    let fault: HttpFault = decode(ctx, path, any)?;
    if fault != HttpFault::default() {
        return Err(ctx.unsupported(
            path,
            "fault settings in the listener (only an empty HTTPFault; faults are per route)",
        ));
    }
    Ok(())
}

fn fault_injection(ctx: Ctx<'_>, path: &str, f: HttpFault) -> Result<FaultInjection, ConfigError> {
    let HttpFault {
        delay,
        abort,
        upstream_cluster,
        headers,
        downstream_nodes,
        max_active_faults,
        response_rate_limit,
        delay_percent_runtime,
        abort_percent_runtime,
        delay_duration_runtime,
        abort_http_status_runtime,
        max_active_faults_runtime,
        response_rate_limit_percent_runtime,
        abort_grpc_status_runtime,
        disable_downstream_cluster_stats,
        filter_metadata,
    } = f;
    reject_set!(
        ctx,
        path,
        upstream_cluster,
        headers,
        downstream_nodes,
        max_active_faults,
        response_rate_limit,
        delay_percent_runtime,
        abort_percent_runtime,
        delay_duration_runtime,
        abort_http_status_runtime,
        max_active_faults_runtime,
        response_rate_limit_percent_runtime,
        abort_grpc_status_runtime,
        disable_downstream_cluster_stats,
        filter_metadata,
    );
    if delay.is_none() && abort.is_none() {
        return Err(ctx.missing(format!("{path}.delay or abort")));
    }
    let delay = delay
        .map(|d| fault_delay(ctx, &join(path, "delay"), d))
        .transpose()?;
    let abort = abort
        .map(|a| fault_abort(ctx, &join(path, "abort"), a))
        .transpose()?;
    Ok(FaultInjection { delay, abort })
}

fn fault_delay(ctx: Ctx<'_>, path: &str, d: XdsDelay) -> Result<FaultDelay, ConfigError> {
    let XdsDelay {
        percentage,
        fault_delay_secifier,
    } = d;
    let delay = match fault_delay_secifier {
        Some(fault_delay::FaultDelaySecifier::FixedDelay(d)) => {
            duration(ctx, &join(path, "fixed_delay"), &d)?
        }
        Some(fault_delay::FaultDelaySecifier::HeaderDelay(_)) => {
            return Err(ctx.unsupported(join(path, "header_delay"), "field"));
        }
        None => return Err(ctx.missing(join(path, "fixed_delay"))),
    };
    // Envoy reads an absent percentage as 0 %, a fault that never fires: refused as a mistake.
    let p = join(path, "percentage");
    let percentage = fractional_percent(ctx, &p, percentage.ok_or_else(|| ctx.missing(&p))?)?;
    Ok(FaultDelay { delay, percentage })
}

fn fault_abort(ctx: Ctx<'_>, path: &str, a: XdsAbort) -> Result<FaultAbort, ConfigError> {
    let XdsAbort {
        percentage,
        response_body,
        error_type,
    } = a;
    reject_set!(ctx, path, response_body);
    use fault_abort::ErrorType as E;
    let status = match error_type {
        Some(E::HttpStatus(s)) => {
            let status = u16::try_from(s)
                .ok()
                .filter(|s| (200..=599).contains(s))
                .ok_or_else(|| {
                    ctx.invalid(join(path, "http_status"), format!("{s} not in 200..=599"))
                })?;
            AbortStatus::Http(status)
        }
        Some(E::GrpcStatus(s)) => AbortStatus::Grpc(s),
        Some(E::HeaderAbort(_)) => {
            return Err(ctx.unsupported(join(path, "header_abort"), "field"));
        }
        None => return Err(ctx.missing(join(path, "http_status"))),
    };
    let p = join(path, "percentage");
    let percentage = fractional_percent(ctx, &p, percentage.ok_or_else(|| ctx.missing(&p))?)?;
    Ok(FaultAbort { status, percentage })
}
