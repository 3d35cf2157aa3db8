//! `rig proxy`: the sidecar of one workload, or (`--gateway ingress`) an ingress gateway.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use std::sync::Arc;

use anyhow::Context;
use rigging_mesh_model::ServiceName;
use rigging_mesh_spiffe::{ExpectedPeer, SvidServerVerifier};
use rigging_pilot_server::IngressNode;
use rigging_proxy_app::{MeshTls, PilotTls, Proxy, ProxyOptions};
use rustls_pki_types::ServerName;

use crate::identity::{IdentityArgs, pilot_id};

/// Pilot's xDS address on the embedded defaults.
const DEFAULT_PILOT: &str = "http://127.0.0.1:15010";
/// Where a gateway's listeners bind unless told: loopback, so that nothing is exposed by
/// accident (and tests run anywhere); `--gateway-bind 0.0.0.0` opens them to the network.
const DEFAULT_GATEWAY_BIND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The gateways Consul knows; only ingress gateways are served so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GatewayKind {
    Ingress,
    Terminating,
}

#[derive(Debug, clap::Args)]
pub struct ProxyArgs {
    /// This proxy's id towards Pilot (xDS node.id): the instance id in the registry; for a
    /// gateway, its name (the Name of its `ingress-gateway` config entry).
    #[arg(long, env = "RIG_PROXY_ID")]
    id: String,
    /// Run as a gateway of this kind instead of a sidecar: its listeners are the ports of
    /// the config entry named `--id`.
    #[arg(long, env = "RIG_GATEWAY", value_enum)]
    gateway: Option<GatewayKind>,
    /// The address a gateway's listeners bind.
    #[arg(long, env = "RIG_GATEWAY_BIND", default_value_t = DEFAULT_GATEWAY_BIND)]
    gateway_bind: IpAddr,
    /// Pilot's xDS address.
    #[arg(long, env = "RIG_PILOT", default_value = DEFAULT_PILOT)]
    pilot: String,
    /// Admin listener: /ready, /metrics, /config_dump.
    #[arg(long, env = "RIG_ADMIN_ADDR", default_value_t = rigging_proxy_app::DEFAULT_ADMIN_ADDR)]
    admin: SocketAddr,
    /// Threads carrying traffic (default: one per CPU this process may run on, so
    /// `taskset -c 1 rig proxy …` runs one).
    #[arg(long, env = "RIG_PROXY_WORKERS")]
    pub workers: Option<std::num::NonZeroUsize>,
    #[command(flatten)]
    identity: IdentityArgs,
}

pub async fn run(args: ProxyArgs) -> anyhow::Result<ExitCode> {
    let gateway = gateway_node(&args)?;
    let node_id = gateway
        .as_ref()
        .map_or_else(|| args.id.clone(), ToString::to_string);
    let mut opts = ProxyOptions::new(node_id, args.pilot);
    if let Some(node) = &gateway {
        // Envoy's convention: node.cluster is the service, the gateway's own name.
        opts.node_cluster = node.name.to_string();
    }
    opts.admin_addr = args.admin;
    // The certificate comes first: without it the proxy can neither reach a Pilot that
    // requires mTLS nor serve its mTLS listeners.
    if let Some(identity) = crate::identity::start(&args.identity).await? {
        tracing::info!(id = %identity.id, "workload identity ready");
        if let Some(node) = &gateway {
            anyhow::ensure!(
                identity.id.service_name() == Some(node.name.as_str()),
                "the workload certificate is {}, but a gateway's identity is its own service {}: Pilot would refuse it",
                identity.id,
                node.name
            );
        }
        opts.pilot_tls = Some(pilot_tls(&identity)?);
        opts.tls = Some(Arc::new(MeshTls::new(
            identity.store.clone(),
            identity.id.trust_domain(),
        )));
    } else {
        tracing::warn!("no workload credential configured: running without mTLS");
    }
    let proxy = Proxy::start(opts).await?;
    match &gateway {
        Some(node) => {
            tracing::info!(admin = %proxy.admin_addr(), node = %node, "ingress gateway started; Ctrl-C stops it");
        }
        None => tracing::info!(admin = %proxy.admin_addr(), "proxy started; Ctrl-C stops it"),
    }
    crate::control::shutdown_signal().await;
    tracing::info!("draining");
    proxy.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The gateway `args` ask for, as Pilot names it; `None` for a sidecar.
fn gateway_node(args: &ProxyArgs) -> anyhow::Result<Option<IngressNode>> {
    match args.gateway {
        None => Ok(None),
        Some(GatewayKind::Terminating) => anyhow::bail!(
            "--gateway terminating is not supported yet: Rigging serves ingress gateways only"
        ),
        Some(GatewayKind::Ingress) => {
            let name = ServiceName::new(args.id.as_str())
                .with_context(|| format!("--id {:?}: a gateway's name", args.id))?;
            Ok(Some(IngressNode::new(name, args.gateway_bind)))
        }
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

    fn node(args: &[&str]) -> anyhow::Result<Option<IngressNode>> {
        let cli = Cli::try_parse_from(std::iter::once("proxy").chain(args.iter().copied()))?;
        gateway_node(&cli.proxy)
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
        let err = node(&["--id", "out", "--gateway", "terminating"]).err();
        assert!(
            err.is_some_and(|e| e.to_string().contains("not supported yet")),
            "terminating gateways are refused"
        );
        assert!(node(&["--id", "edge~x", "--gateway", "ingress"]).is_err());
        assert!(node(&["--id", "edge", "--gateway", "mesh"]).is_err());
        Ok(())
    }
}
