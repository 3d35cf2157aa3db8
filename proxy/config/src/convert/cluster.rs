//! `Cluster` (CDS) → [`Cluster`]: EDS over ADS or static endpoints, the balancing policies,
//! circuit breakers and outlier detection of XDS.md, HTTP/1.1 or HTTP/2 upstreams, plaintext or
//! mesh mTLS (EDS clusters only).

mod policy;

use std::collections::HashMap;
use std::time::Duration;

use envoy_types::pb::envoy::config::cluster::v3 as xds;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options,
};
use envoy_types::pb::google::protobuf::Any;
use rigging_mesh_xds::{HTTP_PROTOCOL_OPTIONS, HTTP_PROTOCOL_OPTIONS_KEY};

use super::common::{Ctx, decode, duration, join, reject_set, require_ads, require_name};
use super::endpoint::locality_endpoints;
use super::tls;
use crate::error::{ConfigError, ResourceKind};
use crate::types::{Cluster, Discovery, UpstreamProtocol};

/// Envoy's connect timeout when `connect_timeout` is absent.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl TryFrom<xds::Cluster> for Cluster {
    type Error = ConfigError;

    #[allow(deprecated)]
    fn try_from(c: xds::Cluster) -> Result<Self, ConfigError> {
        let xds::Cluster {
            transport_socket_matches,
            transport_socket_matcher,
            name,
            alt_stat_name: _,
            stats_matcher: _,
            eds_cluster_config,
            connect_timeout,
            per_connection_buffer_limit_bytes,
            per_connection_buffer_high_watermark_timeout,
            lb_policy,
            load_assignment,
            health_checks,
            max_requests_per_connection,
            circuit_breakers,
            upstream_http_protocol_options,
            common_http_protocol_options,
            http_protocol_options,
            http2_protocol_options,
            typed_extension_protocol_options,
            dns_refresh_rate,
            dns_jitter,
            dns_failure_refresh_rate,
            respect_dns_ttl,
            dns_lookup_family,
            dns_resolvers,
            use_tcp_for_dns_lookups,
            dns_resolution_config,
            typed_dns_resolver_config,
            wait_for_warm_on_init,
            outlier_detection,
            cleanup_interval,
            upstream_bind_config,
            lb_subset_config,
            common_lb_config,
            transport_socket,
            metadata: _,
            protocol_selection,
            upstream_connection_options,
            close_connections_on_host_health_failure,
            ignore_health_on_host_removal,
            filters,
            load_balancing_policy,
            lrs_server,
            lrs_report_endpoint_metrics,
            track_timeout_budgets,
            upstream_config,
            track_cluster_stats,
            preconnect_policy,
            connection_pool_per_downstream_connection,
            queuing_policies,
            cluster_discovery_type,
            lb_config,
        } = c;
        let ctx = Ctx {
            kind: ResourceKind::Cluster,
            name: &name,
        };
        require_name(ctx, "name", &name)?;
        reject_set!(
            ctx,
            "",
            transport_socket_matches,
            transport_socket_matcher,
            per_connection_buffer_limit_bytes,
            per_connection_buffer_high_watermark_timeout,
            health_checks,
            max_requests_per_connection,
            upstream_http_protocol_options,
            common_http_protocol_options,
            http_protocol_options,
            http2_protocol_options,
            dns_refresh_rate,
            dns_jitter,
            dns_failure_refresh_rate,
            respect_dns_ttl,
            dns_lookup_family,
            dns_resolvers,
            use_tcp_for_dns_lookups,
            dns_resolution_config,
            typed_dns_resolver_config,
            wait_for_warm_on_init,
            cleanup_interval,
            upstream_bind_config,
            lb_subset_config,
            common_lb_config,
            protocol_selection,
            upstream_connection_options,
            close_connections_on_host_health_failure,
            ignore_health_on_host_removal,
            filters,
            load_balancing_policy,
            lrs_server,
            lrs_report_endpoint_metrics,
            track_timeout_budgets,
            upstream_config,
            track_cluster_stats,
            preconnect_policy,
            connection_pool_per_downstream_connection,
            queuing_policies,
        );
        let connect_timeout = match connect_timeout {
            None => DEFAULT_CONNECT_TIMEOUT,
            Some(d) => match duration(ctx, "connect_timeout", &d)? {
                d if d.is_zero() => return Err(ctx.invalid("connect_timeout", "must be positive")),
                d => d,
            },
        };
        let lb_policy = policy::lb_policy(ctx, lb_policy, lb_config)?;
        let circuit_breakers = policy::circuit_breakers(ctx, circuit_breakers)?;
        let outlier_detection = policy::outlier_detection(ctx, outlier_detection)?;
        let protocol = protocol(ctx, typed_extension_protocol_options)?;
        let discovery = discovery(
            ctx,
            cluster_discovery_type,
            eds_cluster_config,
            load_assignment,
        )?;
        let tls = tls::upstream(ctx, "transport_socket", transport_socket)?;
        if tls.is_some() && matches!(discovery, Discovery::Static(_)) {
            return Err(ctx.unsupported(
                "transport_socket",
                "mTLS to a static cluster (the local application is reached in plaintext)",
            ));
        }
        Ok(Cluster {
            tls,
            name,
            lb_policy,
            connect_timeout,
            protocol,
            discovery,
            circuit_breakers,
            outlier_detection,
        })
    }
}

fn discovery(
    ctx: Ctx<'_>,
    discovery_type: Option<xds::cluster::ClusterDiscoveryType>,
    eds_cluster_config: Option<xds::cluster::EdsClusterConfig>,
    load_assignment: Option<envoy_types::pb::envoy::config::endpoint::v3::ClusterLoadAssignment>,
) -> Result<Discovery, ConfigError> {
    use xds::cluster::{ClusterDiscoveryType as T, DiscoveryType as D};
    let ty = match discovery_type {
        // An absent `type` is the proto default, STATIC.
        None => D::Static,
        Some(T::Type(t)) => {
            D::try_from(t).map_err(|_| ctx.invalid("type", format!("unknown value {t}")))?
        }
        Some(T::ClusterType(_)) => return Err(ctx.unsupported("cluster_type", "field")),
    };
    match ty {
        D::Eds => {
            reject_set!(ctx, "", load_assignment);
            let eds = eds_cluster_config.ok_or_else(|| ctx.missing("eds_cluster_config"))?;
            require_ads(ctx, "eds_cluster_config.eds_config", eds.eds_config)?;
            if !eds.service_name.is_empty() && eds.service_name != ctx.name {
                return Err(ctx.unsupported(
                    "eds_cluster_config.service_name",
                    "service name other than the cluster's",
                ));
            }
            Ok(Discovery::Eds)
        }
        D::Static => {
            reject_set!(ctx, "", eds_cluster_config);
            let la = load_assignment.ok_or_else(|| ctx.missing("load_assignment"))?;
            if !la.cluster_name.is_empty() && la.cluster_name != ctx.name {
                return Err(ctx.invalid(
                    "load_assignment.cluster_name",
                    format!("{:?} is not the cluster's name", la.cluster_name),
                ));
            }
            locality_endpoints(ctx, "load_assignment", la).map(Discovery::Static)
        }
        other => Err(ctx.unsupported(
            "type",
            format!(
                "discovery type {} (only EDS or STATIC)",
                other.as_str_name()
            ),
        )),
    }
}

/// The upstream HTTP version from `typed_extension_protocol_options`; none means HTTP/1.1.
fn protocol(ctx: Ctx<'_>, options: HashMap<String, Any>) -> Result<UpstreamProtocol, ConfigError> {
    let mut keys: Vec<_> = options.keys().cloned().collect();
    keys.sort();
    if let Some(key) = keys.iter().find(|k| *k != HTTP_PROTOCOL_OPTIONS_KEY) {
        return Err(ctx.unsupported(
            format!("typed_extension_protocol_options[{key:?}]"),
            "protocol options",
        ));
    }
    let Some(any) = options.get(HTTP_PROTOCOL_OPTIONS_KEY) else {
        return Ok(UpstreamProtocol::Http1);
    };
    let path = format!("typed_extension_protocol_options[{HTTP_PROTOCOL_OPTIONS_KEY:?}]");
    if any.type_url != HTTP_PROTOCOL_OPTIONS {
        return Err(ctx.unsupported_type(path, &any.type_url));
    }
    let HttpProtocolOptions {
        common_http_protocol_options,
        upstream_http_protocol_options,
        http_filters,
        header_validation_config,
        outlier_detection,
        request_mirror_policies,
        hash_policy,
        retry_policy,
        upstream_protocol_options,
    } = decode(ctx, &path, any)?;
    reject_set!(
        ctx,
        path,
        common_http_protocol_options,
        upstream_http_protocol_options,
        http_filters,
        header_validation_config,
        outlier_detection,
        request_mirror_policies,
        hash_policy,
        retry_policy,
    );
    use http_protocol_options::UpstreamProtocolOptions as U;
    use http_protocol_options::explicit_http_config::ProtocolConfig as P;
    let explicit = match upstream_protocol_options {
        Some(U::ExplicitHttpConfig(e)) => e,
        Some(U::UseDownstreamProtocolConfig(_)) => {
            return Err(ctx.unsupported(join(&path, "use_downstream_protocol_config"), "field"));
        }
        Some(U::AutoConfig(_)) => return Err(ctx.unsupported(join(&path, "auto_config"), "field")),
        None => return Err(ctx.missing(join(&path, "explicit_http_config"))),
    };
    let path = join(&path, "explicit_http_config");
    let settings = "protocol settings (only {})";
    match explicit.protocol_config {
        Some(P::HttpProtocolOptions(o)) if o == Default::default() => Ok(UpstreamProtocol::Http1),
        Some(P::Http2ProtocolOptions(o)) if o == Default::default() => Ok(UpstreamProtocol::Http2),
        Some(P::HttpProtocolOptions(_)) => {
            Err(ctx.unsupported(join(&path, "http_protocol_options"), settings))
        }
        Some(P::Http2ProtocolOptions(_)) => {
            Err(ctx.unsupported(join(&path, "http2_protocol_options"), settings))
        }
        Some(P::Http3ProtocolOptions(_)) => {
            Err(ctx.unsupported(join(&path, "http3_protocol_options"), "field"))
        }
        None => Err(ctx.missing(join(&path, "http2_protocol_options"))),
    }
}
