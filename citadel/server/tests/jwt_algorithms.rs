//! `JwtAuthenticator` with RSA (RS256) and Ed25519 (EdDSA) issuer keys, besides the ES256 of
//! `jwt.rs`: a good token maps to its service, and `alg: none`, a wrong issuer or audience, an
//! expired or tampered token, and an algorithm other than its key's are each refused for their
//! own reason.
#![allow(clippy::unwrap_used)]

#[path = "shared/harness.rs"]
mod harness;
#[path = "shared/jwks.rs"]
mod jwks;

use std::sync::Arc;
use std::time::SystemTime;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use jwks::{b64, jwks_server};
use rcgen::KeyPair;
use rigging_citadel_server::{
    AuthError, Authenticator, ClaimsMapping, Credential, DEFAULT_JWT_LEEWAY, JwksSource,
    JwtAuthenticator, JwtConfig, SystemClock,
};
use rigging_mesh_api::citadel::v1::sign_request::Credential as ProtoCredential;
use serde_json::{Value, json};

const ISS: &str = "https://nomad.test:4646";
const AUD: &str = "rigging-citadel";
/// A 2048-bit RSA key made for these tests only (`openssl genrsa -traditional 2048`): no RSA
/// key generation is linked into the workspace.
const RSA_PEM: &str = include_str!("fixtures/jwt-test-rsa-2048.pem");

/// An issuer's signing key and the JWK that publishes its public half.
struct IssuerKey {
    alg: Algorithm,
    kid: &'static str,
    encoding: EncodingKey,
    jwk: Value,
}

fn rsa_key() -> IssuerKey {
    let body: String = RSA_PEM
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .unwrap();
    // PKCS#1 RSAPrivateKey: SEQUENCE { version, modulus, publicExponent, ... }.
    let (_, key) = x509_parser::der_parser::parse_der(&der).unwrap();
    let fields = key.as_sequence().unwrap();
    let unsigned = |i: usize| {
        let bytes = fields[i].as_slice().unwrap();
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        b64(&bytes[start..])
    };
    IssuerKey {
        alg: Algorithm::RS256,
        kid: "rsa-1",
        encoding: EncodingKey::from_rsa_der(&der),
        jwk: json!({"kty": "RSA", "n": unsigned(1), "e": unsigned(2), "kid": "rsa-1", "alg": "RS256", "use": "sig"}),
    }
}

fn ed25519_key() -> IssuerKey {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    IssuerKey {
        alg: Algorithm::EdDSA,
        kid: "ed-1",
        encoding: EncodingKey::from_ed_der(&key.serialize_der()),
        jwk: json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key_raw()), "kid": "ed-1", "alg": "EdDSA", "use": "sig"}),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    let now = unix_now();
    json!({
        "iss": ISS, "aud": AUD, "iat": now, "nbf": now, "exp": now + 3600,
        "sub": "global:default:web:web:web-http",
        "nomad_namespace": "default", "nomad_job_id": "web", "nomad_service": "web",
    })
}

fn sign(key: &IssuerKey, claims: &Value) -> String {
    let mut header = Header::new(key.alg);
    header.kid = Some(key.kid.to_owned());
    jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
}

/// Both keys, and a Nomad authenticator whose JWKS publishes both.
async fn setup() -> (Vec<IssuerKey>, JwtAuthenticator) {
    let keys = vec![rsa_key(), ed25519_key()];
    let url =
        jwks_server(json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})).await;
    (keys, authenticator(&url))
}

fn authenticator(jwks_url: &str) -> JwtAuthenticator {
    JwtAuthenticator::new(
        JwtConfig {
            issuer: ISS.to_owned(),
            audience: AUD.to_owned(),
            leeway: DEFAULT_JWT_LEEWAY,
            mapping: ClaimsMapping::Nomad,
        },
        JwksSource::new(jwks_url).unwrap(),
        harness::layout(),
        Arc::new(SystemClock),
    )
}

async fn check(auth: &JwtAuthenticator, token: &str) -> Result<String, AuthError> {
    auth.authenticate(&Credential::NomadWorkloadJwt(token))
        .await
        .map(|id| id.to_string())
}

#[tokio::test]
async fn rs256_and_eddsa_tokens_map_to_their_service() {
    let (keys, auth) = setup().await;
    for key in &keys {
        let id = check(&auth, &sign(key, &claims())).await;
        assert_eq!(
            id.as_deref().ok(),
            Some(harness::web_id("default", "web").as_str()),
            "{:?}: {id:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn alg_none_is_refused_whichever_key_it_names() {
    let (keys, auth) = setup().await;
    let payload = b64(claims().to_string().as_bytes());
    for key in &keys {
        let header = json!({"alg": "none", "typ": "JWT", "kid": key.kid});
        let token = format!("{}.{payload}.", b64(header.to_string().as_bytes()));
        let err = check(&auth, &token).await.err();
        assert!(
            matches!(&err, Some(AuthError::AlgorithmNotAllowed(a)) if a == "none"),
            "{:?}: {err:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn wrong_issuer_is_refused() {
    let (keys, auth) = setup().await;
    let mut claims = claims();
    claims["iss"] = json!("https://evil.test");
    for key in &keys {
        let err = check(&auth, &sign(key, &claims)).await.err();
        assert!(
            matches!(&err, Some(AuthError::Jwt(m)) if m.contains("ssuer")),
            "{:?}: {err:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn wrong_audience_is_refused() {
    let (keys, auth) = setup().await;
    let mut claims = claims();
    claims["aud"] = json!("vault.io");
    for key in &keys {
        let err = check(&auth, &sign(key, &claims)).await.err();
        assert!(
            matches!(&err, Some(AuthError::Jwt(m)) if m.contains("udience")),
            "{:?}: {err:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn expired_tokens_are_refused_beyond_the_leeway() {
    let (keys, auth) = setup().await;
    let mut expired = claims();
    expired["exp"] = json!(unix_now() - DEFAULT_JWT_LEEWAY.as_secs() - 10);
    let mut within_leeway = claims();
    within_leeway["exp"] = json!(unix_now() - DEFAULT_JWT_LEEWAY.as_secs() / 2);
    for key in &keys {
        let err = check(&auth, &sign(key, &expired)).await.err();
        assert!(
            matches!(err, Some(AuthError::Expired { .. })),
            "{:?}: {err:?}",
            key.alg
        );
        assert!(check(&auth, &sign(key, &within_leeway)).await.is_ok());
    }
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    let (keys, auth) = setup().await;
    let mut other = claims();
    other["nomad_service"] = json!("admin");
    let forged_payload = b64(other.to_string().as_bytes());
    for key in &keys {
        let token = sign(key, &claims());
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        let err = check(&auth, &forged).await.err();
        assert!(
            matches!(err, Some(AuthError::Jwt(_))),
            "{:?}: {err:?}",
            key.alg
        );
    }
}

#[tokio::test]
async fn an_algorithm_other_than_the_keys_is_refused() {
    let (keys, auth) = setup().await;
    let (rsa, ed) = (&keys[0], &keys[1]);
    // An EdDSA signature presented under the RSA key's id, and the other way round.
    for (signer, named) in [(ed, rsa), (rsa, ed)] {
        let mut header = Header::new(signer.alg);
        header.kid = Some(named.kid.to_owned());
        let token = jsonwebtoken::encode(&header, &claims(), &signer.encoding).unwrap();
        let err = check(&auth, &token).await.err();
        assert!(
            matches!(err, Some(AuthError::AlgorithmNotAllowed(_))),
            "{:?} under {}: {err:?}",
            signer.alg,
            named.kid
        );
    }
}

#[tokio::test]
async fn rs256_and_eddsa_tokens_are_signed_through_citadel() {
    let (keys, _) = setup().await;
    let url =
        jwks_server(json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()})).await;
    let h = harness::start(vec![Arc::new(authenticator(&url)) as Arc<dyn Authenticator>]).await;
    for key in &keys {
        let response = h
            .client(None)
            .await
            .sign(harness::sign_request(
                harness::evil_csr().0,
                Some(ProtoCredential::NomadWorkloadJwt(sign(key, &claims()))),
            ))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            harness::leaf_identity(&response),
            harness::web_id("default", "web")
        );
    }
}
