//! `ClusterLoadAssignment` (EDS) → [`ClusterEndpoints`]: endpoints by locality and priority, with
//! health, weight and Rigging's metadata.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::core::v3::{HealthStatus, Locality as XdsLocality, Metadata};
use envoy_types::pb::envoy::config::endpoint::v3 as xds;
use envoy_types::pb::google::protobuf::value::Kind;

use super::common::{Ctx, join, reject_set, require_name, socket_addr};
use crate::error::{ConfigError, ResourceKind};
use crate::types::{ClusterEndpoints, Endpoint, EndpointHealth, Locality};

/// The `filter_metadata` namespace whose string values become [`Endpoint::metadata`].
pub const METADATA_NAMESPACE: &str = "rigging";

impl TryFrom<xds::ClusterLoadAssignment> for ClusterEndpoints {
    type Error = ConfigError;

    fn try_from(cla: xds::ClusterLoadAssignment) -> Result<Self, ConfigError> {
        let cluster = cla.cluster_name.clone();
        let ctx = Ctx {
            kind: ResourceKind::ClusterLoadAssignment,
            name: &cluster,
        };
        require_name(ctx, "cluster_name", &cluster)?;
        let endpoints = locality_endpoints(ctx, "", cla)?;
        Ok(ClusterEndpoints {
            cluster: cluster.clone(),
            endpoints,
        })
    }
}

/// The endpoints of a load assignment, flattened; `path` is where it sits in its resource.
pub(super) fn locality_endpoints(
    ctx: Ctx<'_>,
    path: &str,
    cla: xds::ClusterLoadAssignment,
) -> Result<Vec<Endpoint>, ConfigError> {
    let xds::ClusterLoadAssignment {
        cluster_name: _,
        endpoints,
        named_endpoints,
        policy,
    } = cla;
    reject_set!(ctx, path, named_endpoints, policy);
    let mut out = Vec::new();
    for (i, group) in endpoints.into_iter().enumerate() {
        let p = join(path, &format!("endpoints[{i}]"));
        let xds::LocalityLbEndpoints {
            locality,
            metadata: _,
            lb_endpoints,
            // Locality weights only matter with locality-weighted balancing, which clusters reject.
            load_balancing_weight: _,
            priority,
            proximity,
            lb_config,
        } = group;
        reject_set!(ctx, p, proximity, lb_config);
        let locality = match locality {
            Some(XdsLocality {
                region,
                zone,
                sub_zone,
            }) => {
                reject_set!(ctx, join(&p, "locality"), sub_zone);
                Locality { region, zone }
            }
            None => Locality::default(),
        };
        for (j, lb) in lb_endpoints.into_iter().enumerate() {
            let p = format!("{p}.lb_endpoints[{j}]");
            out.push(lb_endpoint(ctx, &p, lb, locality.clone(), priority)?);
        }
    }
    Ok(out)
}

fn lb_endpoint(
    ctx: Ctx<'_>,
    path: &str,
    lb: xds::LbEndpoint,
    locality: Locality,
    priority: u32,
) -> Result<Endpoint, ConfigError> {
    let xds::LbEndpoint {
        health_status,
        metadata,
        load_balancing_weight,
        host_identifier,
    } = lb;
    let endpoint = match host_identifier {
        Some(xds::lb_endpoint::HostIdentifier::Endpoint(e)) => e,
        Some(xds::lb_endpoint::HostIdentifier::EndpointName(_)) => {
            return Err(ctx.unsupported(join(path, "endpoint_name"), "field"));
        }
        None => return Err(ctx.missing(join(path, "endpoint"))),
    };
    let ep_path = join(path, "endpoint");
    let xds::Endpoint {
        address,
        health_check_config,
        hostname: _,
        additional_addresses,
        observability_name: _,
    } = endpoint;
    reject_set!(ctx, ep_path, health_check_config, additional_addresses);
    let addr = socket_addr(ctx, &join(&ep_path, "address"), address)?;
    let health = match HealthStatus::try_from(health_status) {
        Ok(HealthStatus::Unknown) => EndpointHealth::Unknown,
        Ok(HealthStatus::Healthy) => EndpointHealth::Healthy,
        Ok(HealthStatus::Unhealthy | HealthStatus::Timeout) => EndpointHealth::Unhealthy,
        Ok(HealthStatus::Draining) => EndpointHealth::Draining,
        Ok(HealthStatus::Degraded) => EndpointHealth::Degraded,
        Err(_) => {
            return Err(ctx.invalid(
                join(path, "health_status"),
                format!("unknown value {health_status}"),
            ));
        }
    };
    let weight = match load_balancing_weight {
        None => 1,
        Some(w) if w.value == 0 => {
            return Err(ctx.invalid(join(path, "load_balancing_weight"), "must be at least 1"));
        }
        Some(w) => w.value,
    };
    let metadata = rigging_metadata(ctx, path, metadata)?;
    Ok(Endpoint {
        addr,
        health,
        locality,
        weight,
        metadata,
        priority,
    })
}

/// The string values of `metadata.filter_metadata["rigging"]`; other namespaces are informational.
fn rigging_metadata(
    ctx: Ctx<'_>,
    path: &str,
    metadata: Option<Metadata>,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let Some(s) = metadata.and_then(|mut m| m.filter_metadata.remove(METADATA_NAMESPACE)) else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (k, v) in s.fields {
        match v.kind {
            Some(Kind::StringValue(s)) => {
                out.insert(k, s);
            }
            _ => {
                return Err(ctx.invalid(
                    format!("{path}.metadata.filter_metadata[{METADATA_NAMESPACE:?}][{k:?}]"),
                    "not a string",
                ));
            }
        }
    }
    Ok(out)
}
