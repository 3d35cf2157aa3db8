//! `rig proxy`: the sidecar of one workload, or (`--gateway ingress|terminating`) a gateway.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use rigging_mesh_model::ServiceName;
use rigging_mesh_spiffe::{ExpectedPeer, SvidServerVerifier};
use rigging_pilot_server::{IngressNode, NodeId, TerminatingNode};
use rigging_proxy_app::{MeshTls, PilotTls, Proxy, ProxyHandle, ProxyOptions};
use rigging_proxy_sds::{Sds, SdsClusters, SdsEndpoint, parse_sds_cluster};
use rustls_pki_types::ServerName;

use crate::identity::{IdentityArgs, pilot_id};

/// Pilot's xDS address on the embedded defaults.
const DEFAULT_PILOT: &str = "http://127.0.0.1:15010";
/// Where a gateway's listeners bind unless told: loopback, so that nothing is exposed by
/// accident (and tests run anywhere); `--gateway-bind 0.0.0.0` opens them to the network.
const DEFAULT_GATEWAY_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The gateways Rigging serves: Consul's ingress and terminating gateways.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GatewayKind {
    Ingress,
    Terminating,
}

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// This proxy's id towards Pilot (xDS node.id): the instance id in the registry; for a
    /// gateway, its name (the Name of its `ingress-gateway` or `terminating-gateway` config
    /// entry, and of its service). Not needed with --service-def.
    #[arg(long, env = "RIG_PROXY_ID", required_unless_present = "service_defs")]
    id: Option<String>,
    /// Run as a gateway of this kind instead of a sidecar: its listeners are the ports of
    /// the config entry named `--id`.
    #[arg(long, env = "RIG_GATEWAY", value_enum)]
    gateway: Option<GatewayKind>,
    /// The address a gateway's listeners bind. A terminating gateway listens on the port of
    /// its service's registered instance at this address.
    #[arg(long, env = "RIG_GATEWAY_BIND", default_value_t = DEFAULT_GATEWAY_BIND)]
    gateway_bind: IpAddr,
    /// Pilot's xDS address.
    #[arg(long, env = "RIG_PILOT", default_value = DEFAULT_PILOT)]
    pilot: String,
    /// An SDS server an ingress gateway may take TLS certificates from, as NAME=ADDRESS
    /// (`host:port` on loopback, plaintext gRPC): NAME is the `ClusterName` of the entry's
    /// `TLS.SDS`. Repeat for several.
    #[arg(long = "sds-cluster", value_name = "NAME=ADDRESS", value_parser = parse_sds_cluster)]
    sds_clusters: Vec<(String, SdsEndpoint)>,
    /// Admin listener: /ready, /metrics, /config_dump.
    #[arg(long, env = "RIG_ADMIN_ADDR", default_value_t = rigging_proxy_app::DEFAULT_ADMIN_ADDR)]
    admin: SocketAddr,
    /// Threads carrying traffic (default: one per CPU this process may run on, so
    /// `taskset -c 1 rig proxy …` runs one).
    #[arg(long, env = "RIG_PROXY_WORKERS")]
    pub workers: Option<std::num::NonZeroUsize>,
    #[command(flatten)]
    identity: IdentityArgs,
    #[command(flatten)]
    vm: crate::vm::VmArgs,
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let session =
        crate::vm::Session::resolve(&args.vm, args.id.as_deref(), args.gateway.is_some()).await?;
    session.run(|id, service| start(args, id, service)).await
}

/// Starts the proxy `id` (a VM sidecar fronting `service`, when known): certificate first,
/// then Pilot. Returns once it runs.
async fn start(
    args: ProxyArgs,
    id: String,
    service: Option<String>,
) -> anyhow::Result<ProxyHandle> {
    let gateway = gateway_node(args.gateway, &id, args.gateway_bind)?;
    let node_id = gateway.as_ref().map_or(id, ToString::to_string);
    let mut opts = ProxyOptions::new(node_id, args.pilot);
    // Envoy's convention: node.cluster is the service (a gateway's own name).
    let service = gateway
        .as_ref()
        .and_then(gateway_name)
        .map(ToString::to_string)
        .or(service);
    if let Some(name) = &service {
        opts.node_cluster = name.clone();
    }
    opts.admin_addr = args.admin;
    if !args.sds_clusters.is_empty() {
        let clusters = SdsClusters::new(args.sds_clusters)?;
        opts.sds = Some(Sds::new(
            clusters,
            opts.node_id.clone(),
            opts.node_cluster.clone(),
        ));
    }
    // The certificate comes first: without it the proxy can neither reach a Pilot that
    // requires mTLS nor serve its mTLS listeners.
    if let Some(identity) = crate::identity::start(&args.identity).await? {
        tracing::info!(id = %identity.id, "workload identity ready");
        if let Some(name) = &service {
            anyhow::ensure!(
                identity.id.service_name() == Some(name.as_str()),
                "the workload certificate is {}, but {} {}: Pilot would refuse it",
                identity.id,
                if gateway.is_some() {
                    "a gateway's identity is its own service"
                } else {
                    "this proxy fronts the service"
                },
                name
            );
        }
        opts.pilot_tls = Some(pilot_tls(&identity)?);
        opts.tls = Some(Arc::new(
            MeshTls::new(identity.store.clone(), identity.id.trust_domain())
                .with_renewal(identity.renew.clone()),
        ));
    } else {
        tracing::warn!("no workload credential configured: running without mTLS");
    }
    Ok(Proxy::start(opts).await?)
}

/// The gateway `kind` named `id` on `bind`, as Pilot names it; `None` for a sidecar.
fn gateway_node(
    kind: Option<GatewayKind>,
    id: &str,
    bind: IpAddr,
) -> anyhow::Result<Option<NodeId>> {
    let Some(kind) = kind else {
        return Ok(None);
    };
    let name = ServiceName::new(id).with_context(|| format!("--id {id:?}: a gateway's name"))?;
    Ok(Some(match kind {
        GatewayKind::Ingress => NodeId::Ingress(IngressNode::new(name, bind)),
        GatewayKind::Terminating => NodeId::Terminating(TerminatingNode::new(name, bind)),
    }))
}

/// A gateway's name: its config entry's, its service's.
fn gateway_name(node: &NodeId) -> Option<&ServiceName> {
    match node {
        NodeId::Sidecar(_) => None,
        NodeId::Ingress(n) => Some(&n.name),
        NodeId::Terminating(n) => Some(&n.name),
    }
}

/// mTLS to Pilot with the workload certificate, Pilot's certificate checked against its SPIFFE
/// ID in our trust domain and datacenter.
fn pilot_tls(identity: &crate::identity::Identity) -> anyhow::Result<PilotTls> {
    let verifier = Arc::new(SvidServerVerifier::new(
        identity.store.bundle().clone(),
        ExpectedPeer::Id(pilot_id(&identity.id)?),
    ));
    let mut config = rigging_mesh_spiffe::config::client_config(verifier, identity.store.clone())
        .context("tls to pilot")?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    let name = ServerName::try_from(crate::identity::PILOT_SERVICE).context("pilot's name")?;
    Ok(PilotTls::new(Arc::new(config), name))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        proxy: ProxyArgs,
    }

    fn node(args: &[&str]) -> anyhow::Result<Option<NodeId>> {
        let cli = Cli::try_parse_from(std::iter::once("proxy").chain(args.iter().copied()))?;
        let p = cli.proxy;
        gateway_node(
            p.gateway,
            p.id.as_deref().unwrap_or_default(),
            p.gateway_bind,
        )
    }

    #[test]
    fn gateway_flags() -> anyhow::Result<()> {
        assert_eq!(node(&["--id", "web-1"])?, None);
        let gw = node(&["--id", "edge", "--gateway", "ingress"])?;
        assert_eq!(
            gw.map(|n| n.to_string()).as_deref(),
            Some("ingress-gateway~127.0.0.1~edge")
        );
        let gw = node(&[
            "--id",
            "edge",
            "--gateway",
            "ingress",
            "--gateway-bind",
            "0.0.0.0",
        ])?;
        assert_eq!(
            gw.map(|n| n.to_string()).as_deref(),
            Some("ingress-gateway~0.0.0.0~edge")
        );
        let gw = node(&["--id", "out", "--gateway", "terminating"])?;
        assert_eq!(
            gw.map(|n| n.to_string()).as_deref(),
            Some("terminating-gateway~127.0.0.1~out")
        );
        assert!(node(&["--id", "edge~x", "--gateway", "ingress"]).is_err());
        assert!(node(&["--id", "edge", "--gateway", "mesh"]).is_err());
        Ok(())
    }
}
