//! The calls: register, plan, and reading evaluations and their allocations.

use std::error::Error as _;
use std::time::Duration;

use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::config::REQUEST_TIMEOUT;
use crate::types::{AllocationListStub, Evaluation, PlanResponse, RegisterResponse};
use crate::{ApiError, ClientConfig, ConfigError, Job, JobError};

/// Time allowed past `wait + wait/16` (Nomad's jitter) before a blocking query counts as lost.
const BLOCKING_SLACK: Duration = Duration::from_secs(5);

/// A client of one Nomad agent's jobs API; cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct NomadClient {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    namespace: Option<String>,
    region: Option<String>,
}

/// Options of `POST /v1/jobs` beyond the job.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RegisterOptions {
    /// Register only if the job's modify index is still this one (`nomad job run
    /// -check-index`): `Some(0)` means "only if the job does not exist yet".
    pub check_index: Option<u64>,
}

/// One successful answer: its body and `X-Nomad-Index`.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    pub body: T,
    pub index: u64,
}

impl NomadClient {
    /// A client for `config`; reads the TLS files now, so a bad file fails here.
    pub fn new(config: &ClientConfig) -> Result<Self, ConfigError> {
        if let Some(token) = &config.token
            && reqwest::header::HeaderValue::from_str(token).is_err()
        {
            return Err(ConfigError::Token);
        }
        Ok(Self {
            http: crate::tls::http_client(&config.tls)?,
            base: config.address.clone(),
            token: config.token.clone(),
            namespace: config.namespace.clone(),
            region: config.region.clone(),
        })
    }

    /// A client configured as the `nomad` CLI would be, reading variables through `var`
    /// (see [`ClientConfig::from_env`]).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::new(&ClientConfig::from_env(var)?)
    }

    /// `POST /v1/jobs`: registers (creates or updates) the job and returns the evaluation to
    /// [`monitor`](Self::monitor).
    pub async fn register(
        &self,
        job: &Job,
        options: &RegisterOptions,
    ) -> Result<RegisterResponse, ApiError> {
        let mut body = json!({ "Job": job.as_json() });
        if let Some(index) = options.check_index {
            body["EnforceIndex"] = json!(true);
            body["JobModifyIndex"] = json!(index);
        }
        let answer = self
            .call(Method::POST, &["jobs"], &[], Some(&body), None)
            .await?;
        tracing::debug!(job = job.id(), index = answer.index, "registered");
        Ok(answer.body)
    }

    /// `POST /v1/job/:id/plan`: what registering the job would change, with the field diff
    /// when `diff` is set.
    pub async fn plan(&self, job: &Job, diff: bool) -> Result<PlanResponse, ApiError> {
        let id = job.id().ok_or(JobError::MissingId)?;
        let body = json!({ "Job": job.as_json(), "Diff": diff });
        Ok(self
            .call(Method::POST, &["job", id, "plan"], &[], Some(&body), None)
            .await?
            .body)
    }

    /// `GET /v1/evaluation/:id`.
    pub async fn evaluation(&self, id: &str) -> Result<Evaluation, ApiError> {
        Ok(self.evaluation_blocking(id, None).await?.body)
    }

    /// `GET /v1/evaluation/:id/allocations`.
    pub async fn evaluation_allocations(
        &self,
        id: &str,
    ) -> Result<Vec<AllocationListStub>, ApiError> {
        Ok(self.allocations_blocking(id, None).await?.body)
    }

    /// `GET /v1/evaluation/:id`, as a blocking query when `block` is `(index, wait)`.
    pub(crate) async fn evaluation_blocking(
        &self,
        id: &str,
        block: Option<(u64, Duration)>,
    ) -> Result<Answer<Evaluation>, ApiError> {
        self.get(&["evaluation", id], block).await
    }

    /// `GET /v1/evaluation/:id/allocations`, as a blocking query when `block` is set.
    pub(crate) async fn allocations_blocking(
        &self,
        id: &str,
        block: Option<(u64, Duration)>,
    ) -> Result<Answer<Vec<AllocationListStub>>, ApiError> {
        self.get(&["evaluation", id, "allocations"], block).await
    }

    async fn get<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        block: Option<(u64, Duration)>,
    ) -> Result<Answer<T>, ApiError> {
        let mut query = Vec::new();
        let mut timeout = None;
        if let Some((index, wait)) = block.filter(|(index, _)| *index > 0) {
            query.push(("index", index.to_string()));
            query.push(("wait", format!("{}ms", wait.as_millis())));
            timeout = Some(wait + wait / 16 + BLOCKING_SLACK);
        }
        self.call(Method::GET, segments, &query, None, timeout)
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        timeout: Option<Duration>,
    ) -> Result<Answer<T>, ApiError> {
        let url = self.url(segments, query);
        let path = url.path().to_owned();
        let mut req = self
            .http
            .request(method.clone(), url)
            .timeout(timeout.unwrap_or(REQUEST_TIMEOUT));
        if let Some(token) = &self.token {
            req = req.header("X-Nomad-Token", token);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| self.transport(&e))?;
        let status = resp.status();
        let index = resp
            .headers()
            .get("x-nomad-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let bytes = resp.bytes().await.map_err(|e| self.transport(&e))?;
        if !status.is_success() {
            let body = String::from_utf8_lossy(&bytes).trim().to_owned();
            tracing::debug!(%method, path, status = status.as_u16(), body, "nomad refused");
            return Err(ApiError::Status {
                method: method.to_string(),
                path,
                status: status.as_u16(),
                body,
            });
        }
        let body = serde_json::from_slice(&bytes).map_err(|source| ApiError::Decode {
            path: path.clone(),
            source,
        })?;
        Ok(Answer { body, index })
    }

    /// `<address>/v1/<segments>?<query>&namespace=…&region=…`, each segment percent-encoded.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v1").extend(segments);
        }
        url.set_query(None);
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
            if let Some(ns) = &self.namespace {
                q.append_pair("namespace", ns);
            }
            if let Some(region) = &self.region {
                q.append_pair("region", region);
            }
        }
        if url.query() == Some("") {
            url.set_query(None);
        }
        url
    }

    fn transport(&self, e: &reqwest::Error) -> ApiError {
        let url = self.base.as_str().trim_end_matches('/').to_owned();
        let mut causes = Vec::new();
        let mut source = e.source();
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && io.kind() == std::io::ErrorKind::ConnectionRefused
            {
                return ApiError::ConnectionRefused { url };
            }
            causes.push(s.to_string());
            source = s.source();
        }
        let reason = if e.is_timeout() {
            "no answer in time".to_owned()
        } else if causes.is_empty() {
            e.to_string()
        } else {
            causes.join(": ")
        };
        ApiError::Unreachable { url, reason }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_address;

    #[test]
    fn urls_carry_namespace_region_and_encoded_ids() {
        let mut config = ClientConfig::new(parse_address("http://nomad:4646").expect("addr"));
        let client = NomadClient::new(&config).expect("client");
        let url = client.url(&["job", "a b/c", "plan"], &[]);
        assert_eq!(url.as_str(), "http://nomad:4646/v1/job/a%20b%2Fc/plan");
        config.namespace = Some("prod".to_owned());
        config.region = Some("eu".to_owned());
        let client = NomadClient::new(&config).expect("client");
        let url = client.url(&["evaluation", "e1"], &[("index", "7".to_owned())]);
        assert_eq!(
            url.as_str(),
            "http://nomad:4646/v1/evaluation/e1?index=7&namespace=prod&region=eu"
        );
    }

    #[test]
    fn bad_token_is_refused() {
        let mut config = ClientConfig::new(parse_address("127.0.0.1:4646").expect("addr"));
        config.token = Some("line\nbreak".to_owned());
        assert!(matches!(NomadClient::new(&config), Err(ConfigError::Token)));
    }
}
