//! `rig up`'s Citadel, in the same process as Pilot: it serves workloads on its port, and
//! gives Pilot its own certificate directly (renewed like any workload's).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rigging_citadel_ca::{LeafTtl, TrustDomain};
use rigging_citadel_client::{BundleWatcher, CertStore, Renewer, SystemClock};
use rigging_citadel_server::{AuthorityHandle, CitadelConfig, CitadelServer, DnsNames};
use rigging_mesh_spiffe::{SpiffeId, SvidClientVerifier, TrustBundle};
use rigging_pilot_server::MeshSecurity;
use rustls::ServerConfig;
use rustls::server::NoServerSessionStorage;
use tokio::net::TcpListener;

use crate::citadel::{DEFAULT_CITADEL_ADDR, DEFAULT_DATACENTER, DEFAULT_TRUST_DOMAIN, JwtArgs};
use crate::identity::{NAMESPACE, PILOT_SERVICE};

/// The file, in Citadel's state folder, that `rig up` keeps holding the current roots: what
/// proxies are given as `--citadel-ca`.
pub const TRUST_BUNDLE_FILE: &str = "trust-bundle.pem";
/// How often the trust bundle file is compared with the CA's roots.
const BUNDLE_FILE_REFRESH: Duration = Duration::from_secs(2);

/// Citadel inside `rig up`.
#[derive(Debug, Clone, clap::Args)]
pub struct EmbeddedCitadelArgs {
    /// Run the mesh without Citadel and without mTLS: plaintext between proxies and to Pilot
    /// (for benchmarks and migrations; not for production).
    #[arg(long)]
    pub plaintext: bool,
    /// Citadel's gRPC (TLS) address.
    #[arg(long, default_value_t = DEFAULT_CITADEL_ADDR)]
    pub citadel_addr: SocketAddr,
    /// Citadel's state folder (roots, keys, bootstrap tokens, the trust bundle file).
    #[arg(long, env = "RIG_CITADEL_STATE", default_value = "citadel-state")]
    pub citadel_state: PathBuf,
    /// SPIFFE trust domain of the mesh.
    #[arg(long, default_value = DEFAULT_TRUST_DOMAIN)]
    pub trust_domain: TrustDomain,
    /// Datacenter segment of the mesh's SPIFFE IDs.
    #[arg(long, default_value = DEFAULT_DATACENTER)]
    pub datacenter: String,
    /// Workload certificate lifetime (e.g. 24h, 60s; between 10s and 7d).
    #[arg(long, value_parser = crate::citadel::parse_duration, default_value = "24h")]
    pub leaf_ttl: Duration,
    #[command(flatten)]
    pub jwt: JwtArgs,
}

/// What Pilot needs from the embedded Citadel.
#[derive(Debug)]
pub struct Secured {
    pub security: MeshSecurity,
    pub tls: Arc<ServerConfig>,
    pub pilot_id: SpiffeId,
    pub bundle_file: PathBuf,
}

/// Starts Citadel on its port and gets Pilot's certificate from it; runs until `shutdown`.
/// `dns_names`: the DNS names an identity's certificate carries (an ingress gateway's TLS
/// hosts); none without it.
pub async fn start(
    args: &EmbeddedCitadelArgs,
    dns_names: Option<Arc<dyn DnsNames>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Secured> {
    let ttl = LeafTtl::new(args.leaf_ttl).context("--leaf-ttl")?;
    let config = CitadelConfig {
        state_dir: args.citadel_state.clone(),
        trust_domain: args.trust_domain.clone(),
        datacenter: args.datacenter.clone(),
        leaf_ttl: ttl,
        server_ips: Vec::new(),
    };
    let clock = Arc::new(rigging_citadel_server::SystemClock);
    let server = CitadelServer::open(config, clock.clone())
        .with_context(|| format!("citadel state in {}", args.citadel_state.display()))?;
    let mut server = args.jwt.add_to(server, clock)?;
    if let Some(names) = dns_names {
        server = server.with_dns_names(names);
    }
    let handle = server.authority_handle();
    let pilot_id = SpiffeId::service(
        &args.trust_domain,
        NAMESPACE,
        &args.datacenter,
        PILOT_SERVICE,
    )
    .context("pilot's spiffe id")?;
    let signer = Arc::new(server.local_signer(pilot_id.clone())?);
    let listener = TcpListener::bind(args.citadel_addr)
        .await
        .with_context(|| format!("cannot listen for citadel on {}", args.citadel_addr))?;
    let addr = listener.local_addr().unwrap_or(args.citadel_addr);
    let bundle_file = args.citadel_state.join(TRUST_BUNDLE_FILE);
    write_bundle(&bundle_file, &handle)?;
    tokio::spawn(async move {
        if let Err(e) = server.serve(listener, shutdown).await {
            tracing::error!(error = %e, "citadel stopped");
        }
    });
    tokio::spawn(follow_bundle(bundle_file.clone(), handle.clone()));
    tracing::info!(%addr, trust_domain = %args.trust_domain, bundle = %bundle_file.display(), "citadel serving");

    let roots = TrustBundle::new(handle.trust_bundle()).context("the ca's trust bundle")?;
    let store = Arc::new(CertStore::new(roots));
    let (renewer, mut status) =
        Renewer::new(store.clone(), signer.clone(), None, Arc::new(SystemClock));
    tokio::spawn(renewer.run());
    tokio::spawn(BundleWatcher::new(store.clone(), signer).run());
    while !status.borrow_and_update().ready {
        status
            .changed()
            .await
            .context("pilot's certificate renewer stopped")?;
    }
    let tls = server_config(&store, &args.trust_domain)?;
    let security = MeshSecurity::new(args.trust_domain.clone(), args.datacenter.clone())
        .context("mesh identity settings")?;
    Ok(Secured {
        security,
        tls,
        pilot_id,
        bundle_file,
    })
}

/// Writes the CA's roots as PEM, atomically (a proxy starting meanwhile reads the old or the
/// new file, never half of one).
fn write_bundle(path: &Path, handle: &AuthorityHandle) -> anyhow::Result<()> {
    let pem: String = handle.current().roots().map(|r| r.chain_pem()).collect();
    let tmp = path.with_extension("pem.tmp");
    std::fs::write(&tmp, pem).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Rewrites the bundle file when a root rotation changes the roots.
async fn follow_bundle(path: PathBuf, handle: AuthorityHandle) {
    let mut last = handle.trust_bundle();
    let mut ticker = tokio::time::interval(BUNDLE_FILE_REFRESH);
    loop {
        ticker.tick().await;
        let now = handle.trust_bundle();
        if now != last {
            match write_bundle(&path, &handle) {
                Ok(()) => {
                    tracing::info!(roots = now.len(), file = %path.display(), "trust bundle file updated");
                    last = now;
                }
                Err(e) => tracing::warn!(error = %e, "cannot update the trust bundle file"),
            }
        }
    }
}

/// Pilot's TLS when it runs alone with a certificate from a Citadel elsewhere: the mesh
/// settings come from its own SPIFFE ID (trust domain and datacenter).
pub fn pilot_tls(identity: &crate::identity::Identity) -> anyhow::Result<Secured> {
    let td = identity.id.trust_domain();
    let dc = identity
        .id
        .datacenter()
        .context("pilot's spiffe id has no datacenter segment")?
        .to_owned();
    if identity.id.service_name() != Some(PILOT_SERVICE) {
        tracing::warn!(id = %identity.id, "pilot's certificate is not for the service {PILOT_SERVICE}; proxies will refuse it");
    }
    let tls = server_config(&identity.store, &td)?;
    Ok(Secured {
        security: MeshSecurity::new(td, dc).context("mesh identity settings")?,
        tls,
        pilot_id: identity.id.clone(),
        bundle_file: PathBuf::new(),
    })
}

/// Pilot's xDS server config: its certificate from `store`, a client SVID of `td` required,
/// h2 only, and no session resumption, so every reconnect shows its current certificate.
fn server_config(store: &Arc<CertStore>, td: &TrustDomain) -> anyhow::Result<Arc<ServerConfig>> {
    let verifier = Arc::new(SvidClientVerifier::new(store.bundle().clone(), td.clone()));
    let mut tls = rigging_mesh_spiffe::config::server_config(verifier, store.clone())
        .context("pilot's tls configuration")?;
    tls.alpn_protocols = vec![b"h2".to_vec()];
    tls.session_storage = Arc::new(NoServerSessionStorage {});
    tls.send_tls13_tickets = 0;
    Ok(Arc::new(tls))
}
