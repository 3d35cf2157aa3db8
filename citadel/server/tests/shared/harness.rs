//! A Citadel on 127.0.0.1:0 over a temporary state folder, and a TLS client for it.
#![allow(dead_code, clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair, SanType};
use rigging_citadel_ca::{LeafTtl, TrustDomain};
use rigging_citadel_server::{
    Authenticator, AuthorityHandle, CitadelConfig, CitadelServer, Clock, DnsNames,
};
use rigging_mesh_api::citadel::v1::citadel_client::CitadelClient;
use rigging_mesh_api::citadel::v1::sign_request::Credential;
use rigging_mesh_api::citadel::v1::{SignRequest, SignResponse};
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tonic::transport::{Channel, Endpoint};
use x509_parser::prelude::{FromDer, X509Certificate};

pub const TD: &str = "rigging.test";

/// A clock that follows the system's and that the test can move forward.
#[derive(Debug, Clone)]
pub struct FakeClock(pub Arc<Mutex<Duration>>);

impl FakeClock {
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(Duration::ZERO)))
    }
    pub fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> SystemTime {
        SystemTime::now() + *self.0.lock().unwrap()
    }
}

/// How a test's Citadel differs from the default one.
pub struct Options {
    pub extra: Vec<Arc<dyn Authenticator>>,
    pub leaf_ttl: LeafTtl,
    pub reload_interval: Duration,
    pub dns_names: Option<Arc<dyn DnsNames>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            extra: Vec::new(),
            leaf_ttl: LeafTtl::default(),
            reload_interval: rigging_citadel_server::DEFAULT_RELOAD_INTERVAL,
            dns_names: None,
        }
    }
}

pub struct Harness {
    pub addr: std::net::SocketAddr,
    /// The trust bundle when the server started.
    pub bundle: Vec<CertificateDer<'static>>,
    /// The server's CA, following rotations.
    pub authority: AuthorityHandle,
    pub state: tempfile::TempDir,
    pub clock: FakeClock,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn trust_domain() -> TrustDomain {
    TrustDomain::new(TD).unwrap()
}

/// Starts Citadel with the default authenticators plus `extra`.
pub async fn start(extra: Vec<Arc<dyn Authenticator>>) -> Harness {
    start_with(Options {
        extra,
        ..Options::default()
    })
    .await
}

/// Starts Citadel as `options` say.
pub async fn start_with(options: Options) -> Harness {
    let state = tempfile::tempdir().unwrap();
    let clock = FakeClock::new();
    let config = CitadelConfig {
        state_dir: state.path().to_owned(),
        trust_domain: trust_domain(),
        datacenter: "dc1".to_owned(),
        leaf_ttl: options.leaf_ttl,
        server_ips: Vec::new(),
    };
    let mut server = CitadelServer::open(config, Arc::new(clock.clone()))
        .unwrap()
        .with_reload_interval(options.reload_interval);
    for a in options.extra {
        server = server.with_authenticator(a);
    }
    if let Some(hook) = options.dns_names {
        server = server.with_dns_names(hook);
    }
    let bundle = server.trust_bundle();
    let authority = server.authority_handle();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    Harness {
        addr,
        bundle,
        authority,
        state,
        clock,
        _stop: stop,
    }
}

/// The layout the harness uses, for authenticators the tests build.
pub fn layout() -> rigging_citadel_server::IdentityLayout {
    rigging_citadel_server::IdentityLayout {
        trust_domain: trust_domain(),
        datacenter: "dc1".to_owned(),
    }
}

impl Harness {
    /// A client that trusts the bundle, optionally presenting a client certificate.
    pub async fn client(
        &self,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> CitadelClient<Channel> {
        self.try_client(identity).await.unwrap()
    }

    /// As [`Self::client`], but a failed connection is returned.
    pub async fn try_client(
        &self,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> Result<CitadelClient<Channel>, tonic::transport::Error> {
        let mut roots = RootCertStore::empty();
        for r in &self.bundle {
            roots.add(r.clone()).unwrap();
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
        let mut config = match identity {
            Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let addr = self.addr;
        let channel = Endpoint::from_static("http://citadel.rigging")
            .connect_with_connector(tower::service_fn(move |_| {
                let connector = connector.clone();
                async move {
                    let tcp = tokio::net::TcpStream::connect(addr).await?;
                    let name = ServerName::try_from("citadel.rigging").unwrap();
                    let tls = connector.connect(name, tcp).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(tls))
                }
            }))
            .await?;
        Ok(CitadelClient::new(channel))
    }

    pub fn token(&self, service: &str, ttl: Duration) -> String {
        rigging_citadel_server::TokenStore::new(self.state.path())
            .create("default", service, ttl, self.clock.now())
            .unwrap()
    }

    /// The CA state folder, as `rig citadel rotate-root` sees it.
    pub fn ca_store(&self) -> rigging_citadel_ca::CaStore {
        rigging_citadel_ca::CaStore::new(self.state.path())
    }

    /// Waits (up to five seconds) until the server's CA satisfies `done`.
    pub async fn wait_for_ca(&self, done: impl Fn(&rigging_citadel_ca::Authority) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !done(&self.authority.current()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the server did not reload the ca"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A CSR that asks for an identity of its own choosing (which Citadel must ignore).
pub fn evil_csr() -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names.push(SanType::URI(
        "spiffe://evil/ns/default/dc/dc1/svc/admin"
            .try_into()
            .unwrap(),
    ));
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    (der, key)
}

pub fn sign_request(csr_der: Vec<u8>, credential: Option<Credential>) -> SignRequest {
    SignRequest {
        csr_der,
        credential,
    }
}

/// The DNS SANs of the response's leaf, in order.
pub fn leaf_dns_names(response: &SignResponse) -> Vec<String> {
    let (_, leaf) = X509Certificate::from_der(&response.chain_der[0]).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    san.value
        .general_names
        .iter()
        .filter_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
            _ => None,
        })
        .collect()
}

/// The one URI SAN of the response's leaf.
pub fn leaf_identity(response: &SignResponse) -> String {
    let (_, leaf) = X509Certificate::from_der(&response.chain_der[0]).unwrap();
    let san = leaf.subject_alternative_name().unwrap().unwrap();
    assert_eq!(san.value.general_names.len(), 1);
    match &san.value.general_names[0] {
        x509_parser::extensions::GeneralName::URI(u) => (*u).to_owned(),
        other => panic!("not a uri san: {other:?}"),
    }
}

pub fn web_id(ns: &str, svc: &str) -> String {
    format!("spiffe://{TD}/ns/{ns}/dc/dc1/svc/{svc}")
}

/// Asserts a refusal carries no detail.
pub fn assert_refused(result: Result<tonic::Response<SignResponse>, tonic::Status>) {
    let status = result.expect_err("must be refused");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert_eq!(status.message(), "unauthenticated");
}

pub fn pkcs8(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}
