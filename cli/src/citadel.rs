//! `rig citadel`: the certificate authority — serve, bootstrap tokens, root rotation, bundle.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use rigging_adapters_config_entries::{EntriesFolder, EntrySource};
use rigging_citadel_ca::{CaStore, DEFAULT_LEAF_TTL, LeafTtl, RootId, TrustDomain};
use rigging_citadel_server::{
    Authenticator, CitadelConfig, CitadelServer, ClaimsMapping, DEFAULT_JWT_LEEWAY,
    DEFAULT_NAMESPACE, JwksOptions, JwksSource, JwtAuthenticator, JwtConfig, SystemClock,
    TokenStore,
};

use crate::gateway_names::IngressHosts;

/// Citadel's gRPC (TLS) address, as in ARCHITECTURE.md's port table.
pub(crate) const DEFAULT_CITADEL_ADDR: SocketAddr =
    SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 15012);
/// The trust domain of a mesh that names none.
pub(crate) const DEFAULT_TRUST_DOMAIN: &str = "rigging.local";
/// Consul's default datacenter name, so IDs match a default Consul's.
pub(crate) const DEFAULT_DATACENTER: &str = "dc1";
/// The audience Citadel expects in workload JWTs unless told otherwise.
const DEFAULT_AUDIENCE: &str = "rigging-citadel";

#[derive(Debug, clap::Args)]
pub struct CitadelArgs {
    #[command(subcommand)]
    command: CitadelCommand,
}

#[derive(Debug, clap::Subcommand)]
enum CitadelCommand {
    /// Run Citadel: issue SPIFFE certificates to authenticated workloads.
    Serve(Box<ServeArgs>),
    /// One-time bootstrap tokens for VMs.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The three-step root rotation: add a root, switch the signer to it, drop the old one.
    RotateRoot(RotateArgs),
    /// Print the trust bundle (PEM).
    Bundle(StateArgs),
}

#[derive(Debug, clap::Args)]
struct StateArgs {
    /// Citadel's state folder (roots, keys, tokens).
    #[arg(long, env = "RIG_CITADEL_STATE", default_value = "citadel-state")]
    state: PathBuf,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    state: StateArgs,
    /// gRPC (TLS) address.
    #[arg(long, default_value_t = DEFAULT_CITADEL_ADDR)]
    addr: SocketAddr,
    /// SPIFFE trust domain.
    #[arg(long, default_value = DEFAULT_TRUST_DOMAIN)]
    trust_domain: TrustDomain,
    /// Datacenter segment of issued IDs.
    #[arg(long, default_value = DEFAULT_DATACENTER)]
    datacenter: String,
    /// Leaf certificate lifetime (e.g. 24h, 60s); at most 7d.
    #[arg(long, value_parser = parse_duration, default_value = "24h")]
    leaf_ttl: Duration,
    /// The config entries Pilot reads (a file or folder, watched): an ingress gateway's
    /// certificate then names the hosts its TLS listeners serve.
    #[arg(long = "config-entries", env = "RIG_CONFIG_ENTRIES")]
    config_entries: Option<PathBuf>,
    #[command(flatten)]
    jwt: JwtArgs,
}

/// The JWT credentials Citadel accepts besides bootstrap tokens: Nomad workload identities and
/// Kubernetes service-account tokens, each checked against its issuer's JWKS.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct JwtArgs {
    /// Nomad's JWKS URL (e.g. http://127.0.0.1:4646/.well-known/jwks.json).
    #[arg(long, requires = "nomad_issuer")]
    nomad_jwks: Option<String>,
    /// The `iss` Nomad's workload identities carry.
    #[arg(long, requires = "nomad_jwks")]
    nomad_issuer: Option<String>,
    /// The `aud` Nomad workload identities must carry for Citadel.
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    nomad_audience: String,
    /// PEM CA that Nomad's HTTPS certificate chains to (default: the WebPKI roots).
    #[arg(long, requires = "nomad_jwks")]
    nomad_jwks_ca: Option<PathBuf>,
    /// The Kubernetes API server's JWKS URL.
    #[arg(long, requires = "k8s_issuer")]
    k8s_jwks: Option<String>,
    /// The `iss` of projected service-account tokens.
    #[arg(long, requires = "k8s_jwks")]
    k8s_issuer: Option<String>,
    /// The `aud` service-account tokens must carry for Citadel.
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    k8s_audience: String,
    /// PEM CA of the Kubernetes API server (in a pod:
    /// /var/run/secrets/kubernetes.io/serviceaccount/ca.crt).
    #[arg(long, requires = "k8s_jwks")]
    k8s_jwks_ca: Option<PathBuf>,
    /// A file with the bearer token the API server wants for its JWKS (in a pod:
    /// /var/run/secrets/kubernetes.io/serviceaccount/token), unless anonymous discovery is on.
    #[arg(long, requires = "k8s_jwks")]
    k8s_jwks_token_file: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum TokenCommand {
    /// Create a token; prints it once (only its hash is stored).
    Create {
        #[command(flatten)]
        state: StateArgs,
        /// The service the token's holder will be.
        #[arg(long)]
        service: String,
        /// The namespace of that service.
        #[arg(long, default_value = DEFAULT_NAMESPACE)]
        namespace: String,
        /// How long the token may be used (e.g. 1h).
        #[arg(long, value_parser = parse_duration, default_value = "1h")]
        ttl: Duration,
    },
}

#[derive(Debug, clap::Args)]
struct RotateArgs {
    #[command(flatten)]
    state: StateArgs,
    #[command(subcommand)]
    step: RotateStep,
}

#[derive(Debug, clap::Subcommand)]
enum RotateStep {
    /// 1. Add a new root to the bundle (it does not sign yet).
    Add,
    /// 2. Make root <id> the signer.
    Switch { id: u32 },
    /// 3. Drop root <id> from the bundle (refused for the signer).
    Drop { id: u32 },
}

pub async fn run(args: CitadelArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        CitadelCommand::Serve(a) => serve(*a).await,
        CitadelCommand::Token(TokenCommand::Create {
            state,
            service,
            namespace,
            ttl,
        }) => {
            let token = TokenStore::new(&state.state)
                .create(&namespace, &service, ttl, SystemTime::now())
                .context("creating a bootstrap token")?;
            #[allow(clippy::print_stdout)]
            {
                println!("{token}");
            }
            Ok(ExitCode::SUCCESS)
        }
        CitadelCommand::RotateRoot(a) => rotate(a),
        CitadelCommand::Bundle(a) => {
            let ca = CaStore::new(&a.state).load().context("loading the ca")?;
            let pem: String = ca.roots().map(|r| r.chain_pem()).collect();
            #[allow(clippy::print_stdout)]
            {
                print!("{pem}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let store = CaStore::new(&args.state.state);
    let msg = match args.step {
        RotateStep::Add => format!("added root {}", store.add_root(SystemTime::now())?),
        RotateStep::Switch { id } => {
            store.switch_signer(RootId(id))?;
            format!("root {id} signs now")
        }
        RotateStep::Drop { id } => {
            store.drop_root(RootId(id))?;
            format!("dropped root {id}")
        }
    };
    #[allow(clippy::print_stdout)]
    {
        println!("{msg}");
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let leaf_ttl = LeafTtl::new(args.leaf_ttl)
        .with_context(|| format!("--leaf-ttl (default {DEFAULT_LEAF_TTL:?})"))?;
    let clock = Arc::new(SystemClock);
    let config = CitadelConfig {
        state_dir: args.state.state.clone(),
        trust_domain: args.trust_domain.clone(),
        datacenter: args.datacenter.clone(),
        leaf_ttl,
        server_ips: vec![args.addr.ip()]
            .into_iter()
            .filter(|ip| !ip.is_unspecified())
            .collect(),
    };
    let server = CitadelServer::open(config, clock.clone()).context("opening the ca")?;
    let mut server = args.jwt.add_to(server, clock)?;
    // Kept alive while serving: the folder watch stops when dropped.
    let mut entries = None;
    if let Some(path) = &args.config_entries {
        let folder = EntriesFolder::start(path.clone())
            .with_context(|| format!("config entries {}", path.display()))?;
        let names = IngressHosts::new(folder.subscribe(), args.datacenter.clone());
        server = server.with_dns_names(Arc::new(names));
        entries = Some(folder);
    }
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    server
        .serve(listener, crate::control::shutdown_signal())
        .await
        .context("serving")?;
    drop(entries);
    Ok(ExitCode::SUCCESS)
}

impl JwtArgs {
    /// Adds the configured JWT authenticators to `server`.
    pub(crate) fn add_to(
        &self,
        mut server: CitadelServer,
        clock: Arc<SystemClock>,
    ) -> anyhow::Result<CitadelServer> {
        let read = |path: &Option<PathBuf>| -> anyhow::Result<Option<Vec<u8>>> {
            path.as_ref()
                .map(|p| std::fs::read(p).with_context(|| format!("cannot read {}", p.display())))
                .transpose()
        };
        let k8s_token =
            read(&self.k8s_jwks_token_file)?.map(|t| String::from_utf8_lossy(&t).trim().to_owned());
        let jwt = [
            (
                &self.nomad_jwks,
                &self.nomad_issuer,
                &self.nomad_audience,
                ClaimsMapping::Nomad,
                JwksOptions {
                    ca_pem: read(&self.nomad_jwks_ca)?,
                    bearer_token: None,
                },
            ),
            (
                &self.k8s_jwks,
                &self.k8s_issuer,
                &self.k8s_audience,
                ClaimsMapping::Kubernetes,
                JwksOptions {
                    ca_pem: read(&self.k8s_jwks_ca)?,
                    bearer_token: k8s_token,
                },
            ),
        ];
        for (url, issuer, audience, mapping, options) in jwt {
            let (Some(url), Some(issuer)) = (url, issuer) else {
                continue;
            };
            let jwks = JwksSource::with_options(url, options)
                .with_context(|| format!("jwks url {url}"))?;
            let auth: Arc<dyn Authenticator> = Arc::new(JwtAuthenticator::new(
                JwtConfig {
                    issuer: issuer.clone(),
                    audience: audience.clone(),
                    leeway: DEFAULT_JWT_LEEWAY,
                    mapping,
                },
                jwks,
                server.layout(),
                clock.clone(),
            ));
            server = server.with_authenticator(auth);
        }
        Ok(server)
    }
}

/// `90s`, `15m`, `1h`, `7d`, or plain seconds.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s
        .find(|c: char| !c.is_ascii_digit())
        .map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration like 90s, 15m, 1h or 7d"))?;
    let secs = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => return Err(format!("unknown duration unit {other:?}: use s, m, h or d")),
    };
    n.checked_mul(secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("{s:?} is too long"))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
    }
}
