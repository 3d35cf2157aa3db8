//! The registries `rig up` and `rig pilot` read, from flags: static files, Consul (one registry per
//! datacenter), Nomad's service discovery and Kubernetes; and the config-entry sources (a
//! folder, Consul's config entry API). What `rig status` and `/metrics` say about each.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rigging_adapters_config_entries::{EntriesFolder, EntrySource};
use rigging_adapters_consul::{ConsulConfig, ConsulEntries, ConsulRegistry};
use rigging_adapters_core::{HealthReport, Registry};
use rigging_adapters_file::FileRegistry;
use rigging_adapters_kubernetes::{KubernetesConfig, KubernetesRegistry};
use rigging_adapters_nomad::{NomadConfig, NomadRegistry};

/// The registry read when no registry is given at all.
const DEFAULT_REGISTRY: &str = "registry.d";

#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Static-file registry: an HCL file or a folder of them (watched). Repeat for several.
    /// Default `registry.d` when no registry of any kind is given.
    #[arg(long = "registry", env = "RIG_REGISTRY", value_delimiter = ',')]
    pub files: Vec<PathBuf>,
    /// Consul's HTTP API (`http://127.0.0.1:8500`, or `https://…` with --consul-ca-file): its
    /// catalog becomes a registry, read with blocking queries.
    #[arg(long = "consul", env = "RIG_CONSUL")]
    pub consul: Option<String>,
    /// Consul ACL token (needs `service:read` and `node:read`; `intentions:read` too with
    /// --consul-config-entries).
    #[arg(long, env = "CONSUL_HTTP_TOKEN", hide_env_values = true)]
    pub consul_token: Option<String>,
    /// PEM file of the CA that signed Consul's HTTPS certificate.
    #[arg(long, env = "CONSUL_CACERT")]
    pub consul_ca_file: Option<PathBuf>,
    /// Consul datacenters to read, one registry each (named `consul-<dc>`); default: the
    /// agent's own datacenter (registry `consul`).
    #[arg(long = "consul-datacenter", value_delimiter = ',')]
    pub consul_datacenters: Vec<String>,
    /// Also read route definitions from Consul's config entry API (`/v1/config/:kind`); with
    /// --config-entries too, the folder's entries win over Consul's of the same kind and name.
    #[arg(long)]
    pub consul_config_entries: bool,
    /// How long each blocking query to Consul waits for a change (Consul caps it at 10m).
    #[arg(long, value_parser = humantime_secs, default_value = "300")]
    pub consul_wait: Duration,
    /// Nomad's HTTP API (`http://127.0.0.1:4646`): its native service discovery
    /// (`provider = "nomad"` services) becomes a registry.
    #[arg(long = "nomad", env = "RIG_NOMAD")]
    pub nomad: Option<String>,
    /// Nomad ACL token (needs `read-job` in the namespaces read).
    #[arg(long, env = "NOMAD_TOKEN", hide_env_values = true)]
    pub nomad_token: Option<String>,
    /// PEM file of the CA that signed Nomad's HTTPS certificate.
    #[arg(long, env = "NOMAD_CACERT")]
    pub nomad_ca_file: Option<PathBuf>,
    /// Nomad namespaces to read (`*` for all). Services outside the first one are named
    /// `<service>.<namespace>`.
    #[arg(
        long = "nomad-namespace",
        env = "NOMAD_NAMESPACE",
        value_delimiter = ','
    )]
    pub nomad_namespaces: Vec<String>,
    /// Nomad region (`?region=`); default: the agent's own.
    #[arg(long, env = "NOMAD_REGION")]
    pub nomad_region: Option<String>,
    /// Read Services and EndpointSlices from Kubernetes (kubeconfig from --kubeconfig,
    /// `KUBECONFIG`, `~/.kube/config`, or in-cluster); needs get/list/watch on `services`
    /// and `endpointslices.discovery.k8s.io`.
    #[arg(long)]
    pub kubernetes: bool,
    /// Kubeconfig file for --kubernetes.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context for --kubernetes; default: the current one.
    #[arg(long)]
    pub kubernetes_context: Option<String>,
    /// Kubernetes namespaces to read (none or `*`: all). Services outside the first one are
    /// named `<service>.<namespace>`.
    #[arg(long = "kubernetes-namespace", value_delimiter = ',')]
    pub kubernetes_namespaces: Vec<String>,
}

/// `--consul-wait` in seconds.
fn humantime_secs(s: &str) -> Result<Duration, String> {
    let s = s.trim_end_matches('s');
    s.parse::<u64>()
        .map(Duration::from_secs)
        .map_err(|_| format!("{s:?} is not a number of seconds"))
}

/// One started registry and what `rig status` says about it.
pub struct Started {
    pub registry: Arc<dyn Registry>,
    report: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
}

impl std::fmt::Debug for Started {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Started")
            .field("registry", &self.registry.name())
            .finish_non_exhaustive()
    }
}

impl Started {
    pub fn report(&self) -> serde_json::Value {
        (self.report)()
    }
}

/// Starts every registry the flags name, in this order: files, Consul, Nomad, Kubernetes.
pub async fn start(args: &RegistryArgs) -> anyhow::Result<Vec<Started>> {
    let mut started = Vec::new();
    let mut files = args.files.clone();
    if files.is_empty() && args.consul.is_none() && args.nomad.is_none() && !args.kubernetes {
        files.push(PathBuf::from(DEFAULT_REGISTRY));
    }
    for (i, path) in files.iter().enumerate() {
        let name = if i == 0 {
            "file".to_owned()
        } else {
            format!("file-{i}")
        };
        let reg = Arc::new(
            FileRegistry::start(path.clone(), name.clone())
                .with_context(|| format!("registry {}", path.display()))?,
        );
        tracing::info!(path = %path.display(), "static-file registry loaded");
        let shown = Arc::clone(&reg);
        started.push(Started {
            registry: reg,
            report: Box::new(move || {
                serde_json::json!({
                    "kind": "file",
                    "name": name,
                    "path": shown.path().display().to_string(),
                    "version": shown.version(),
                    "last_error": shown.last_error().map(|e| e.to_string()),
                })
            }),
        });
    }
    for config in consul_configs(args) {
        let address = config.address.clone();
        let reg =
            Arc::new(ConsulRegistry::start(config).with_context(|| format!("consul {address}"))?);
        let shown = Arc::clone(&reg);
        started.push(Started {
            registry: reg,
            report: Box::new(move || {
                remote_report(
                    "consul",
                    shown.name(),
                    &address,
                    shown.version(),
                    shown.health(),
                )
            }),
        });
    }
    if let Some(address) = &args.nomad {
        let mut config = NomadConfig::new("nomad", rigging_adapters_nomad::parse_address(address)?);
        config.token.clone_from(&args.nomad_token);
        config.ca_file.clone_from(&args.nomad_ca_file);
        config.region.clone_from(&args.nomad_region);
        if !args.nomad_namespaces.is_empty() {
            config.namespaces.clone_from(&args.nomad_namespaces);
        }
        let reg =
            Arc::new(NomadRegistry::start(config).with_context(|| format!("nomad {address}"))?);
        let (shown, address) = (Arc::clone(&reg), address.clone());
        started.push(Started {
            registry: reg,
            report: Box::new(move || {
                let version = shown.subscribe().borrow().version;
                remote_report("nomad", shown.name(), &address, version, shown.health())
            }),
        });
    }
    if args.kubernetes {
        let mut config = KubernetesConfig::new("kubernetes");
        config.kubeconfig.clone_from(&args.kubeconfig);
        config.context.clone_from(&args.kubernetes_context);
        config.namespaces.clone_from(&args.kubernetes_namespaces);
        let reg = Arc::new(
            KubernetesRegistry::start(config)
                .await
                .context("kubernetes")?,
        );
        let shown = Arc::clone(&reg);
        started.push(Started {
            registry: reg,
            report: Box::new(move || {
                let version = shown.subscribe().borrow().version;
                remote_report("kubernetes", shown.name(), "", version, shown.health())
            }),
        });
    }
    Ok(started)
}

/// One Consul config per datacenter asked for (or one for the agent's own).
fn consul_configs(args: &RegistryArgs) -> Vec<ConsulConfig> {
    let Some(address) = &args.consul else {
        return Vec::new();
    };
    let base = |name: String| {
        let mut c = ConsulConfig::new(name, address.clone()).with_wait(args.consul_wait);
        if let Some(t) = &args.consul_token {
            c = c.with_token(t.clone());
        }
        if let Some(ca) = &args.consul_ca_file {
            c = c.with_ca_file(ca.clone());
        }
        c
    };
    if args.consul_datacenters.is_empty() {
        return vec![base("consul".to_owned())];
    }
    args.consul_datacenters
        .iter()
        .map(|dc| base(format!("consul-{dc}")).with_datacenter(dc.clone()))
        .collect()
}

/// A config-entry source and what `rig status` says about it.
pub struct EntriesStarted {
    pub source: Arc<dyn EntrySource>,
    report: Box<dyn Fn() -> serde_json::Value + Send + Sync>,
}

impl std::fmt::Debug for EntriesStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EntriesStarted").finish_non_exhaustive()
    }
}

impl EntriesStarted {
    pub fn report(&self) -> serde_json::Value {
        (self.report)()
    }
}

/// The config-entry sources: the folder first (it wins), then Consul's API.
pub fn start_entries(
    folder: Option<&PathBuf>,
    args: &RegistryArgs,
) -> anyhow::Result<Vec<EntriesStarted>> {
    let mut out = Vec::new();
    if let Some(path) = folder {
        let f = Arc::new(
            EntriesFolder::start(path.clone())
                .with_context(|| format!("config entries {}", path.display()))?,
        );
        tracing::info!(path = %path.display(), "config entries loaded");
        let shown = Arc::clone(&f);
        out.push(EntriesStarted {
            source: f,
            report: Box::new(move || {
                let errors = shown.errors();
                serde_json::json!({
                    "kind": "config-entries",
                    "name": "config-entries",
                    "path": shown.path().display().to_string(),
                    "version": shown.version(),
                    "last_error": (!errors.is_empty()).then(|| {
                        errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
                    }),
                })
            }),
        });
    }
    if args.consul_config_entries {
        let config = consul_configs(args)
            .into_iter()
            .next()
            .context("--consul-config-entries needs --consul")?;
        let address = config.address.clone();
        let entries = Arc::new(
            ConsulEntries::start(config)
                .with_context(|| format!("consul config entries {address}"))?,
        );
        let shown = Arc::clone(&entries);
        out.push(EntriesStarted {
            source: entries,
            report: Box::new(move || {
                remote_report(
                    "consul-config-entries",
                    "consul-config-entries",
                    &address,
                    shown.version(),
                    Some(shown.health()),
                )
            }),
        });
    }
    Ok(out)
}

/// What `rig status` and the metrics read about a remote source.
fn remote_report(
    kind: &str,
    name: &str,
    address: &str,
    version: u64,
    health: Option<HealthReport>,
) -> serde_json::Value {
    let health = health.unwrap_or_default();
    let now = SystemTime::now();
    let secs = |t: SystemTime| now.duration_since(t).map_or(0, |d| d.as_secs());
    serde_json::json!({
        "kind": kind,
        "name": name,
        "path": address,
        "version": version,
        "stale_seconds": health.stale_since.map(secs),
        "last_success_seconds_ago": health.last_success.map(secs),
        "consecutive_failures": health.consecutive_failures,
        "unreachable": health.last_error,
    })
}
