//! DNS SANs over gRPC + TLS: an identity's certificate carries the names the `DnsNames` hook
//! gives it, never the CSR's, and never a name in Citadel's own domain.
#![allow(clippy::unwrap_used)]

#[path = "shared/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{
    Harness, Options, leaf_dns_names, pkcs8, sign_request, start_with, trust_domain, web_id,
};
use rcgen::{CertificateParams, KeyPair};
use rigging_citadel_client::{SignRequest, Signer};
use rigging_citadel_server::{CITADEL_DNS_NAME, CitadelConfig, CitadelServer, DnsNames};
use rigging_mesh_api::citadel::v1::SignResponse;
use rigging_mesh_api::citadel::v1::sign_request::Credential;
use rigging_mesh_spiffe::{SpiffeId, svid_id};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

const HOUR: Duration = Duration::from_secs(3600);

/// Names by identity, remembering every identity it was asked about.
#[derive(Debug, Default)]
struct FixedNames {
    names: BTreeMap<String, Vec<String>>,
    asked: Mutex<Vec<String>>,
}

impl FixedNames {
    fn new(entries: &[(&str, &[&str])]) -> Arc<Self> {
        Arc::new(Self {
            names: entries
                .iter()
                .map(|(id, names)| {
                    (
                        (*id).to_owned(),
                        names.iter().map(|n| (*n).to_owned()).collect(),
                    )
                })
                .collect(),
            asked: Mutex::default(),
        })
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl DnsNames for FixedNames {
    fn dns_names(&self, identity: &SpiffeId) -> Vec<String> {
        self.asked.lock().unwrap().push(identity.to_string());
        self.names
            .get(identity.as_str())
            .cloned()
            .unwrap_or_default()
    }
}

/// What the gateway's hook gives it: two good names, and names Citadel must drop.
const GATEWAY_NAMES: &[&str] = &[
    "shop.example.com",
    "*.ingress.consul",
    CITADEL_DNS_NAME,
    "Citadel.Rigging",
    "*.rigging",
    "pilot.rigging",
    "under_score.example.com",
    "10.0.0.1",
    "shop.example.com",
];
const ISSUED: &[&str] = &["shop.example.com", "*.ingress.consul"];

fn gateway_id() -> String {
    web_id("default", "ingress")
}

async fn start(hook: Arc<FixedNames>) -> Harness {
    start_with(Options {
        dns_names: Some(hook),
        ..Options::default()
    })
    .await
}

/// A CSR asking for DNS names of its own, which Citadel must ignore.
fn greedy_csr() -> (Vec<u8>, KeyPair) {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params =
        CertificateParams::new(vec![CITADEL_DNS_NAME.to_owned(), "shop.example.com".into()])
            .unwrap();
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    (der, key)
}

async fn sign_with_token(h: &Harness, service: &str) -> (SignResponse, KeyPair) {
    let token = h.token(service, HOUR);
    let mut client = h.client(None).await;
    let (csr, key) = greedy_csr();
    let resp = client
        .sign(sign_request(csr, Some(Credential::BootstrapToken(token))))
        .await
        .unwrap()
        .into_inner();
    (resp, key)
}

fn chain(resp: &SignResponse) -> Vec<CertificateDer<'static>> {
    resp.chain_der
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect()
}

/// Whether a TLS client trusting `h`'s bundle accepts `chain` as the server `name`.
fn serves_as(h: &Harness, chain: &[CertificateDer<'static>], name: &str) -> bool {
    let mut roots = rustls::RootCertStore::empty();
    for r in &h.bundle {
        roots.add(r.clone()).unwrap();
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let name = ServerName::try_from(name.to_owned()).unwrap();
    verifier
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], UnixTime::now())
        .is_ok()
}

#[tokio::test]
async fn the_hooks_names_go_in_that_services_certificate_only() {
    let hook = FixedNames::new(&[(&gateway_id(), GATEWAY_NAMES)]);
    let h = start(hook.clone()).await;

    let (gateway, _) = sign_with_token(&h, "ingress").await;
    assert_eq!(
        svid_id(&gateway.chain_der[0]).unwrap().as_str(),
        gateway_id()
    );
    assert_eq!(leaf_dns_names(&gateway), ISSUED);
    assert!(serves_as(&h, &chain(&gateway), "shop.example.com"));
    assert!(serves_as(&h, &chain(&gateway), "web.ingress.consul"));

    let (web, _) = sign_with_token(&h, "web").await;
    assert_eq!(
        svid_id(&web.chain_der[0]).unwrap().as_str(),
        web_id("default", "web")
    );
    assert!(
        leaf_dns_names(&web).is_empty(),
        "the csr's names are not issued"
    );
    assert!(!serves_as(&h, &chain(&web), "shop.example.com"));

    assert_eq!(hook.asked(), [gateway_id(), web_id("default", "web")]);
}

#[tokio::test]
async fn citadels_name_is_never_issued() {
    // A hook that hands Citadel's own name to everyone.
    let everyone: &[&str] = &[CITADEL_DNS_NAME, "CITADEL.RIGGING", "*.rigging"];
    let hook = FixedNames::new(&[
        (&gateway_id(), everyone),
        (&web_id("default", "web"), everyone),
    ]);
    let h = start(hook).await;
    for service in ["ingress", "web"] {
        let (resp, _) = sign_with_token(&h, service).await;
        assert!(leaf_dns_names(&resp).is_empty(), "{service}");
        assert!(!serves_as(&h, &chain(&resp), CITADEL_DNS_NAME), "{service}");
    }
}

#[tokio::test]
async fn renewal_asks_the_hook_again() {
    let hook = FixedNames::new(&[(&gateway_id(), GATEWAY_NAMES)]);
    let h = start(hook.clone()).await;
    let (first, key) = sign_with_token(&h, "ingress").await;
    let mut mtls = h.client(Some((chain(&first), pkcs8(&key)))).await;
    let renewed = mtls
        .sign(sign_request(greedy_csr().0, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf_dns_names(&renewed), ISSUED);
    assert_eq!(hook.asked(), [gateway_id(), gateway_id()]);
}

#[tokio::test]
async fn without_a_hook_no_names_are_issued() {
    let h = start_with(Options::default()).await;
    let (resp, _) = sign_with_token(&h, "ingress").await;
    assert!(leaf_dns_names(&resp).is_empty());
}

#[tokio::test]
async fn a_local_signer_takes_the_servers_hook() {
    let hook = FixedNames::new(&[(&gateway_id(), GATEWAY_NAMES)]);
    let state = tempfile::tempdir().unwrap();
    let config = CitadelConfig {
        state_dir: state.path().to_owned(),
        trust_domain: trust_domain(),
        datacenter: "dc1".to_owned(),
        leaf_ttl: rigging_citadel_ca::LeafTtl::default(),
        server_ips: Vec::new(),
    };
    let server = CitadelServer::open(config, Arc::new(harness::FakeClock::new()))
        .unwrap()
        .with_dns_names(hook.clone());
    let signer = server
        .local_signer(SpiffeId::parse(&gateway_id()).unwrap())
        .unwrap();
    let signed = signer
        .sign(SignRequest {
            csr_der: greedy_csr().0,
            credential: None,
        })
        .await
        .unwrap();
    let resp = SignResponse {
        chain_der: signed.chain.iter().map(|c| c.to_vec()).collect(),
        ..SignResponse::default()
    };
    assert_eq!(leaf_dns_names(&resp), ISSUED);
    assert_eq!(hook.asked(), [gateway_id()]);
}
