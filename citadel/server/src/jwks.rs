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
    #[error("the jwks ca file holds no usable certificate")]
    Ca,
    #[error("the bearer token for the jwks url is not a valid header value")]
    BadToken,
}

/// How to reach a key set that is not behind a WebPKI certificate or is not public: Nomad's
/// and Kubernetes' own CAs, and the bearer token Kubernetes asks for unless anonymous
/// discovery is allowed.
#[derive(Debug, Clone, Default)]
pub struct JwksOptions {
    /// PEM roots to check the server against instead of the WebPKI roots.
    pub ca_pem: Option<Vec<u8>>,
    /// Sent as `Authorization: Bearer <token>`.
    pub bearer_token: Option<String>,
}

/// A remote key set, cached.
#[derive(Debug)]
pub struct JwksSource {
    url: hyper::Uri,
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Empty<Bytes>>,
    bearer: Option<http::HeaderValue>,
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
        Self::with_options(url, JwksOptions::default())
    }

    /// A key set at `url`, reached as `options` say.
    pub fn with_options(url: &str, options: JwksOptions) -> Result<Self, JwksError> {
        let parsed: hyper::Uri = url.parse().map_err(|_| JwksError::BadUrl {
            url: url.to_owned(),
        })?;
        if !matches!(parsed.scheme_str(), Some("http" | "https")) || parsed.host().is_none() {
            return Err(JwksError::BadUrl {
                url: url.to_owned(),
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match &options.ca_pem {
            None => builder
                .with_provider_and_webpki_roots(provider)
                .map_err(JwksError::Tls)?,
            Some(pem) => {
                let certs =
                    rigging_mesh_spiffe::TrustBundle::from_pem(pem).map_err(|_| JwksError::Ca)?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in certs.roots() {
                    roots.add(cert.clone()).map_err(JwksError::Tls)?;
                }
                let config = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(JwksError::Tls)?
                    .with_root_certificates(roots)
                    .with_no_client_auth();
                builder.with_tls_config(config)
            }
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let bearer = match options.bearer_token {
            None => None,
            Some(token) => Some(
                http::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .map_err(|_| JwksError::BadToken)?,
            ),
        };
        Ok(Self {
            url: parsed,
            client,
            bearer,
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
            let mut request = http::Request::get(self.url.clone())
                .body(Empty::new())
                .map_err(|e| fail(e.to_string()))?;
            if let Some(bearer) = &self.bearer {
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, bearer.clone());
            }
            let response = self
                .client
                .request(request)
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

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use http_body_util::Full;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use rcgen::{CertificateParams, KeyPair};
    use tokio::net::TcpListener;

    use super::*;

    const JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","use":"sig","alg":"ES256",
        "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

    /// An HTTPS key set on loopback with a self-signed certificate (returned as PEM), that
    /// answers 401 unless `Authorization: Bearer secret` is sent.
    async fn server() -> (SocketAddr, String) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let pem = cert.pem();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                        let authorized = req
                            .headers()
                            .get(http::header::AUTHORIZATION)
                            .is_some_and(|v| v == "Bearer secret");
                        let (status, body) = if authorized { (200, JWKS) } else { (401, "") };
                        Ok::<_, std::convert::Infallible>(
                            http::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::from_static(body.as_bytes())))
                                .unwrap(),
                        )
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        (addr, pem)
    }

    #[tokio::test]
    async fn a_private_ca_and_a_bearer_token_reach_a_private_key_set() {
        let (addr, ca) = server().await;
        let url = format!("https://{addr}/openid/v1/jwks");

        let webpki = JwksSource::new(&url).unwrap();
        let err = webpki.key("k1").await.unwrap_err();
        assert!(matches!(err, JwksError::Fetch { .. }), "{err}");

        let no_token = JwksSource::with_options(
            &url,
            JwksOptions {
                ca_pem: Some(ca.clone().into_bytes()),
                bearer_token: None,
            },
        )
        .unwrap();
        let err = no_token.key("k1").await.unwrap_err();
        assert!(err.to_string().contains("401"), "{err}");

        let ok = JwksSource::with_options(
            &url,
            JwksOptions {
                ca_pem: Some(ca.into_bytes()),
                bearer_token: Some("secret\n".into()),
            },
        )
        .unwrap();
        assert!(ok.key("k1").await.unwrap().is_some());

        let bad_ca = JwksSource::with_options(
            &url,
            JwksOptions {
                ca_pem: Some(b"not pem".to_vec()),
                bearer_token: None,
            },
        );
        assert!(matches!(bad_ca, Err(JwksError::Ca)));
    }
}
