//! Citadel as a running server: the CA state, the authenticators, TLS, and the loop that
//! follows root rotations made in the state folder and renews Citadel's own certificate.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rigging_citadel_ca::{Authority, CaStore, LeafTtl, StoreError, TrustDomain};
use rigging_mesh_api::citadel::v1::citadel_server::CitadelServer as CitadelGrpc;
use rigging_mesh_spiffe::SpiffeId;
use rustls::sign::CertifiedKey;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio::time::MissedTickBehavior;
use tokio_stream::wrappers::ReceiverStream;

use crate::auth::{Authenticator, Clock, CredentialKind, IdentityLayout};
use crate::bootstrap::{BootstrapAuthenticator, TokenStore};
use crate::dns::DnsNames;
use crate::handle::AuthorityHandle;
use crate::local::{LocalSigner, LocalSignerError};
use crate::renewal::RenewalAuthenticator;
use crate::service::CitadelService;
use crate::tls::{self, BundleClientVerifier, SwappableCert};

/// The DNS name in Citadel's server certificate; workloads verify Citadel by it.
pub const CITADEL_DNS_NAME: &str = "citadel.rigging";
/// How often the state folder is re-read by default, so `rig citadel rotate-root` in another
/// process takes effect within seconds and without a restart.
pub const DEFAULT_RELOAD_INTERVAL: Duration = Duration::from_secs(5);
/// When renewing Citadel's own certificate fails, the next try comes this soon: with a short
/// leaf TTL the current one may not outlive a full reload interval.
const SERVER_CERT_RETRY: Duration = Duration::from_secs(1);

/// What Citadel needs to start.
#[derive(Debug, Clone)]
pub struct CitadelConfig {
    pub state_dir: PathBuf,
    pub trust_domain: TrustDomain,
    pub datacenter: String,
    pub leaf_ttl: LeafTtl,
    /// Extra IP SANs for Citadel's own certificate (127.0.0.1 is always there).
    pub server_ips: Vec<IpAddr>,
}

/// Why Citadel could not start or keep serving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    #[error("ca state")]
    Store(#[from] StoreError),
    #[error("issuing citadel's own certificate")]
    ServerCert(#[source] rigging_citadel_ca::IssueError),
    #[error("tls configuration")]
    Tls(#[from] rustls::Error),
    #[error("grpc server")]
    Transport(#[from] tonic::transport::Error),
}

/// A configured Citadel, ready to serve.
#[derive(Debug)]
pub struct CitadelServer {
    config: CitadelConfig,
    store: CaStore,
    authority: Arc<ArcSwap<Authority>>,
    authenticators: HashMap<CredentialKind, Arc<dyn Authenticator>>,
    clock: Arc<dyn Clock>,
    reload_interval: Duration,
    dns_names: Option<Arc<dyn DnsNames>>,
}

impl CitadelServer {
    /// Opens (or creates) the CA in `config.state_dir`, with bootstrap-token and renewal
    /// authenticators; add JWT authenticators with [`Self::with_authenticator`].
    pub fn open(config: CitadelConfig, clock: Arc<dyn Clock>) -> Result<Self, ServeError> {
        let store = CaStore::new(&config.state_dir);
        let authority = Arc::new(ArcSwap::from_pointee(
            store.open_or_create(&config.trust_domain, clock.now())?,
        ));
        let layout = IdentityLayout {
            trust_domain: config.trust_domain.clone(),
            datacenter: config.datacenter.clone(),
        };
        let mut server = Self {
            store,
            authority: authority.clone(),
            authenticators: HashMap::new(),
            clock: clock.clone(),
            config,
            reload_interval: DEFAULT_RELOAD_INTERVAL,
            dns_names: None,
        };
        let tokens = TokenStore::new(&server.config.state_dir);
        server = server
            .with_authenticator(Arc::new(BootstrapAuthenticator::new(
                tokens,
                layout,
                clock.clone(),
            )))
            .with_authenticator(Arc::new(RenewalAuthenticator::new(authority, clock)));
        Ok(server)
    }

    /// Adds (or replaces) the authenticator for its credential kind.
    #[must_use]
    pub fn with_authenticator(mut self, auth: Arc<dyn Authenticator>) -> Self {
        self.authenticators.insert(auth.kind(), auth);
        self
    }

    /// Asks `hook`, at each issue, which DNS names an identity's certificate carries besides
    /// its SPIFFE ID (an ingress gateway's TLS hosts); without one, none. Applies to the gRPC
    /// service and to [`LocalSigner`]s made after this call. Names in Citadel's own domain
    /// (`*.rigging`, so [`CITADEL_DNS_NAME`]) are never issued: see [`DnsNames`].
    #[must_use]
    pub fn with_dns_names(mut self, hook: Arc<dyn DnsNames>) -> Self {
        self.dns_names = Some(hook);
        self
    }

    /// The identity layout (trust domain and datacenter) for authenticators built outside.
    pub fn layout(&self) -> IdentityLayout {
        IdentityLayout {
            trust_domain: self.config.trust_domain.clone(),
            datacenter: self.config.datacenter.clone(),
        }
    }

    /// Re-reads the state folder every `every` instead of [`DEFAULT_RELOAD_INTERVAL`]; a zero
    /// interval is taken as one millisecond.
    #[must_use]
    pub fn with_reload_interval(mut self, every: Duration) -> Self {
        // tokio's interval panics on a zero period.
        self.reload_interval = every.max(Duration::from_millis(1));
        self
    }

    /// The CA as it is now.
    pub fn authority(&self) -> Arc<Authority> {
        self.authority.load_full()
    }

    /// A handle on the CA that stays current across root rotations, for in-process users
    /// (a [`LocalSigner`], a trust bundle for in-process workloads). Take it before
    /// [`Self::serve`]; it follows the state folder while `serve` runs.
    pub fn authority_handle(&self) -> AuthorityHandle {
        AuthorityHandle::new(self.authority.clone())
    }

    /// The trust bundle now: every root, DER — what an in-process workload's `CertStore`
    /// starts with.
    pub fn trust_bundle(&self) -> Vec<CertificateDer<'static>> {
        self.authority.load().trust_bundle()
    }

    /// The configured leaf lifetime.
    pub fn leaf_ttl(&self) -> LeafTtl {
        self.config.leaf_ttl
    }

    /// A [`LocalSigner`] for `identity` on this CA, with the configured leaf TTL, clock and
    /// [`DnsNames`] hook: how a component in this process (Pilot under `rig up`) gets and
    /// renews its SVID.
    pub fn local_signer(&self, identity: SpiffeId) -> Result<LocalSigner, LocalSignerError> {
        let signer = LocalSigner::new(
            self.authority_handle(),
            identity,
            self.config.leaf_ttl,
            self.clock.clone(),
        )?;
        Ok(match &self.dns_names {
            Some(hook) => signer.with_dns_names(hook.clone()),
            None => signer,
        })
    }

    /// Serves on `listener` until `shutdown` resolves.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let (key, expires) = self.server_cert()?;
        let cert = Arc::new(SwappableCert(ArcSwap::from(key)));
        let verifier = Arc::new(BundleClientVerifier(ArcSwap::from_pointee(
            BundleClientVerifier::build(self.authority.load().trust_bundle())?,
        )));
        let tls_config = Arc::new(tls::server_config(cert.clone(), verifier.clone())?);
        let service = CitadelService {
            authority: self.authority.clone(),
            authenticators: Arc::new(self.authenticators.clone()),
            leaf_ttl: self.config.leaf_ttl,
            clock: self.clock.clone(),
            dns_names: self.dns_names.clone(),
        };
        if let Ok(addr) = listener.local_addr() {
            tracing::info!(%addr, trust_domain = %self.config.trust_domain, "citadel serving");
        }
        let incoming = ReceiverStream::new(tls::accept(listener, tls_config));
        let reload = tokio::spawn(self.follow_state(cert, verifier, expires));
        let result = tonic::transport::Server::builder()
            .add_service(CitadelGrpc::new(service))
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        reload.abort();
        result.map_err(ServeError::from)
    }

    /// Citadel's own certificate from the current signer, and when to renew it.
    fn server_cert(&self) -> Result<(Arc<CertifiedKey>, SystemTime), ServeError> {
        let mut ips: Vec<IpAddr> = vec![IpAddr::from([127, 0, 0, 1])];
        ips.extend(self.config.server_ips.iter().copied());
        let now = self.clock.now();
        let (chain, key, not_after) = self
            .authority
            .load()
            .issue_server_cert(&[CITADEL_DNS_NAME], &ips, self.config.leaf_ttl, now)
            .map_err(ServeError::ServerCert)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let certified = CertifiedKey::from_der(chain, key, &tls::provider())?;
        // Renew at half-life, as workloads do.
        let renew_at = now + not_after.duration_since(now).unwrap_or_default() / 2;
        Ok((Arc::new(certified), renew_at))
    }

    /// Re-reads the state folder every reload interval; on a rotation swaps the CA, the client
    /// verifier and the server certificate; renews the server certificate at half-life (waking
    /// for it between reloads, as a short TTL may not outlive an interval).
    async fn follow_state(
        self,
        cert: Arc<SwappableCert>,
        verifier: Arc<BundleClientVerifier>,
        mut renew_at: SystemTime,
    ) {
        let mut ticker = tokio::time::interval(self.reload_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let until_renewal = renew_at
                .duration_since(self.clock.now())
                .unwrap_or_default();
            tokio::select! {
                _ = ticker.tick() => {}
                () = tokio::time::sleep(until_renewal) => {}
            }
            let changed = self.reload(&verifier);
            if changed || self.clock.now() >= renew_at {
                match self.server_cert() {
                    Ok((key, at)) => {
                        cert.0.store(key);
                        renew_at = at;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot renew citadel's certificate");
                        renew_at = self.clock.now() + SERVER_CERT_RETRY;
                    }
                }
            }
        }
    }

    /// Loads the state folder; if the signer or the bundle changed, swaps in the new CA and a
    /// client verifier over its bundle. True if it changed.
    fn reload(&self, verifier: &BundleClientVerifier) -> bool {
        let fresh = match self.store.load() {
            Ok(fresh) => fresh,
            Err(e) => {
                tracing::warn!(error = %e, "cannot re-read the ca state; keeping the last one");
                return false;
            }
        };
        let current = self.authority.load();
        if fresh.signer_id() == current.signer_id()
            && fresh.trust_bundle() == current.trust_bundle()
        {
            return false;
        }
        tracing::info!(signer = %fresh.signer_id(), roots = fresh.trust_bundle().len(), "the ca changed on disk");
        match BundleClientVerifier::build(fresh.trust_bundle()) {
            Ok(v) => verifier.0.store(Arc::new(v)),
            Err(e) => tracing::warn!(error = %e, "new trust bundle refused"),
        }
        self.authority.store(Arc::new(fresh));
        true
    }
}
