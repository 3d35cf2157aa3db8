//! A small client for the local Consul agent's service API: register and deregister.

use std::path::PathBuf;
use std::time::Duration;

use crate::register::ServiceRegistration;
use crate::sidecar::SidecarPlan;

/// The local agent's HTTP address, Consul's default.
pub const DEFAULT_AGENT_ADDRESS: &str = "http://127.0.0.1:8500";
/// How long one registration call may take; the agent answers these at once.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a TCP (and TLS) connection to the agent may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of Consul's error body goes into an error.
const ERROR_BODY_LIMIT: usize = 512;

/// How to reach the local Consul agent.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// `http://` or `https://` base address.
    pub address: String,
    /// The ACL token, sent as `X-Consul-Token`.
    pub token: Option<String>,
    /// PEM CA bundle for an `https://` agent; replaces the public roots, as Consul's clients do.
    pub ca_file: Option<PathBuf>,
    pub timeout: Duration,
}

/// Why a call to the agent failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    #[error("invalid Consul agent address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("cannot use the CA file {}: {reason}", path.display())]
    CaFile { path: PathBuf, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("cannot reach the Consul agent at {url}: {source}")]
    Unreachable {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("the Consul agent refused the token ({status}) on {path}: {body}")]
    Forbidden {
        status: u16,
        path: String,
        body: String,
    },
    #[error("the Consul agent answered {status} on {path}: {body}")]
    Status {
        status: u16,
        path: String,
        body: String,
    },
    #[error("the Consul agent's answer on {path} is not the documented JSON: {reason}")]
    Decode { path: String, reason: String },
}

impl AgentError {
    /// The HTTP status Consul answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Forbidden { status, .. } | Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl AgentConfig {
    /// The agent at `address`, no token, public roots.
    pub fn new(address: impl Into<String>) -> Self {
        Self {
            address: address.into(),
            token: None,
            ca_file: None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    pub fn with_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl Default for AgentConfig {
    fn default() -> Self {
        Self::new(DEFAULT_AGENT_ADDRESS)
    }
}

/// A client of one agent's `/v1/agent/service/*` endpoints.
#[derive(Debug, Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    base: reqwest::Url,
    token: Option<String>,
}

impl AgentClient {
    pub fn new(config: &AgentConfig) -> Result<Self, AgentError> {
        let bad = |reason: String| AgentError::Address {
            address: config.address.clone(),
            reason,
        };
        let base = reqwest::Url::parse(&config.address).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("expected an http:// or https:// address".to_owned()));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(config.timeout);
        if let Some(path) = &config.ca_file {
            let ca_err = |reason: String| AgentError::CaFile {
                path: path.clone(),
                reason,
            };
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no PEM certificate in the file".to_owned()));
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| AgentError::Client(e.to_string()))?;
        Ok(Self {
            http,
            base,
            token: config.token.clone(),
        })
    }

    /// `PUT /v1/agent/service/register` with `body`; `token` (a definition's own `token`)
    /// overrides the client's.
    pub async fn register(
        &self,
        body: &ServiceRegistration,
        token: Option<&str>,
    ) -> Result<(), AgentError> {
        let url = self.url(&["v1", "agent", "service", "register"]);
        tracing::info!(service = %body.name, id = ?body.id, "registering with the Consul agent");
        self.send(self.http.put(url).json(body), token)
            .await
            .map(drop)
    }

    /// Registers a plan's body with its token: the service and its sidecar, or the proxy.
    pub async fn register_plan(&self, plan: &SidecarPlan) -> Result<(), AgentError> {
        self.register(&plan.registration, plan.token.as_deref())
            .await
    }

    /// `PUT /v1/agent/service/deregister/:service_id`; the agent also drops a nested sidecar.
    pub async fn deregister(&self, service_id: &str) -> Result<(), AgentError> {
        let url = self.url(&["v1", "agent", "service", "deregister", service_id]);
        tracing::info!(id = %service_id, "deregistering from the Consul agent");
        self.send(self.http.put(url), None).await.map(drop)
    }

    /// `GET /v1/agent/services`: the agent's services by ID, as Consul returns them.
    pub async fn services(&self) -> Result<serde_json::Map<String, serde_json::Value>, AgentError> {
        let path = "/v1/agent/services";
        let url = self.url(&["v1", "agent", "services"]);
        let body = self.send(self.http.get(url), None).await?;
        serde_json::from_slice(&body).map_err(|e| AgentError::Decode {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    }

    fn url(&self, segments: &[&str]) -> reqwest::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        token: Option<&str>,
    ) -> Result<Vec<u8>, AgentError> {
        let req = match token.or(self.token.as_deref()) {
            Some(t) => req.header("X-Consul-Token", t),
            None => req,
        };
        let resp = req.send().await.map_err(|source| AgentError::Unreachable {
            url: self.base.to_string(),
            source,
        })?;
        let status = resp.status().as_u16();
        let path = resp.url().path().to_owned();
        let body = resp
            .bytes()
            .await
            .map_err(|source| AgentError::Unreachable {
                url: self.base.to_string(),
                source,
            })?;
        if (200..300).contains(&status) {
            return Ok(body.to_vec());
        }
        let mut text = String::from_utf8_lossy(&body).trim().to_owned();
        if text.len() > ERROR_BODY_LIMIT {
            let cut = (0..=ERROR_BODY_LIMIT)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        tracing::warn!(status, %path, body = %text, "the Consul agent refused a request");
        Err(if status == 403 {
            AgentError::Forbidden {
                status,
                path,
                body: text,
            }
        } else {
            AgentError::Status {
                status,
                path,
                body: text,
            }
        })
    }
}
