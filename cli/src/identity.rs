//! A workload's identity for `rig proxy`: the key made here, the certificate from Citadel,
//! renewed at half-life, the trust bundle refreshed between renewals.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rigging_citadel_client::{
    BundleWatcher, CertStore, Credential, CredentialFile, CredentialSource, GrpcSigner, Renewer,
    SystemClock,
};
use rigging_citadel_server::CITADEL_DNS_NAME;
use rigging_mesh_spiffe::{SpiffeId, TrustBundle, TrustDomain};
use rustls_pki_types::ServerName;

/// Citadel's address on the embedded defaults (ARCHITECTURE.md's port table).
pub const DEFAULT_CITADEL: &str = "127.0.0.1:15012";
/// The service name in Pilot's SPIFFE ID; proxies check Pilot's certificate against
/// `spiffe://<trust domain>/ns/default/dc/<dc>/svc/rigging-pilot`.
pub const PILOT_SERVICE: &str = "rigging-pilot";
/// The namespace of every identity while the model has none (Citadel's default).
pub const NAMESPACE: &str = "default";
/// How often the proxy says it is still waiting for its first certificate.
const WAIT_LOG_INTERVAL: Duration = Duration::from_secs(5);

/// Where a proxy gets its workload certificate. With none of the credential options, the
/// proxy runs without mTLS (and a Pilot that requires mTLS refuses it).
#[derive(Debug, Clone, clap::Args)]
pub struct IdentityArgs {
    /// Citadel's gRPC (TLS) address.
    #[arg(long, env = "RIG_CITADEL", default_value = DEFAULT_CITADEL)]
    pub citadel: String,
    /// PEM file of the roots Citadel's certificate chains to (`rig citadel bundle` prints
    /// them; `rig up` writes them to `<state>/trust-bundle.pem`).
    #[arg(long, env = "RIG_CITADEL_CA")]
    pub citadel_ca: Option<PathBuf>,
    /// A file holding a one-time bootstrap token (`rig citadel token create`), for VMs.
    #[arg(long, env = "RIG_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// A file holding a Nomad workload identity JWT (Nomad writes it to
    /// `${NOMAD_SECRETS_DIR}/nomad_<name>.jwt`).
    #[arg(long, env = "RIG_NOMAD_JWT_FILE", conflicts_with = "token_file")]
    pub nomad_jwt_file: Option<PathBuf>,
    /// A file holding a Kubernetes service-account token (projected volume).
    #[arg(long, env = "RIG_K8S_TOKEN_FILE", conflicts_with_all = ["token_file", "nomad_jwt_file"])]
    pub k8s_token_file: Option<PathBuf>,
}

/// A workload certificate being kept fresh.
#[derive(Debug, Clone)]
pub struct Identity {
    pub store: Arc<CertStore>,
    pub id: SpiffeId,
    /// Notified, it makes the renewer get a new certificate now.
    pub renew: Arc<tokio::sync::Notify>,
}

impl IdentityArgs {
    /// The credential file the options name; `None` without one. The file is read again at
    /// every issuance that needs it (Nomad and Kubernetes rotate theirs in place).
    fn credential(&self) -> anyhow::Result<Option<CredentialFile>> {
        let file = if let Some(p) = &self.token_file {
            CredentialFile::new(p, Credential::BootstrapToken)
        } else if let Some(p) = &self.nomad_jwt_file {
            CredentialFile::new(p, Credential::NomadWorkloadJwt)
        } else if let Some(p) = &self.k8s_token_file {
            CredentialFile::new(p, Credential::KubernetesSaToken)
        } else {
            return Ok(None);
        };
        // Fail at start on a file that cannot be read, rather than in the renewer's retries.
        file.credential()
            .with_context(|| format!("credential file {}", file.path().display()))?;
        Ok(Some(file))
    }
}

/// Gets the first certificate from Citadel (waiting as long as it takes, with backoff: the
/// proxy is not ready before) and keeps renewing it. `None` when no credential is configured.
pub async fn start(args: &IdentityArgs) -> anyhow::Result<Option<Identity>> {
    let Some(credential) = args.credential()? else {
        return Ok(None);
    };
    let ca_path = args.citadel_ca.as_ref().context(
        "--citadel-ca is needed with a credential: the roots Citadel's certificate chains to",
    )?;
    let pem =
        std::fs::read(ca_path).with_context(|| format!("cannot read {}", ca_path.display()))?;
    let bundle = TrustBundle::from_pem(&pem)
        .with_context(|| format!("{} holds no usable root certificate", ca_path.display()))?;
    let store = Arc::new(CertStore::new(bundle.clone()));
    let name = ServerName::try_from(CITADEL_DNS_NAME).context("citadel's dns name")?;
    let signer = Arc::new(
        GrpcSigner::new(args.citadel.clone(), name, &bundle, store.clone())
            .context("tls to citadel")?,
    );
    let (renewer, mut status) =
        Renewer::new(store.clone(), signer.clone(), None, Arc::new(SystemClock));
    let renew = Arc::new(tokio::sync::Notify::new());
    tokio::spawn(
        renewer
            .credential_source(Arc::new(credential))
            .renew_on(renew.clone())
            .run(),
    );
    tokio::spawn(BundleWatcher::new(store.clone(), signer).run());
    tracing::info!(citadel = %args.citadel, "getting a workload certificate");
    loop {
        if let Some(id) = status.borrow_and_update().identity.clone()
            && store.svid().is_some()
        {
            return Ok(Some(Identity { store, id, renew }));
        }
        match tokio::time::timeout(WAIT_LOG_INTERVAL, status.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => anyhow::bail!("the certificate renewer stopped"),
            Err(_) => {
                let last = status.borrow().last_error.clone();
                tracing::warn!(citadel = %args.citadel, last_error = ?last, "still no workload certificate; not ready");
            }
        }
    }
}

/// Pilot's SPIFFE ID in `id`'s trust domain and datacenter.
pub fn pilot_id(id: &SpiffeId) -> anyhow::Result<SpiffeId> {
    let td = TrustDomain::new(id.trust_domain_name()).context("trust domain")?;
    let dc = id
        .datacenter()
        .context("the workload's spiffe id has no datacenter segment")?;
    SpiffeId::service(&td, NAMESPACE, dc, PILOT_SERVICE).context("pilot's spiffe id")
}
