//! Blocking queries against Nomad's HTTP API: index rules, paging, and failures as sentences.

use std::error::Error as _;
use std::path::Path;
use std::time::Duration;

use reqwest::{Client, StatusCode, Url};
use serde::de::DeserializeOwned;

use crate::api::{NamespaceServices, Registration};
use crate::{NomadConfig, NomadError};

/// How many times a paged read starts over when the index moves between its pages.
const PAGE_RESTARTS: usize = 3;

/// The `?index=` of one watch, kept by the rules of Nomad's (and Consul's) blocking queries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct BlockingIndex(u64);

impl BlockingIndex {
    /// The index to send, or `None` for a query that answers at once (first, or after a reset).
    pub fn query(self) -> Option<u64> {
        (self.0 > 0).then_some(self.0)
    }

    /// Takes the `X-Nomad-Index` of an answer: never below 1 (an index of 0 would make every
    /// query return at once), and back to 0 — one immediate query — when it went backwards.
    pub fn update(&mut self, returned: u64) {
        let returned = returned.max(1);
        self.0 = if returned < self.0 { 0 } else { returned };
    }
}

/// A failed query, as [`Health`](rigging_adapters_core::Health) will show it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum QueryError {
    #[error("cannot reach Nomad at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("Nomad refused the token: 403 {body}")]
    Forbidden { body: String },
    #[error("Nomad refused the request without a token: 403 {body} (set a token)")]
    NoToken { body: String },
    #[error("Nomad answered {status} for {path}: {body}")]
    Status {
        status: StatusCode,
        path: String,
        body: String,
    },
    #[error("Nomad sent an answer to {path} that is not the expected JSON: {reason}")]
    Decode { path: String, reason: String },
}

/// One answer: its body and `X-Nomad-Index`.
#[derive(Debug)]
pub(crate) struct Answer<T> {
    pub body: T,
    pub index: u64,
    next_token: Option<String>,
}

/// The HTTP side of the adapter: one pooled client, its address, token, region and wait.
#[derive(Debug, Clone)]
pub(crate) struct NomadClient {
    http: Client,
    base: Url,
    token: Option<String>,
    region: Option<String>,
    wait: Duration,
    per_page: Option<u32>,
}

impl NomadClient {
    pub fn new(config: &NomadConfig) -> Result<Self, NomadError> {
        if !matches!(config.address.scheme(), "http" | "https") {
            return Err(NomadError::Address {
                address: config.address.to_string(),
                reason: format!("scheme {:?} is not http or https", config.address.scheme()),
            });
        }
        let mut builder = Client::builder()
            .connect_timeout(crate::config::CONNECT_TIMEOUT)
            .timeout(config.request_timeout())
            .user_agent(concat!("rigging/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &config.ca_file {
            let pem = std::fs::read(path).map_err(|source| NomadError::CaFile {
                path: path.clone(),
                source,
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|source| {
                NomadError::CaCertificate {
                    path: path.clone(),
                    source,
                }
            })?;
            if certs.is_empty() {
                return Err(NomadError::EmptyCaFile { path: path.clone() });
            }
            builder = builder.tls_built_in_root_certs(false);
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        match (&config.client_cert, &config.client_key) {
            (Some(cert), Some(key)) => builder = builder.identity(identity(cert, key)?),
            (None, None) => {}
            _ => return Err(NomadError::ClientIdentityHalf),
        }
        if config.wait < Duration::from_millis(1) || config.wait > crate::config::MAX_WAIT {
            return Err(NomadError::Wait(config.wait));
        }
        if let Some(token) = &config.token
            && reqwest::header::HeaderValue::from_str(token).is_err()
        {
            return Err(NomadError::Token);
        }
        Ok(Self {
            http: builder.build().map_err(NomadError::Client)?,
            base: config.address.clone(),
            token: config.token.clone(),
            region: config.region.clone(),
            wait: config.wait,
            per_page: config.per_page.map(|p| p.get()),
        })
    }

    /// `GET /v1/services?namespace=<namespace>`: the (namespace, service) pairs.
    pub async fn services(
        &self,
        namespace: &str,
        index: BlockingIndex,
    ) -> Result<Answer<Vec<NamespaceServices>>, QueryError> {
        self.get("/v1/services", namespace, index.query(), None, false)
            .await
    }

    /// `GET /v1/service/:name?namespace=`, every page of it (`X-Nomad-NextToken`).
    ///
    /// Only the first page blocks; later pages are read at once, and when the index moved
    /// between pages the read starts over so the result is one consistent state.
    pub async fn service(
        &self,
        namespace: &str,
        name: &str,
        index: BlockingIndex,
    ) -> Result<Answer<Vec<Registration>>, QueryError> {
        let path = format!("/v1/service/{name}");
        let mut first = self
            .get::<Vec<Registration>>(&path, namespace, index.query(), None, true)
            .await?;
        let mut restarts = 0;
        'pages: loop {
            let mut next = first.next_token.take();
            while let Some(token) = next {
                let page = self
                    .get::<Vec<Registration>>(&path, namespace, None, Some(&token), true)
                    .await?;
                if page.index != first.index && restarts < PAGE_RESTARTS {
                    restarts += 1;
                    tracing::debug!(service = name, "index moved while paging; reading again");
                    first = self.get(&path, namespace, None, None, true).await?;
                    continue 'pages;
                }
                first.body.extend(page.body);
                next = page.next_token;
            }
            return Ok(first);
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        namespace: &str,
        index: Option<u64>,
        next_token: Option<&str>,
        paged: bool,
    ) -> Result<Answer<T>, QueryError> {
        let mut url = self.base.clone();
        url.set_path(path);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("namespace", namespace);
            if let Some(region) = &self.region {
                q.append_pair("region", region);
            }
            if let Some(index) = index {
                q.append_pair("index", &index.to_string());
                q.append_pair("wait", &format!("{}ms", self.wait.as_millis()));
            }
            if let (true, Some(per_page)) = (paged, self.per_page) {
                q.append_pair("per_page", &per_page.to_string());
            }
            if let Some(token) = next_token {
                q.append_pair("next_token", token);
            }
        }
        let mut req = self.http.get(url);
        if let Some(token) = &self.token {
            req = req.header("X-Nomad-Token", token);
        }
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        let status = resp.status();
        let header = |name: &str| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let index = header("x-nomad-index")
            .and_then(|i| i.parse().ok())
            .unwrap_or(0);
        let next_token = header("x-nomad-nexttoken").filter(|t| !t.is_empty());
        if !status.is_success() {
            let body = resp.text().await.unwrap_or_default().trim().to_owned();
            return Err(match status {
                StatusCode::FORBIDDEN if self.token.is_some() => QueryError::Forbidden { body },
                StatusCode::FORBIDDEN => QueryError::NoToken { body },
                status => QueryError::Status {
                    status,
                    path: path.to_owned(),
                    body,
                },
            });
        }
        let body = resp.json::<T>().await.map_err(|e| QueryError::Decode {
            path: path.to_owned(),
            reason: chain(&e),
        })?;
        Ok(Answer {
            body,
            index,
            next_token,
        })
    }

    fn unreachable(&self, e: &reqwest::Error) -> QueryError {
        let reason = if e.is_timeout() {
            "no answer in time".to_owned()
        } else {
            chain(e)
        };
        QueryError::Unreachable {
            url: self.base.as_str().trim_end_matches('/').to_owned(),
            reason,
        }
    }
}

/// The client certificate and key, read from their PEM files.
fn identity(cert: &Path, key: &Path) -> Result<reqwest::Identity, NomadError> {
    let read = |path: &Path| {
        std::fs::read(path).map_err(|source| NomadError::ClientIdentityFile {
            path: path.to_owned(),
            source,
        })
    };
    let mut pem = read(cert)?;
    pem.push(b'\n');
    pem.extend(read(key)?);
    reqwest::Identity::from_pem(&pem).map_err(|source| NomadError::ClientIdentity {
        cert: cert.to_owned(),
        source,
    })
}

/// The innermost causes of an error, which say what went wrong (connection refused, bad
/// certificate) where reqwest's own message only names the URL.
fn chain(e: &reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = e.source();
    while let Some(s) = source {
        causes.push(s.to_string());
        source = s.source();
    }
    match causes.len() {
        0 => e.to_string(),
        _ => causes.join(": "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocking_index_rules() {
        let mut i = BlockingIndex::default();
        assert_eq!(i.query(), None, "the first query does not block");
        i.update(10);
        assert_eq!(i.query(), Some(10));
        i.update(12);
        assert_eq!(i.query(), Some(12));
        i.update(3);
        assert_eq!(i.query(), None, "an index going backwards resets");
        i.update(3);
        assert_eq!(i.query(), Some(3));
        let mut i = BlockingIndex::default();
        i.update(0);
        assert_eq!(i.query(), Some(1), "never below 1");
        i.update(0);
        assert_eq!(i.query(), Some(1), "0 after 1 is clamped, not a reset");
    }

    #[test]
    fn forbidden_reads_as_a_sentence() {
        let e = QueryError::Forbidden {
            body: "Permission denied".to_owned(),
        };
        assert_eq!(
            e.to_string(),
            "Nomad refused the token: 403 Permission denied"
        );
    }
}
