//! Nomad and Kubernetes JWTs against a fake JWKS server the test runs on 127.0.0.1:0.
#![allow(clippy::unwrap_used)]

#[path = "shared/harness.rs"]
mod harness;
#[path = "shared/jwks.rs"]
mod jwks;

use std::sync::Arc;
use std::time::SystemTime;

use harness::{
    Harness, assert_refused, evil_csr, layout, leaf_identity, sign_request, start, web_id,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwks::{b64, jwks_server};
use rcgen::KeyPair;
use rigging_citadel_server::{
    ClaimsMapping, DEFAULT_JWT_LEEWAY, JwksSource, JwtAuthenticator, JwtConfig,
};
use rigging_mesh_api::citadel::v1::sign_request::Credential;
use serde_json::{Value, json};

const NOMAD_ISS: &str = "https://nomad.test:4646";
const K8S_ISS: &str = "https://kubernetes.default.svc";
const AUD: &str = "rigging-citadel";
const KID: &str = "key-1";

fn jwk_of(key: &KeyPair) -> Value {
    let raw = key.public_key_raw();
    json!({"kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65]), "kid": KID, "alg": "ES256", "use": "sig"})
}

fn sign(key: &KeyPair, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KID.to_owned());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_ec_der(&key.serialize_der()),
    )
    .unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn nomad_claims() -> Value {
    let now = unix_now();
    json!({
        "iss": NOMAD_ISS, "aud": AUD, "iat": now, "nbf": now, "exp": now + 3600,
        "sub": "global:default:web:web:web-http",
        "nomad_namespace": "default", "nomad_job_id": "web",
        "nomad_allocation_id": "5c6328f7-48c5-4d03-bada-91ef2e904d0d",
        "nomad_service": "web",
    })
}

fn k8s_claims() -> Value {
    let now = unix_now();
    json!({
        "iss": K8S_ISS, "aud": [AUD], "iat": now, "nbf": now, "exp": now + 3600,
        "sub": "system:serviceaccount:prod:api",
        "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "api", "uid": "u"}, "pod": {"name": "api-1", "uid": "p"}},
    })
}

/// Citadel with Nomad and Kubernetes authenticators, both on a JWKS holding `key`'s public half.
async fn citadel(key: &KeyPair) -> Harness {
    let url = jwks_server(json!({"keys": [jwk_of(key)]})).await;
    let clock = Arc::new(rigging_citadel_server::SystemClock);
    let make = |issuer: &str, mapping| -> Arc<dyn rigging_citadel_server::Authenticator> {
        Arc::new(JwtAuthenticator::new(
            JwtConfig {
                issuer: issuer.to_owned(),
                audience: AUD.to_owned(),
                leeway: DEFAULT_JWT_LEEWAY,
                mapping,
            },
            JwksSource::new(&url).unwrap(),
            layout(),
            clock.clone(),
        ))
    };
    start(vec![
        make(NOMAD_ISS, ClaimsMapping::Nomad),
        make(K8S_ISS, ClaimsMapping::Kubernetes),
    ])
    .await
}

async fn nomad(
    h: &Harness,
    token: String,
) -> Result<tonic::Response<rigging_mesh_api::citadel::v1::SignResponse>, tonic::Status> {
    h.client(None)
        .await
        .sign(sign_request(
            evil_csr().0,
            Some(Credential::NomadWorkloadJwt(token)),
        ))
        .await
}

#[tokio::test]
async fn nomad_service_identity_issues_its_service_not_the_csrs() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let resp = nomad(&h, sign(&key, &nomad_claims()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf_identity(&resp), web_id("default", "web"));
}

#[tokio::test]
async fn kubernetes_token_issues_its_service_account() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let resp = h
        .client(None)
        .await
        .sign(sign_request(
            evil_csr().0,
            Some(Credential::KubernetesSaToken(sign(&key, &k8s_claims()))),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf_identity(&resp), web_id("prod", "api"));
}

#[tokio::test]
async fn bad_signature_is_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let other = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    assert_refused(nomad(&h, sign(&other, &nomad_claims())).await);
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let mut claims = nomad_claims();
    claims["aud"] = json!("vault.io");
    assert_refused(nomad(&h, sign(&key, &claims)).await);
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let mut claims = nomad_claims();
    claims["iss"] = json!("https://evil.test");
    assert_refused(nomad(&h, sign(&key, &claims)).await);
    // A Kubernetes token is not a Nomad token, even with a good signature.
    assert_refused(nomad(&h, sign(&key, &k8s_claims())).await);
}

#[tokio::test]
async fn expired_and_future_tokens_are_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let mut claims = nomad_claims();
    claims["exp"] = json!(unix_now() - DEFAULT_JWT_LEEWAY.as_secs() - 10);
    assert_refused(nomad(&h, sign(&key, &claims)).await);
    let mut claims = nomad_claims();
    claims["nbf"] = json!(unix_now() + 3 * DEFAULT_JWT_LEEWAY.as_secs());
    assert_refused(nomad(&h, sign(&key, &claims)).await);
    let mut claims = nomad_claims();
    claims.as_object_mut().unwrap().remove("exp");
    assert_refused(nomad(&h, sign(&key, &claims)).await);
}

#[tokio::test]
async fn alg_none_and_hmac_are_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let payload = b64(nomad_claims().to_string().as_bytes());
    let none = format!(
        "{}.{payload}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"key-1"}"#)
    );
    assert_refused(nomad(&h, none).await);
    // HS256 keyed with the public key's bytes: the classic key-confusion forgery.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(KID.to_owned());
    let hs = jsonwebtoken::encode(
        &header,
        &nomad_claims(),
        &EncodingKey::from_secret(key.public_key_raw()),
    )
    .unwrap();
    assert_refused(nomad(&h, hs).await);
}

/// Nomad gives tasks task identities only: the proxy task `rig nomad inject` writes (and the
/// gateway tasks) prove their service by their name.
#[tokio::test]
async fn nomad_proxy_task_identity_issues_its_service() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    for (task, service) in [
        ("connect-proxy-web", "web"),
        ("connect-ingress-edge", "edge"),
        ("connect-terminating-egress", "egress"),
    ] {
        let mut claims = nomad_claims();
        let obj = claims.as_object_mut().unwrap();
        obj.remove("nomad_service");
        obj.insert("nomad_task".into(), json!(task));
        let resp = nomad(&h, sign(&key, &claims)).await.unwrap().into_inner();
        assert_eq!(leaf_identity(&resp), web_id("default", service), "{task}");
    }
    for task in ["connect-proxy-", "connect-mesh-wan", "web"] {
        let mut claims = nomad_claims();
        let obj = claims.as_object_mut().unwrap();
        obj.remove("nomad_service");
        obj.insert("nomad_task".into(), json!(task));
        assert_refused(nomad(&h, sign(&key, &claims)).await);
    }
}

#[tokio::test]
async fn task_identity_without_a_service_and_unknown_kid_are_refused() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let h = citadel(&key).await;
    let mut claims = nomad_claims();
    let obj = claims.as_object_mut().unwrap();
    obj.remove("nomad_service");
    obj.insert("nomad_task".into(), json!("web"));
    assert_refused(nomad(&h, sign(&key, &claims)).await);
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("rotated-away".to_owned());
    let t = jsonwebtoken::encode(
        &header,
        &nomad_claims(),
        &EncodingKey::from_ec_der(&key.serialize_der()),
    )
    .unwrap();
    assert_refused(nomad(&h, t).await);
    assert_refused(nomad(&h, "not-a-jwt".to_owned()).await);
}

#[tokio::test]
async fn jwks_url_must_be_http() {
    assert!(JwksSource::new("file:///etc/passwd").is_err());
    assert!(JwksSource::new("not a url").is_err());
}
