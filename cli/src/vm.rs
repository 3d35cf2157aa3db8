//! `rig proxy --service-def`: the sidecar of a service on a plain VM, taken from the Consul
//! service definitions the VM already has (`/etc/consul.d/*.hcl`), optionally registered
//! with the local Consul agent for as long as the proxy runs.
//!
//! The proxy id is the sidecar's service ID exactly as Consul's agent registers it
//! (`<service-id>-sidecar-proxy`, or a `connect-proxy` registration's own ID), so Pilot's
//! Consul registry maps that registration to this process.

use std::collections::BTreeSet;
use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rigging_mesh_service_definition::{
    AgentClient, AgentConfig, DEFAULT_AGENT_ADDRESS, DestinationType, Endpoint, PlanOptions,
    ServiceDefinition, ServiceKind, ServiceRegistration, SidecarPlan, SidecarSource, load_file,
    plan_sidecars,
};
use rigging_proxy_app::ProxyHandle;

#[cfg(test)]
mod tests;

/// Where the sidecar's definition comes from on a VM, and whether to register it.
#[derive(Debug, Clone, clap::Args)]
pub struct VmArgs {
    /// A Consul service definition file (HCL or JSON, as `consul services register` takes);
    /// repeatable. The proxy runs the sidecar it declares, under the ID Consul gives that
    /// sidecar (`<service-id>-sidecar-proxy`), so --id is not needed.
    #[arg(long = "service-def", value_name = "FILE")]
    pub service_defs: Vec<PathBuf>,
    /// The service (name or ID) whose sidecar to run, when the definitions declare several.
    #[arg(long, requires = "service_defs")]
    pub service: Option<String>,
    /// Register the service and its sidecar with the local Consul agent before starting,
    /// and deregister them on shutdown (Ctrl-C, SIGTERM).
    #[arg(long, requires = "service_defs")]
    pub register: bool,
    /// The local Consul agent's HTTP API, for --register.
    #[arg(long, env = "CONSUL_HTTP_ADDR", default_value = DEFAULT_AGENT_ADDRESS)]
    pub consul: String,
    /// Consul ACL token for --register (needs `service:write` on the service and its
    /// sidecar); a definition's own `token` wins for its registration.
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    pub consul_token: Option<String>,
    /// PEM file of the CA that signed the agent's HTTPS certificate.
    #[arg(long, env = "CONSUL_CACERT")]
    pub consul_ca_file: Option<PathBuf>,
}

/// One run of `rig proxy`: which proxy it is, and (on a VM with --register) what it
/// registered with Consul's agent, undone on shutdown.
#[derive(Debug)]
pub struct Session {
    proxy_id: String,
    /// The sidecar planned from `--service-def`; `None` for a proxy started by `--id`.
    plan: Option<SidecarPlan>,
    /// With --register: the agent, and the destination service to register beside a
    /// `connect-proxy` registration when the files hold it too.
    agent: Option<(AgentClient, Option<Destination>)>,
}

/// The service a `connect-proxy` registration fronts, registered beside it.
#[derive(Debug)]
struct Destination {
    id: String,
    body: ServiceRegistration,
    token: Option<String>,
}

impl Session {
    /// The proxy `--id` / `--service-def` describe. With --register the agent is asked which
    /// ports its other services hold, so the sidecar's port is one Consul would pick.
    pub async fn resolve(args: &VmArgs, id: Option<&str>, gateway: bool) -> anyhow::Result<Self> {
        if args.service_defs.is_empty() {
            let id = id.context(
                "rig proxy needs --id, or --service-def with a Consul service definition",
            )?;
            return Ok(Self {
                proxy_id: id.to_owned(),
                plan: None,
                agent: None,
            });
        }
        anyhow::ensure!(
            !gateway,
            "--gateway does not go with --service-def: a gateway is named by --id"
        );
        let defs = load_definitions(&args.service_defs)?;
        let mut opts = PlanOptions::default();
        let agent = if args.register {
            let client = AgentClient::new(&agent_config(args))?;
            opts.reserved_ports = reserved_ports(&client, &defs).await?;
            Some(client)
        } else {
            None
        };
        let files = file_list(&args.service_defs);
        let plans = plan_sidecars(&defs, &opts).with_context(|| format!("planning {files}"))?;
        let plan = choose(plans, args.service.as_deref(), &files)?;
        check_runnable(&plan)?;
        if let Some(id) = id {
            anyhow::ensure!(
                id == plan.sidecar_id,
                "--id {id:?} is not the sidecar {:?} that {files} declares for {:?}: Pilot knows a Consul sidecar by its service ID; drop --id",
                plan.sidecar_id,
                plan.service_name
            );
        }
        tracing::info!(
            service = %plan.service_name,
            proxy_id = %plan.sidecar_id,
            sidecar_port = plan.sidecar_port,
            port_assigned = plan.port_assigned,
            local_app = ?plan.local_app,
            upstreams = plan.upstreams.len(),
            "sidecar planned from {files}"
        );
        let agent = agent.map(|client| (client, destination(&plan, &defs)));
        Ok(Self {
            proxy_id: plan.sidecar_id.clone(),
            plan: Some(plan),
            agent,
        })
    }

    /// The service a VM sidecar fronts (its certificate must be for it).
    pub fn service(&self) -> Option<&str> {
        self.plan.as_ref().map(|p| p.service_name.as_str())
    }

    /// Registers (with --register), starts the proxy with `start(proxy id, service)`, runs it
    /// until Ctrl-C or SIGTERM, deregisters, then drains.
    pub async fn run<F, Fut>(self, start: F) -> anyhow::Result<ExitCode>
    where
        F: FnOnce(String, Option<String>) -> Fut,
        Fut: Future<Output = anyhow::Result<ProxyHandle>>,
    {
        self.run_until(start, crate::control::shutdown_signal())
            .await
    }

    /// [`Session::run`] with the shutdown as a future.
    async fn run_until<F, Fut>(
        self,
        start: F,
        shutdown: impl Future<Output = ()>,
    ) -> anyhow::Result<ExitCode>
    where
        F: FnOnce(String, Option<String>) -> Fut,
        Fut: Future<Output = anyhow::Result<ProxyHandle>>,
    {
        self.register().await?;
        let mut shutdown = std::pin::pin!(shutdown);
        // A signal while the proxy still waits for its certificate must deregister too.
        let started = tokio::select! {
            started = start(self.proxy_id.clone(), self.service().map(str::to_owned)) => started,
            () = &mut shutdown => {
                tracing::info!("stopped before the proxy was ready");
                return self.deregister().await.map(|()| ExitCode::SUCCESS);
            }
        };
        let proxy = match started {
            Ok(proxy) => proxy,
            Err(e) => {
                if let Err(de) = self.deregister().await {
                    tracing::error!("{de:#}");
                }
                return Err(e);
            }
        };
        tracing::info!(admin = %proxy.admin_addr(), id = %self.proxy_id, "proxy started; Ctrl-C stops it");
        shutdown.await;
        // Out of Consul first, so callers stop picking this instance while it drains.
        let deregistered = self.deregister().await;
        tracing::info!("draining");
        proxy.shutdown().await;
        deregistered.map(|()| ExitCode::SUCCESS)
    }

    /// With --register: the service and its sidecar (or the proxy and, when the files hold
    /// it, its service) at the agent.
    async fn register(&self) -> anyhow::Result<()> {
        let (Some((client, dest)), Some(plan)) = (&self.agent, &self.plan) else {
            return Ok(());
        };
        if let Some(d) = dest {
            client
                .register(&d.body, d.token.as_deref())
                .await
                .with_context(|| format!("registering {:?} with Consul", d.id))?;
        }
        client.register_plan(plan).await.with_context(|| {
            format!(
                "registering {:?} and its sidecar with Consul",
                plan.service_name
            )
        })?;
        tracing::info!(
            service_id = %plan.service_id,
            sidecar_id = %plan.sidecar_id,
            sidecar_port = plan.sidecar_port,
            "registered with the Consul agent; deregistered on shutdown"
        );
        Ok(())
    }

    /// Undoes [`Session::register`]: the agent drops a nested sidecar with its service.
    async fn deregister(&self) -> anyhow::Result<()> {
        let (Some((client, dest)), Some(plan)) = (&self.agent, &self.plan) else {
            return Ok(());
        };
        let mut ids = vec![match plan.source {
            SidecarSource::Nested => plan.service_id.as_str(),
            _ => plan.sidecar_id.as_str(),
        }];
        ids.extend(dest.as_ref().map(|d| d.id.as_str()));
        for id in ids {
            client
                .deregister(id)
                .await
                .with_context(|| format!("deregistering {id:?} from Consul"))?;
        }
        tracing::info!(service_id = %plan.service_id, sidecar_id = %plan.sidecar_id, "deregistered from the Consul agent");
        Ok(())
    }
}

/// How to reach the agent, from the flags.
fn agent_config(args: &VmArgs) -> AgentConfig {
    // CONSUL_HTTP_ADDR is often written without a scheme (`127.0.0.1:8500`), as Consul takes it.
    let address = if args.consul.contains("://") {
        args.consul.clone()
    } else {
        format!("http://{}", args.consul)
    };
    let mut config = AgentConfig::new(address);
    config.token = args.consul_token.clone();
    config.ca_file = args.consul_ca_file.clone();
    config
}

/// Every definition of `paths`, in order; every file's located errors at once.
fn load_definitions(paths: &[PathBuf]) -> anyhow::Result<Vec<ServiceDefinition>> {
    let mut defs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match load_file(path) {
            Ok(parsed) => {
                for w in &parsed.warnings {
                    tracing::warn!("{w}");
                }
                defs.extend(parsed.services);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    anyhow::ensure!(
        errors.is_empty(),
        "invalid service definition:\n{}",
        errors.join("\n")
    );
    Ok(defs)
}

/// The ports the agent's other services hold (not those these files define, which are
/// re-registered with the same plan).
async fn reserved_ports(
    client: &AgentClient,
    defs: &[ServiceDefinition],
) -> anyhow::Result<BTreeSet<u16>> {
    let ours: BTreeSet<String> = defs
        .iter()
        .flat_map(|d| {
            let id = d.service_id().to_owned();
            [
                format!("{id}{}", rigging_mesh_service_definition::SIDECAR_SUFFIX),
                id,
            ]
        })
        .collect();
    let services = client
        .services()
        .await
        .context("reading the agent's services, to pick a free sidecar port")?;
    Ok(services
        .iter()
        .filter(|(id, _)| !ours.contains(*id))
        .filter_map(|(_, s)| s["Port"].as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .collect())
}

/// The one plan to run: the only one, or the one `--service` names.
fn choose(
    plans: Vec<SidecarPlan>,
    service: Option<&str>,
    files: &str,
) -> anyhow::Result<SidecarPlan> {
    let listing = |plans: &[SidecarPlan]| {
        plans
            .iter()
            .map(|p| {
                format!(
                    "{} (service ID {}, proxy {})",
                    p.service_name, p.service_id, p.sidecar_id
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    anyhow::ensure!(
        !plans.is_empty(),
        "{files} declares no sidecar: give the service `connect {{ sidecar_service {{}} }}`, or add a `kind = \"connect-proxy\"` registration"
    );
    let Some(want) = service else {
        anyhow::ensure!(
            plans.len() == 1,
            "{files} declares {} sidecars: {}; pick one with --service <name>",
            plans.len(),
            listing(&plans)
        );
        return plans.into_iter().next().context("one plan");
    };
    let (mut hits, others): (Vec<_>, Vec<_>) = plans
        .into_iter()
        .partition(|p| p.service_name == want || p.service_id == want || p.sidecar_id == want);
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => anyhow::bail!(
            "--service {want:?}: {files} has no sidecar for it; it has: {}",
            listing(&others)
        ),
        _ => anyhow::bail!(
            "--service {want:?} names several instances: {}; give the service ID",
            listing(&hits)
        ),
    }
}

/// Refuses what Rigging's sidecar cannot serve, rather than let Pilot drop it silently.
fn check_runnable(plan: &SidecarPlan) -> anyhow::Result<()> {
    anyhow::ensure!(
        plan.local_app.socket_addr().is_some(),
        "the sidecar of {:?} hands traffic to {:?}: Rigging's sidecar needs an IP address and port (local_service_address, local_service_port)",
        plan.service_name,
        plan.local_app
    );
    for u in &plan.upstreams {
        anyhow::ensure!(
            matches!(u.bind, Endpoint::Tcp { .. }) && u.bind.socket_addr().is_some(),
            "upstream {:?} of {:?} binds {:?}: Rigging's sidecar listens on an IP address and port (local_bind_address, local_bind_port)",
            u.destination_name,
            plan.service_name,
            u.bind
        );
        if u.destination_type == DestinationType::PreparedQuery {
            tracing::warn!(upstream = %u.destination_name, "prepared-query upstreams are not served by Rigging; Pilot skips it");
        }
    }
    Ok(())
}

/// For a `connect-proxy` registration, the service it fronts when the files define it too,
/// with its token: registered beside the proxy, as `consul services register` would.
fn destination(plan: &SidecarPlan, defs: &[ServiceDefinition]) -> Option<Destination> {
    if plan.source != SidecarSource::ProxyRegistration {
        return None;
    }
    defs.iter()
        .find(|d| d.kind == ServiceKind::Typical && d.service_id() == plan.service_id)
        .map(|d| Destination {
            id: d.service_id().to_owned(),
            body: ServiceRegistration::from_definition(d),
            token: d.token.clone(),
        })
}

/// `a.hcl, b.json` for messages.
fn file_list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
