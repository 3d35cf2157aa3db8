//! A stand-in for Nomad's workload identity: a signing key, its JWKS served over HTTP on
//! loopback, and service identity JWTs as Nomad writes them into a task's secrets folder.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rcgen::KeyPair;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// The `iss` of our Nomad's tokens.
pub const ISSUER: &str = "https://nomad.test:4646";
/// The `aud` Citadel expects (its default).
pub const AUDIENCE: &str = "rigging-citadel";
const KID: &str = "nomad-test-key";
/// How long a workload JWT is valid: the whole test, with room.
const JWT_TTL: Duration = Duration::from_secs(3600);

/// Nomad's signing key and its JWKS endpoint; the endpoint stops on drop.
#[derive(Debug)]
pub struct Nomad {
    key: KeyPair,
    /// `http://127.0.0.1:<port>/.well-known/jwks.json`.
    pub jwks_url: String,
    server: JoinHandle<()>,
}

impl Nomad {
    /// A new ES256 key, its JWKS served on 127.0.0.1:`port`.
    pub async fn start(port: u16) -> anyhow::Result<Self> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let raw = key.public_key_raw();
        anyhow::ensure!(raw.len() == 65, "not an uncompressed P-256 point");
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let jwks = json!({"keys": [{
            "kty": "EC", "crv": "P-256", "x": b64(&raw[1..33]), "y": b64(&raw[33..65]),
            "kid": KID, "alg": "ES256", "use": "sig",
        }]});
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let listener = TcpListener::bind(addr).await?;
        let server = tokio::spawn(serve(listener, jwks.to_string()));
        Ok(Self {
            key,
            jwks_url: format!("http://{addr}/.well-known/jwks.json"),
            server,
        })
    }

    /// A service identity JWT for `service` in the `default` namespace, as Nomad signs one
    /// for a service block with an `identity` for Citadel's audience.
    pub fn service_jwt(&self, service: &str) -> anyhow::Result<String> {
        self.sign(json!({
            "sub": format!("global:default:{service}:{service}:{service}-svc"),
            "nomad_namespace": "default", "nomad_job_id": service,
            "nomad_allocation_id": "5c6328f7-48c5-4d03-bada-91ef2e904d0d",
            "nomad_service": service,
        }))
    }

    /// A task identity JWT for task `task` of group `group` in job `job`, as Nomad writes one
    /// into the task's secrets folder for an `identity` block with Citadel's audience.
    pub fn task_jwt(
        &self,
        job: &str,
        group: &str,
        task: &str,
        alloc: &str,
    ) -> anyhow::Result<String> {
        self.sign(json!({
            "sub": format!("global:default:{job}:{group}:{task}:rigging"),
            "nomad_namespace": "default", "nomad_job_id": job,
            "nomad_allocation_id": alloc,
            "nomad_task": task,
        }))
    }

    /// Signs `claims` with the issuer, audience and times of our Nomad added.
    fn sign(&self, mut claims: serde_json::Value) -> anyhow::Result<String> {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)?
            .as_secs();
        let times = json!({
            "iss": ISSUER, "aud": AUDIENCE, "iat": now, "nbf": now,
            "exp": now + JWT_TTL.as_secs(),
        });
        if let (Some(c), Some(t)) = (claims.as_object_mut(), times.as_object()) {
            c.extend(t.clone());
        }
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(KID.to_owned());
        jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_ec_der(&self.key.serialize_der()),
        )
        .context("signing a workload jwt")
    }

    /// `rig citadel serve`'s flags to trust this Nomad.
    pub fn citadel_args(&self) -> Vec<String> {
        [
            "--nomad-jwks",
            &self.jwks_url,
            "--nomad-issuer",
            ISSUER,
            "--nomad-audience",
            AUDIENCE,
        ]
        .map(str::to_owned)
        .to_vec()
    }
}

impl Drop for Nomad {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Answers every request with `body` as JSON, one request per connection.
async fn serve(listener: TcpListener, body: String) {
    while let Ok((mut stream, _)) = listener.accept().await {
        let body = body.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf).await;
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 connection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
