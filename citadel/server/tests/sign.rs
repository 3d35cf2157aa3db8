//! Issuance over gRPC + TLS with bootstrap tokens and renewal.
#![allow(clippy::unwrap_used)]

#[path = "shared/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{assert_refused, evil_csr, leaf_identity, pkcs8, sign_request, start, web_id};
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rigging_mesh_api::citadel::v1::TrustBundleRequest;
use rigging_mesh_api::citadel::v1::sign_request::Credential;
use rustls_pki_types::CertificateDer;

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn bootstrap_token_issues_its_service_identity_not_the_csrs() {
    let h = start(vec![]).await;
    let token = h.token("web", HOUR);
    let mut client = h.client(None).await;
    let (csr, _) = evil_csr();
    let resp = client
        .sign(sign_request(csr, Some(Credential::BootstrapToken(token))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf_identity(&resp), web_id("default", "web"));
    assert_eq!(resp.trust_bundle_der.len(), 1);
    assert_eq!(resp.trust_bundle_der[0], h.bundle[0].to_vec());
    assert!(resp.expires_unix_seconds > 0);
}

#[tokio::test]
async fn reused_bootstrap_token_is_refused() {
    let h = start(vec![]).await;
    let token = h.token("web", HOUR);
    let mut client = h.client(None).await;
    client
        .sign(sign_request(
            evil_csr().0,
            Some(Credential::BootstrapToken(token.clone())),
        ))
        .await
        .unwrap();
    assert_refused(
        client
            .sign(sign_request(
                evil_csr().0,
                Some(Credential::BootstrapToken(token)),
            ))
            .await,
    );
}

#[tokio::test]
async fn concurrent_signs_with_one_token_issue_once() {
    let h = start(vec![]).await;
    let token = h.token("web", HOUR);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut client = h.client(None).await;
        let token = token.clone();
        tasks.push(tokio::spawn(async move {
            client
                .sign(sign_request(
                    evil_csr().0,
                    Some(Credential::BootstrapToken(token)),
                ))
                .await
                .is_ok()
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += usize::from(t.await.unwrap());
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn expired_and_unknown_bootstrap_tokens_are_refused() {
    let h = start(vec![]).await;
    let token = h.token("web", Duration::from_secs(60));
    h.clock.advance(Duration::from_secs(120));
    let mut client = h.client(None).await;
    assert_refused(
        client
            .sign(sign_request(
                evil_csr().0,
                Some(Credential::BootstrapToken(token)),
            ))
            .await,
    );
    assert_refused(
        client
            .sign(sign_request(
                evil_csr().0,
                Some(Credential::BootstrapToken("A".repeat(43))),
            ))
            .await,
    );
    assert_refused(
        client
            .sign(sign_request(
                evil_csr().0,
                Some(Credential::BootstrapToken("../../etc/passwd".into())),
            ))
            .await,
    );
}

#[tokio::test]
async fn no_credential_is_refused() {
    let h = start(vec![]).await;
    let mut client = h.client(None).await;
    assert_refused(client.sign(sign_request(evil_csr().0, None)).await);
}

#[tokio::test]
async fn unconfigured_jwt_kinds_are_refused() {
    let h = start(vec![]).await;
    let mut client = h.client(None).await;
    assert_refused(
        client
            .sign(sign_request(
                evil_csr().0,
                Some(Credential::NomadWorkloadJwt("a.b.c".into())),
            ))
            .await,
    );
}

#[tokio::test]
async fn bad_csr_signature_is_refused_and_the_token_survives() {
    let h = start(vec![]).await;
    let token = h.token("web", HOUR);
    let mut client = h.client(None).await;
    let mut csr = evil_csr().0;
    let last = csr.len() - 1;
    csr[last] ^= 1;
    assert_refused(
        client
            .sign(sign_request(
                csr,
                Some(Credential::BootstrapToken(token.clone())),
            ))
            .await,
    );
    // The token was not spent on the bad CSR.
    client
        .sign(sign_request(
            evil_csr().0,
            Some(Credential::BootstrapToken(token)),
        ))
        .await
        .unwrap();
}

#[tokio::test]
async fn renewal_over_mtls_keeps_the_identity() {
    let h = start(vec![]).await;
    let token = h.token("api", HOUR);
    let mut client = h.client(None).await;
    let (csr, key) = evil_csr();
    let first = client
        .sign(sign_request(csr, Some(Credential::BootstrapToken(token))))
        .await
        .unwrap()
        .into_inner();
    let chain: Vec<CertificateDer<'static>> = first
        .chain_der
        .iter()
        .map(|c| CertificateDer::from(c.clone()))
        .collect();
    let mut mtls = h.client(Some((chain, pkcs8(&key)))).await;
    let renewed = mtls
        .sign(sign_request(evil_csr().0, None))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf_identity(&renewed), web_id("default", "api"));
}

#[tokio::test]
async fn renewal_with_a_certificate_of_another_ca_is_refused() {
    let h = start(vec![]).await;
    // A self-made CA and an SVID-shaped leaf: the handshake may pass (client auth is optional),
    // but the certificate is not ours.
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(ca.der(), &ca_key).unwrap();
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![SanType::URI(web_id("default", "admin").try_into().unwrap())];
    let leaf = params.signed_by(&key, &issuer).unwrap();
    // Refused in the handshake (connect fails) or at Sign; never issued.
    let chain = vec![leaf.der().clone()];
    if let Ok(mut client) = h.try_client(Some((chain, pkcs8(&key)))).await {
        assert!(client.sign(sign_request(evil_csr().0, None)).await.is_err());
    }
}

#[tokio::test]
async fn trust_bundle_is_public() {
    let h = start(vec![]).await;
    let mut client = h.client(None).await;
    let bundle = client
        .trust_bundle(TrustBundleRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(bundle.trust_bundle_der, vec![h.bundle[0].to_vec()]);
}
