//! A JSON Web Key Set fetched over HTTP(S), cached, and refreshed when a token names a key
//! the cache does not hold (the issuer rotated its keys).

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt as _, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use tokio::sync::Mutex;
use tokio::time::Instant;

/// A JWKS fetch that takes longer fails: the Sign that needed it is refused, and retried.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Unknown key ids trigger a refresh at most this often, so garbage tokens cannot make
/// Citadel hammer the issuer.
const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(10);
/// A key set larger than this is not a key set.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why the key set could not be fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JwksError {
    #[error("jwks url {url:?} is not a valid http(s) url")]
    BadUrl { url: String },
    #[error("tls setup for the jwks client")]
    Tls(#[source] rustls::Error),
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
}

/// A remote key set, cached.
#[derive(Debug)]
pub struct JwksSource {
    url: hyper::Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    state: Mutex<Cache>,
}

#[derive(Debug, Default)]
struct Cache {
    keys: Option<Arc<JwkSet>>,
    fetched_at: Option<Instant>,
}

impl JwksSource {
    /// A key set at `url` (`http://` or `https://`, checked against the WebPKI roots).
    pub fn new(url: &str) -> Result<Self, JwksError> {
        let parsed: hyper::Uri = url.parse().map_err(|_| JwksError::BadUrl {
            url: url.to_owned(),
        })?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(JwksError::BadUrl {
                url: url.to_owned(),
            });
        }
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(Arc::new(rustls::crypto::ring::default_provider()))
            .map_err(JwksError::Tls)?
            .https_or_http()
            .enable_http1()
            .build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            url: parsed,
            client,
            state: Mutex::new(Cache::default()),
        })
    }

    /// The key `kid`, from the cache or, if absent, after one (rate-limited) refresh.
    pub(crate) async fn key(&self, kid: &str) -> Result<Option<Jwk>, JwksError> {
        let mut cache = self.state.lock().await;
        if let Some(jwk) = cache.keys.as_ref().and_then(|k| k.find(kid)) {
            return Ok(Some(jwk.clone()));
        }
        let may_refresh = cache
            .fetched_at
            .is_none_or(|t| t.elapsed() >= MIN_REFRESH_INTERVAL);
        if !may_refresh {
            return Ok(None);
        }
        cache.fetched_at = Some(Instant::now());
        let keys = self.fetch().await?;
        tracing::debug!(url = %self.url, keys = keys.keys.len(), "fetched the jwks");
        let found = keys.find(kid).cloned();
        cache.keys = Some(Arc::new(keys));
        Ok(found)
    }

    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        let fail = |reason: String| JwksError::Fetch {
            url: self.url.to_string(),
            reason,
        };
        let work = async {
            let response = self
                .client
                .get(self.url.clone())
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !response.status().is_success() {
                return Err(fail(format!("status {}", response.status())));
            }
            let body = Limited::new(response.into_body(), MAX_JWKS_BYTES)
                .collect()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_bytes();
            serde_json::from_slice::<JwkSet>(&body).map_err(|e| fail(format!("not a jwks: {e}")))
        };
        tokio::time::timeout(FETCH_TIMEOUT, work)
            .await
            .map_err(|_| fail(format!("no answer within {FETCH_TIMEOUT:?}")))?
    }
}
