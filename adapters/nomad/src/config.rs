//! What the adapter needs to know about a Nomad cluster, with the defaults a Nomad user has.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::NomadError;

/// Nomad's own default API address (`NOMAD_ADDR` unset).
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";
/// Nomad's default blocking wait.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
/// The longest wait Nomad honours; a longer one is an error here rather than silently capped.
pub const MAX_WAIT: Duration = Duration::from_secs(10 * 60);
/// The namespace Nomad uses when a request names none.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The namespace wildcard Nomad accepts on list endpoints.
pub const ALL_NAMESPACES: &str = "*";
/// Queries per second each watch may make on average: a mesh wants new endpoints within about a
/// second, and a quiet Nomad costs nothing because blocking queries wait for a change.
pub const DEFAULT_QUERY_RATE: f64 = 1.0;
/// Queries a watch may make back to back, as Consul's blocking-query docs suggest.
pub const DEFAULT_QUERY_BURST: u32 = 2;
/// The longest pause between retries while Nomad cannot be reached.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30);
/// How long to wait for a TCP (and TLS) connection to Nomad.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed past `wait + wait/16` (Nomad's jitter) before a blocking query counts as lost.
pub const REQUEST_SLACK: Duration = Duration::from_secs(5);

/// How to reach and read one Nomad cluster (region).
#[derive(Debug, Clone)]
pub struct NomadConfig {
    /// The registry's name in Rigging (recorded on endpoints by the merge).
    pub name: String,
    /// The agent's HTTP API, `http://` or `https://`.
    pub address: Url,
    /// ACL token, sent as `X-Nomad-Token`.
    pub token: Option<String>,
    /// PEM file of the CA that signed Nomad's HTTPS certificate; when set, only it is trusted.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for a Nomad with `verify_https_client`; both or neither.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Namespaces to watch; `*` watches all. Empty means `default`. The first one that is not
    /// `*` (else `default`) is the primary namespace, whose services keep their plain names.
    pub namespaces: Vec<String>,
    /// `?region=`; when unset, the agent's own region answers.
    pub region: Option<String>,
    /// The blocking-query wait sent as `?wait=`.
    pub wait: Duration,
    /// `?per_page=` for `/v1/service/:name`; unset reads each service in one response.
    pub per_page: Option<NonZeroU32>,
    /// Average queries per second per watch (a token bucket, see [`RateLimit`](rigging_adapters_core::RateLimit)).
    pub query_rate: f64,
    /// Queries a watch may make back to back.
    pub query_burst: u32,
    /// The longest backoff between retries after a failure.
    pub retry_max: Duration,
}

impl NomadConfig {
    /// A config for `address` with every other field at its default.
    pub fn new(name: impl Into<String>, address: Url) -> Self {
        Self {
            name: name.into(),
            address,
            token: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            namespaces: vec![DEFAULT_NAMESPACE.to_owned()],
            region: None,
            wait: DEFAULT_WAIT,
            per_page: None,
            query_rate: DEFAULT_QUERY_RATE,
            query_burst: DEFAULT_QUERY_BURST,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }

    /// The config the `nomad` CLI would use: `NOMAD_ADDR`, `NOMAD_TOKEN`, `NOMAD_NAMESPACE`,
    /// `NOMAD_REGION`, `NOMAD_CACERT`, `NOMAD_CLIENT_CERT` and `NOMAD_CLIENT_KEY`, each with
    /// Nomad's default when unset or empty.
    pub fn from_env(name: impl Into<String>) -> Result<Self, NomadError> {
        Self::from_vars(name, |k| std::env::var(k).ok())
    }

    /// As [`NomadConfig::from_env`], reading variables through `var`.
    pub fn from_vars(
        name: impl Into<String>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, NomadError> {
        let var = |k: &str| var(k).filter(|v| !v.trim().is_empty());
        let address = var("NOMAD_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
        let mut config = Self::new(name, parse_address(&address)?);
        config.token = var("NOMAD_TOKEN");
        config.ca_file = var("NOMAD_CACERT").map(PathBuf::from);
        config.client_cert = var("NOMAD_CLIENT_CERT").map(PathBuf::from);
        config.client_key = var("NOMAD_CLIENT_KEY").map(PathBuf::from);
        config.region = var("NOMAD_REGION");
        if let Some(ns) = var("NOMAD_NAMESPACE") {
            config.namespaces = vec![ns];
        }
        Ok(config)
    }

    /// The namespace whose services keep their plain names (see the crate docs).
    pub fn primary_namespace(&self) -> &str {
        self.namespaces
            .iter()
            .map(String::as_str)
            .find(|ns| *ns != ALL_NAMESPACES)
            .unwrap_or(DEFAULT_NAMESPACE)
    }

    /// The `?namespace=` values of the service-list watches: `*` alone when it is configured.
    pub(crate) fn list_namespaces(&self) -> Vec<String> {
        if self.namespaces.is_empty() {
            return vec![DEFAULT_NAMESPACE.to_owned()];
        }
        if self.namespaces.iter().any(|ns| ns == ALL_NAMESPACES) {
            return vec![ALL_NAMESPACES.to_owned()];
        }
        let mut list = self.namespaces.clone();
        list.sort();
        list.dedup();
        list
    }

    /// How long one blocking query may take before it counts as lost.
    pub(crate) fn request_timeout(&self) -> Duration {
        self.wait + self.wait / 16 + REQUEST_SLACK
    }
}

/// Parses a Nomad address; like the `nomad` CLI, a bare `host:port` means `http://host:port`.
pub fn parse_address(address: &str) -> Result<Url, NomadError> {
    let with_scheme = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    let bad = |reason: String| NomadError::Address {
        address: address.to_owned(),
        reason,
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(bad(format!("scheme {other:?} is not http or https"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_defaults_and_overrides() {
        let c = NomadConfig::from_vars("nomad", |_| None).expect("defaults");
        assert_eq!(c.address.as_str(), "http://127.0.0.1:4646/");
        assert_eq!(c.namespaces, ["default"]);
        assert_eq!(c.wait, DEFAULT_WAIT);
        let c = NomadConfig::from_vars("nomad", |k| {
            Some(match k {
                "NOMAD_ADDR" => "https://nomad.example:4646".to_owned(),
                "NOMAD_TOKEN" => "s3cret".to_owned(),
                "NOMAD_NAMESPACE" => "prod".to_owned(),
                "NOMAD_REGION" => "eu".to_owned(),
                "NOMAD_CACERT" => "/etc/nomad/ca.pem".to_owned(),
                "NOMAD_CLIENT_CERT" => "/etc/nomad/cli.pem".to_owned(),
                "NOMAD_CLIENT_KEY" => "/etc/nomad/cli-key.pem".to_owned(),
                _ => return None,
            })
        })
        .expect("from vars");
        assert_eq!(c.address.scheme(), "https");
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        assert_eq!(c.namespaces, ["prod"]);
        assert_eq!(c.region.as_deref(), Some("eu"));
        assert_eq!(c.ca_file, Some(PathBuf::from("/etc/nomad/ca.pem")));
        assert_eq!(c.client_cert, Some(PathBuf::from("/etc/nomad/cli.pem")));
        assert_eq!(c.client_key, Some(PathBuf::from("/etc/nomad/cli-key.pem")));
    }

    #[test]
    fn addresses() {
        assert!(parse_address("127.0.0.1:4646").is_ok());
        assert!(parse_address("https://[::1]:4646").is_ok());
        assert!(matches!(
            parse_address("unix:///var/run/nomad.sock"),
            Err(NomadError::Address { .. })
        ));
    }

    #[test]
    fn namespaces() {
        let url = parse_address(DEFAULT_ADDRESS).expect("address");
        let mut c = NomadConfig::new("n", url);
        assert_eq!(c.primary_namespace(), "default");
        c.namespaces = vec!["*".to_owned(), "prod".to_owned()];
        assert_eq!(c.primary_namespace(), "prod");
        assert_eq!(c.list_namespaces(), ["*"]);
        c.namespaces = vec!["web".to_owned(), "api".to_owned(), "web".to_owned()];
        assert_eq!(c.primary_namespace(), "web");
        assert_eq!(c.list_namespaces(), ["api", "web"]);
        c.namespaces.clear();
        assert_eq!(c.list_namespaces(), ["default"]);
    }
}
