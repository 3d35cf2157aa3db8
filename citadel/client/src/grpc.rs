//! [`GrpcSigner`]: Citadel's `Sign` and `TrustBundle` over TLS 1.3, Citadel's server
//! certificate checked against the configured roots and the workload's current trust bundle,
//! and the current workload certificate (if any) as mTLS client credential — the credential of
//! a renewal.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rigging_mesh_api::citadel::v1 as pb;
use rigging_mesh_spiffe::TrustBundle;
use rustls::ClientConfig;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint};

use crate::bundle::{BundleFuture, BundleSource};
use crate::signer::{Credential, SignError, SignFuture, SignRequest, Signed, Signer};
use crate::store::CertStore;

/// Citadel is local or one hop away; a connection that takes longer is not coming.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Signing is one CSR and one signature; anything slower is a stuck server.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Calls Citadel over gRPC. A new connection per call, so that each `Sign` presents the
/// certificate held at that moment (none on first issuance, the current one on renewal), and
/// checks Citadel against the roots trusted at that moment: after a root rotation's second
/// step Citadel's own certificate comes from the new root, which the workload learnt from its
/// trust bundle.
#[derive(Debug, Clone)]
pub struct GrpcSigner {
    addr: String,
    store: Arc<CertStore>,
    server_name: ServerName<'static>,
    /// The roots given at construction: always trusted for Citadel, besides the store's bundle.
    citadel_roots: Arc<[CertificateDer<'static>]>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

/// Why a [`GrpcSigner`] cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GrpcSignerError {
    #[error("citadel's roots are unusable")]
    Roots(#[source] rustls::Error),
    #[error("tls config for citadel failed")]
    Tls(#[source] rustls::Error),
}

impl GrpcSigner {
    /// A signer for Citadel at `addr` (`host:port`), whose server certificate must be valid for
    /// `server_name` and chain to one of `citadel_roots` or of `store`'s current trust bundle;
    /// `store` provides the client certificate for renewals.
    pub fn new(
        addr: impl Into<String>,
        server_name: ServerName<'static>,
        citadel_roots: &TrustBundle,
        store: Arc<CertStore>,
    ) -> Result<Self, GrpcSignerError> {
        let signer = Self {
            addr: addr.into(),
            store,
            server_name,
            citadel_roots: citadel_roots.roots().into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        };
        // Fail now, not at the first call, if the roots or the config are unusable.
        signer.tls_config()?;
        Ok(signer)
    }

    /// Citadel's current trust bundle (every root, DER) from its `TrustBundle` call, as it
    /// answered it; [`crate::BundleWatcher`] checks it before use.
    pub async fn trust_bundle(&self) -> Result<Vec<CertificateDer<'static>>, SignError> {
        let mut client = self.connect().await?;
        let response = client
            .trust_bundle(pb::TrustBundleRequest {})
            .await
            .map_err(|status| self.status_error(status))?;
        Ok(response
            .into_inner()
            .trust_bundle_der
            .into_iter()
            .map(CertificateDer::from)
            .collect())
    }

    async fn call(&self, request: SignRequest) -> Result<Signed, SignError> {
        // Without a credential, the held certificate is the credential; with neither, Citadel
        // would only refuse, so the call is not made.
        if request.credential.is_none() && self.store.certified_key().is_none() {
            return Err(SignError::NoCredential);
        }
        let mut client = self.connect().await?;
        let response = client
            .sign(pb::SignRequest {
                csr_der: request.csr_der,
                credential: request.credential.map(into_proto),
            })
            .await
            .map_err(|status| self.status_error(status))?;
        Signed::try_from(response.into_inner())
    }

    /// A fresh TLS connection, presenting the certificate the store holds now (if any).
    async fn connect(&self) -> Result<pb::citadel_client::CitadelClient<Channel>, SignError> {
        let tls = self.tls_config().map_err(SignError::Setup)?;
        let connector = TlsConnector::from(Arc::new(tls));
        let (addr, name) = (self.addr.clone(), self.server_name.clone());
        // TLS is done by our connector, so the URI only names the authority.
        let channel = Endpoint::from_shared(format!("http://{}", self.addr))
            .map_err(|e| self.unreachable(e.into()))?
            .connect_timeout(self.connect_timeout)
            .timeout(self.request_timeout)
            .connect_with_connector(tower::service_fn(move |_: http::Uri| {
                let (connector, addr, name) = (connector.clone(), addr.clone(), name.clone());
                async move {
                    let tcp = rigging_mesh_net::connect(&*addr).await?;
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await
            .map_err(|e| self.unreachable(e.into()))?;
        Ok(pb::citadel_client::CitadelClient::new(channel))
    }

    /// TLS 1.3 and h2, Citadel checked against the given roots and the store's current bundle,
    /// the store's certificate as client credential.
    fn tls_config(&self) -> Result<ClientConfig, GrpcSignerError> {
        let mut roots = rustls::RootCertStore::empty();
        let bundle = self.store.bundle().load();
        for root in self.citadel_roots.iter().chain(bundle.roots()) {
            roots.add(root.clone()).map_err(GrpcSignerError::Roots)?;
        }
        let mut tls = ClientConfig::builder_with_provider(rigging_mesh_spiffe::config::provider())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(GrpcSignerError::Tls)?
            .with_root_certificates(roots)
            .with_client_cert_resolver(Arc::new(UnexpiredCertificate(self.store.clone())));
        tls.alpn_protocols = vec![b"h2".to_vec()];
        Ok(tls)
    }

    /// Transport trouble is worth a retry; any other status is Citadel's answer.
    fn status_error(&self, status: tonic::Status) -> SignError {
        match status.code() {
            // A call cut short by our own timeout comes back as Cancelled: Citadel did not
            // answer, it did not refuse.
            tonic::Code::Unavailable
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Unknown
            | tonic::Code::Cancelled => self.unreachable(status.into()),
            code => SignError::Refused { code },
        }
    }

    fn unreachable(&self, source: Box<dyn std::error::Error + Send + Sync>) -> SignError {
        SignError::Unreachable {
            endpoint: self.addr.clone(),
            source,
        }
    }
}

impl Signer for GrpcSigner {
    fn sign(&self, request: SignRequest) -> SignFuture<'_> {
        Box::pin(self.call(request))
    }
}

impl BundleSource for GrpcSigner {
    fn trust_bundle(&self) -> BundleFuture<'_> {
        Box::pin(GrpcSigner::trust_bundle(self))
    }
}

impl TryFrom<pb::SignResponse> for Signed {
    type Error = SignError;

    fn try_from(response: pb::SignResponse) -> Result<Self, SignError> {
        let ders = |v: Vec<Vec<u8>>| -> Vec<CertificateDer<'static>> {
            v.into_iter().map(CertificateDer::from).collect()
        };
        if response.chain_der.is_empty() {
            return Err(SignError::BadResponse {
                field: "chain_der",
                problem: "is empty",
            });
        }
        if response.trust_bundle_der.is_empty() {
            return Err(SignError::BadResponse {
                field: "trust_bundle_der",
                problem: "is empty",
            });
        }
        Ok(Self {
            chain: ders(response.chain_der),
            trust_bundle: ders(response.trust_bundle_der),
        })
    }
}

fn into_proto(credential: Credential) -> pb::sign_request::Credential {
    use pb::sign_request::Credential as P;
    match credential {
        Credential::BootstrapToken(t) => P::BootstrapToken(t),
        Credential::NomadWorkloadJwt(t) => P::NomadWorkloadJwt(t),
        Credential::KubernetesSaToken(t) => P::KubernetesSaToken(t),
    }
}

/// The store's certificate as the client credential towards Citadel, only while it is valid.
/// An expired certificate authenticates nothing and makes Citadel refuse the handshake, so the
/// renewal after an expiry (which carries the workload's credential instead) could never reach
/// it.
#[derive(Debug)]
struct UnexpiredCertificate(Arc<CertStore>);

impl rustls::client::ResolvesClientCert for UnexpiredCertificate {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        if self.has_certs() {
            self.0.certified_key()
        } else {
            None
        }
    }

    fn has_certs(&self) -> bool {
        let now = rustls_pki_types::UnixTime::now().as_secs();
        self.0.svid().is_some_and(|s| s.not_after > now)
    }
}
