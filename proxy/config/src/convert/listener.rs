//! `Listener` (LDS) → [`Listener`]: one filter chain holding an HTTP connection manager or a TCP
//! proxy, plaintext or mesh mTLS; or, behind the TLS inspector, two such chains (mTLS and
//! plaintext) doing the same thing, for a permissive inbound listener, or mTLS TCP proxy
//! chains picked by server name, for a terminating gateway.

use envoy_types::pb::envoy::config::core::v3::TrafficDirection;
use envoy_types::pb::envoy::config::listener::v3 as xds;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use rigging_mesh_xds::{HTTP_CONNECTION_MANAGER, TCP_PROXY};

use super::common::{Ctx, decode, join, reject_set, require_name, socket_addr};
use super::hcm;
use super::tls::{self, Downstream, TransportMatch};
use crate::error::{ConfigError, ResourceKind};
use crate::types::{
    Direction, InboundTls, InboundTlsMode, Listener, ListenerKind, SniRoute, TlsClients,
};

mod public_sni;
mod sni;

use sni::{sni, unique_names};

/// One converted filter chain, before the chains of a listener are checked against each other.
#[derive(Debug)]
struct Chain {
    /// `filter_chains[i]`, for errors.
    path: String,
    /// What the chain matches behind the TLS inspector; `None` without one.
    transport: Option<TransportMatch>,
    /// The server names it matches (an SNI listener's chain); empty otherwise.
    server_names: Vec<String>,
    kind: ListenerKind,
    /// The TLS it terminates; `None` for plaintext.
    tls: Option<Downstream>,
}

impl TryFrom<xds::Listener> for Listener {
    type Error = ConfigError;

    #[allow(deprecated)]
    fn try_from(l: xds::Listener) -> Result<Self, ConfigError> {
        let xds::Listener {
            name,
            address,
            additional_addresses,
            stat_prefix: _,
            stats_matcher: _,
            filter_chains,
            fcds_config,
            filter_chain_matcher,
            use_original_dst,
            default_filter_chain,
            per_connection_buffer_limit_bytes,
            per_connection_buffer_high_watermark_timeout,
            metadata: _,
            deprecated_v1,
            drain_type,
            listener_filters,
            listener_filters_timeout,
            continue_on_listener_filters_timeout,
            transparent,
            freebind,
            socket_options,
            tcp_fast_open_queue_length,
            traffic_direction,
            udp_listener_config,
            api_listener,
            connection_balance_config,
            reuse_port,
            enable_reuse_port,
            access_log,
            tcp_backlog_size,
            max_connections_to_accept_per_socket_event,
            bind_to_port,
            enable_mptcp,
            ignore_global_conn_limit,
            bypass_overload_manager,
            tcp_keepalive,
            listener_specifier,
        } = l;
        let ctx = Ctx {
            kind: ResourceKind::Listener,
            name: &name,
        };
        require_name(ctx, "name", &name)?;
        reject_set!(
            ctx,
            "",
            additional_addresses,
            fcds_config,
            filter_chain_matcher,
            use_original_dst,
            default_filter_chain,
            per_connection_buffer_limit_bytes,
            per_connection_buffer_high_watermark_timeout,
            deprecated_v1,
            drain_type,
            listener_filters_timeout,
            continue_on_listener_filters_timeout,
            transparent,
            freebind,
            socket_options,
            tcp_fast_open_queue_length,
            udp_listener_config,
            api_listener,
            connection_balance_config,
            reuse_port,
            enable_reuse_port,
            access_log,
            tcp_backlog_size,
            max_connections_to_accept_per_socket_event,
            bind_to_port,
            enable_mptcp,
            ignore_global_conn_limit,
            bypass_overload_manager,
            tcp_keepalive,
            listener_specifier,
        );
        let addr = socket_addr(ctx, "address", address)?;
        let direction = direction(ctx, traffic_direction)?;
        let inspected = match <[xds::ListenerFilter; 1]>::try_from(listener_filters) {
            Ok([filter]) => {
                tls::tls_inspector(ctx, "listener_filters[0]", filter)?;
                true
            }
            Err(filters) if filters.is_empty() => false,
            Err(filters) => {
                return Err(ctx.unsupported(
                    "listener_filters",
                    format!(
                        "{} listener filters (only the tls_inspector)",
                        filters.len()
                    ),
                ));
            }
        };
        let (kind, tls) = chains(ctx, filter_chains, inspected, direction)?;
        Ok(Listener {
            tls,
            name,
            addr,
            direction,
            kind,
        })
    }
}

/// `traffic_direction`, or when unspecified the direction XDS.md's naming gives.
fn direction(ctx: Ctx<'_>, traffic_direction: i32) -> Result<Direction, ConfigError> {
    match TrafficDirection::try_from(traffic_direction) {
        Ok(TrafficDirection::Inbound) => Ok(Direction::Inbound),
        Ok(TrafficDirection::Outbound) => Ok(Direction::Outbound),
        Ok(TrafficDirection::Unspecified) if ctx.name.starts_with("inbound:") => {
            Ok(Direction::Inbound)
        }
        Ok(TrafficDirection::Unspecified) if ctx.name.starts_with("outbound:") => {
            Ok(Direction::Outbound)
        }
        Ok(TrafficDirection::Unspecified) => Err(ctx.missing("traffic_direction")),
        Err(_) => Err(ctx.invalid(
            "traffic_direction",
            format!("unknown value {traffic_direction}"),
        )),
    }
}

/// The listener's chains: one, plaintext or strict mTLS; or, behind the TLS inspector, a
/// permissive pair or an SNI listener's chains.
fn chains(
    ctx: Ctx<'_>,
    chains: Vec<xds::FilterChain>,
    inspected: bool,
    direction: Direction,
) -> Result<(ListenerKind, Option<InboundTls>), ConfigError> {
    let convert = |i: usize, chain| {
        filter_chain(
            ctx,
            format!("filter_chains[{i}]"),
            chain,
            inspected,
            direction,
        )
    };
    if !inspected {
        return match <[xds::FilterChain; 1]>::try_from(chains) {
            Ok([chain]) => {
                let chain = convert(0, chain)?;
                let tls = chain.tls.map(|t| InboundTls {
                    mode: InboundTlsMode::Strict,
                    alpn: t.alpn,
                    clients: t.clients,
                });
                Ok((chain.kind, tls))
            }
            Err(chains) if chains.is_empty() => Err(ctx.missing("filter_chains")),
            Err(chains) => Err(ctx.unsupported(
                "filter_chains",
                format!(
                    "{} filter chains (only one, or two behind the tls_inspector)",
                    chains.len()
                ),
            )),
        };
    }
    let names_servers = |c: &xds::FilterChain| {
        c.filter_chain_match
            .as_ref()
            .is_some_and(|m| !m.server_names.is_empty())
    };
    if chains.iter().any(names_servers) {
        let chains = chains
            .into_iter()
            .enumerate()
            .map(|(i, c)| convert(i, c))
            .collect::<Result<Vec<_>, _>>()?;
        return sni(ctx, chains);
    }
    match <[xds::FilterChain; 2]>::try_from(chains) {
        Ok([a, b]) => permissive(ctx, convert(0, a)?, convert(1, b)?),
        Err(chains) if chains.is_empty() => Err(ctx.missing("filter_chains")),
        Err(chains) => Err(ctx.unsupported(
            "filter_chains",
            format!(
                "{} filter chains behind the tls_inspector (only two: one for {}, one for {})",
                chains.len(),
                TransportMatch::Tls.as_str(),
                TransportMatch::RawBuffer.as_str(),
            ),
        )),
    }
}

/// A permissive listener: an mTLS chain and a plaintext chain that hand connections to the same
/// place, in either order.
fn permissive(
    ctx: Ctx<'_>,
    a: Chain,
    b: Chain,
) -> Result<(ListenerKind, Option<InboundTls>), ConfigError> {
    let (first, second) = (a.path.clone(), b.path.clone());
    let (secure, plain) = match (a.transport, b.transport) {
        (Some(TransportMatch::Tls), Some(TransportMatch::RawBuffer)) => (a, b),
        (Some(TransportMatch::RawBuffer), Some(TransportMatch::Tls)) => (b, a),
        (_, other) => {
            let other = other.map_or("", TransportMatch::as_str);
            return Err(ctx.invalid(
                join(&second, "filter_chain_match.transport_protocol"),
                format!(
                    "{other:?} again; a permissive listener has one chain for {} and one for {}",
                    TransportMatch::Tls.as_str(),
                    TransportMatch::RawBuffer.as_str(),
                ),
            ));
        }
    };
    if plain.tls.is_some() {
        return Err(ctx.invalid(
            join(&plain.path, "transport_socket"),
            "the raw_buffer chain of a permissive listener must be plaintext",
        ));
    }
    let alpn = mesh_alpn(ctx, &secure.path, secure.tls)?;
    if secure.kind != plain.kind {
        return Err(ctx.invalid(
            join(&second, "filters"),
            format!(
                "differ from {first}.filters; both chains of a permissive listener must do the same"
            ),
        ));
    }
    let tls = InboundTls {
        mode: InboundTlsMode::Permissive,
        alpn,
        clients: TlsClients::Mesh,
    };
    Ok((secure.kind, Some(tls)))
}

#[allow(deprecated)]
fn filter_chain(
    ctx: Ctx<'_>,
    path: String,
    chain: xds::FilterChain,
    inspected: bool,
    direction: Direction,
) -> Result<Chain, ConfigError> {
    let xds::FilterChain {
        filter_chain_match,
        filters,
        use_proxy_proto,
        metadata: _,
        transport_socket,
        transport_socket_connect_timeout,
        name: _,
    } = chain;
    reject_set!(ctx, path, use_proxy_proto, transport_socket_connect_timeout);
    let (transport, server_names) = if inspected {
        let field = join(&path, "filter_chain_match");
        let (transport, names) = tls::transport_match(ctx, &field, filter_chain_match)?;
        (Some(transport), names)
    } else {
        reject_set!(ctx, path, filter_chain_match);
        (None, Vec::new())
    };
    let field = join(&path, "transport_socket");
    let tls = tls::downstream(ctx, &field, transport_socket)?;
    match (tls.as_ref().map(|t| &t.clients), direction) {
        (Some(TlsClients::Mesh), Direction::Outbound) => {
            return Err(ctx.unsupported(
                field,
                "mTLS on an outbound listener (the proxy terminates mesh mTLS only inbound)",
            ));
        }
        (Some(TlsClients::Public(_)), Direction::Inbound) => {
            return Err(ctx.unsupported(
                field,
                "TLS without client certificates on an inbound listener (mesh peers always present one; only an ingress gateway's listeners serve public TLS)",
            ));
        }
        _ => {}
    }
    let count = filters.len();
    let mut kinds = filters
        .into_iter()
        .enumerate()
        .map(|(i, f)| network_filter(ctx, &format!("{path}.filters[{i}]"), f))
        .collect::<Result<Vec<_>, _>>()?;
    let kind = match kinds.pop() {
        Some(kind) if count == 1 => kind,
        Some(_) => {
            return Err(ctx.unsupported(
                join(&path, "filters"),
                format!("{count} network filters (only one)"),
            ));
        }
        None => return Err(ctx.missing(join(&path, "filters"))),
    };
    Ok(Chain {
        path,
        transport,
        server_names,
        kind,
        tls,
    })
}

/// The ALPN of a chain that must terminate mesh mTLS (a permissive or SNI listener's).
fn mesh_alpn(
    ctx: Ctx<'_>,
    path: &str,
    tls: Option<Downstream>,
) -> Result<Vec<String>, ConfigError> {
    match tls {
        Some(Downstream {
            alpn,
            clients: TlsClients::Mesh,
        }) => Ok(alpn),
        Some(_) => Err(ctx.unsupported(
            join(path, "transport_socket"),
            "TLS without client certificates here (only mesh mTLS)",
        )),
        None => Err(ctx.missing(join(path, "transport_socket"))),
    }
}

fn network_filter(ctx: Ctx<'_>, path: &str, f: xds::Filter) -> Result<ListenerKind, ConfigError> {
    let field = join(path, "typed_config");
    let any = match f.config_type {
        Some(xds::filter::ConfigType::TypedConfig(any)) => any,
        Some(xds::filter::ConfigType::ConfigDiscovery(_)) => {
            return Err(ctx.unsupported(join(path, "config_discovery"), "field"));
        }
        None => return Err(ctx.missing(field)),
    };
    match any.type_url.as_str() {
        HTTP_CONNECTION_MANAGER => {
            let hcm = decode(ctx, &field, &any)?;
            hcm::route_config(ctx, &field, hcm).map(|h| ListenerKind::Http {
                route_config: h.route_config,
                websocket: h.websocket,
                fault_filter: h.fault_filter,
            })
        }
        TCP_PROXY => tcp_proxy(ctx, &field, decode(ctx, &field, &any)?),
        other => Err(ctx.unsupported_type(field, other)),
    }
}

#[allow(deprecated)]
fn tcp_proxy(ctx: Ctx<'_>, path: &str, t: TcpProxy) -> Result<ListenerKind, ConfigError> {
    let TcpProxy {
        stat_prefix: _,
        on_demand,
        metadata_match,
        idle_timeout,
        downstream_idle_timeout,
        upstream_idle_timeout,
        access_log,
        max_connect_attempts,
        backoff_options,
        hash_policy,
        tunneling_config,
        max_downstream_connection_duration,
        max_downstream_connection_duration_jitter_percentage,
        access_log_flush_interval,
        flush_access_log_on_connected,
        access_log_options,
        proxy_protocol_tlvs,
        proxy_protocol_tlv_merge_policy,
        upstream_connect_mode,
        max_early_data_bytes,
        check_drain_close,
        cluster_specifier,
    } = t;
    reject_set!(
        ctx,
        path,
        on_demand,
        metadata_match,
        idle_timeout,
        downstream_idle_timeout,
        upstream_idle_timeout,
        access_log,
        max_connect_attempts,
        backoff_options,
        hash_policy,
        tunneling_config,
        max_downstream_connection_duration,
        max_downstream_connection_duration_jitter_percentage,
        access_log_flush_interval,
        flush_access_log_on_connected,
        access_log_options,
        proxy_protocol_tlvs,
        proxy_protocol_tlv_merge_policy,
        upstream_connect_mode,
        max_early_data_bytes,
        check_drain_close,
    );
    match cluster_specifier {
        Some(tcp_proxy::ClusterSpecifier::Cluster(cluster)) if !cluster.is_empty() => {
            Ok(ListenerKind::Tcp { cluster })
        }
        Some(tcp_proxy::ClusterSpecifier::WeightedClusters(_)) => {
            Err(ctx.unsupported(join(path, "weighted_clusters"), "field"))
        }
        _ => Err(ctx.missing(join(path, "cluster"))),
    }
}
