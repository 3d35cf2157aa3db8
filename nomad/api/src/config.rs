//! How to reach Nomad, read from the environment the way the `nomad` CLI reads it.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::ConfigError;

/// Nomad's own default API address (`NOMAD_ADDR` unset).
pub const DEFAULT_ADDRESS: &str = "http://127.0.0.1:4646";
/// How long to wait for a TCP (and TLS) connection to Nomad.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a non-blocking call may take: registering a large job with many groups is the
/// slowest, and takes well under a second on a healthy cluster.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How to reach one Nomad agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The agent's HTTP API, `http://` or `https://`.
    pub address: Url,
    /// ACL token, sent as `X-Nomad-Token`.
    pub token: Option<String>,
    /// `?namespace=` on every call; when unset Nomad uses `default` (or the job's namespace).
    pub namespace: Option<String>,
    /// `?region=` on every call; when unset the agent's own region answers.
    pub region: Option<String>,
    /// How to verify Nomad's certificate and present ours.
    pub tls: TlsConfig,
}

/// TLS settings, as `NOMAD_CACERT`, `NOMAD_CLIENT_CERT`, `NOMAD_CLIENT_KEY` and
/// `NOMAD_TLS_SERVER_NAME` give them. Verification cannot be turned off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM file of the CA that signed Nomad's certificate; when set, only it is trusted.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, for a Nomad with `verify_https_client`; needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// The name Nomad's certificate must carry, when it is not the address's host (Nomad's
    /// certificates name `server.<region>.nomad`). Needs `ca_file`.
    pub server_name: Option<String>,
}

impl ClientConfig {
    /// A config for `address` with no token, namespace, region or TLS settings.
    pub fn new(address: Url) -> Self {
        Self {
            address,
            token: None,
            namespace: None,
            region: None,
            tls: TlsConfig::default(),
        }
    }

    /// The config the `nomad` CLI would use, reading variables through `var` (pass
    /// `|k| std::env::var(k).ok()` for the process environment). Empty variables count as
    /// unset; a true `NOMAD_SKIP_VERIFY` is refused (see the crate docs).
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |k: &str| {
            var(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(value) = var("NOMAD_SKIP_VERIFY")
            && parse_bool("NOMAD_SKIP_VERIFY", &value)?
        {
            return Err(ConfigError::SkipVerifyRefused);
        }
        let address = var("NOMAD_ADDR").unwrap_or_else(|| DEFAULT_ADDRESS.to_owned());
        let tls = TlsConfig {
            ca_file: var("NOMAD_CACERT").map(PathBuf::from),
            client_cert: var("NOMAD_CLIENT_CERT").map(PathBuf::from),
            client_key: var("NOMAD_CLIENT_KEY").map(PathBuf::from),
            server_name: var("NOMAD_TLS_SERVER_NAME"),
        };
        tls.check()?;
        Ok(Self {
            address: parse_address(&address)?,
            token: var("NOMAD_TOKEN"),
            namespace: var("NOMAD_NAMESPACE"),
            region: var("NOMAD_REGION"),
            tls,
        })
    }
}

impl TlsConfig {
    /// The combinations that cannot work: half a client identity, a server name without a CA.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(ConfigError::ClientIdentityHalf);
        }
        if self.server_name.is_some() && self.ca_file.is_none() {
            return Err(ConfigError::ServerNameWithoutCa);
        }
        Ok(())
    }
}

/// Parses a Nomad address; like the `nomad` CLI, a bare `host:port` means `http://host:port`.
pub fn parse_address(address: &str) -> Result<Url, ConfigError> {
    let with_scheme = if address.contains("://") {
        address.to_owned()
    } else {
        format!("http://{address}")
    };
    let bad = |reason: String| ConfigError::Address {
        address: address.to_owned(),
        reason,
    };
    let url = Url::parse(&with_scheme).map_err(|e| bad(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(bad(format!("scheme {other:?} is not http or https"))),
    }
}

/// A boolean as Go's `strconv.ParseBool` (which the `nomad` CLI uses) reads it.
fn parse_bool(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ConfigError::NotABool {
            name,
            value: value.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        |k| {
            pairs
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn defaults() {
        let c = ClientConfig::from_env(|_| None).expect("defaults");
        assert_eq!(c.address.as_str(), "http://127.0.0.1:4646/");
        assert_eq!((c.token, c.namespace, c.region), (None, None, None));
        assert_eq!(c.tls, TlsConfig::default());
    }

    #[test]
    fn every_variable() {
        let c = ClientConfig::from_env(vars(&[
            ("NOMAD_ADDR", "https://nomad.example:4646"),
            ("NOMAD_TOKEN", "s3cret"),
            ("NOMAD_NAMESPACE", "prod"),
            ("NOMAD_REGION", "eu"),
            ("NOMAD_CACERT", "/etc/nomad/ca.pem"),
            ("NOMAD_CLIENT_CERT", "/etc/nomad/cli.pem"),
            ("NOMAD_CLIENT_KEY", "/etc/nomad/cli-key.pem"),
            ("NOMAD_TLS_SERVER_NAME", "server.eu.nomad"),
            ("NOMAD_SKIP_VERIFY", "false"),
        ]))
        .expect("from env");
        assert_eq!(c.address.scheme(), "https");
        assert_eq!(c.token.as_deref(), Some("s3cret"));
        assert_eq!(c.namespace.as_deref(), Some("prod"));
        assert_eq!(c.region.as_deref(), Some("eu"));
        assert_eq!(c.tls.ca_file, Some(PathBuf::from("/etc/nomad/ca.pem")));
        assert_eq!(
            c.tls.client_key,
            Some(PathBuf::from("/etc/nomad/cli-key.pem"))
        );
        assert_eq!(c.tls.server_name.as_deref(), Some("server.eu.nomad"));
    }

    #[test]
    fn refusals() {
        let refused = |pairs: &[(&str, &str)]| ClientConfig::from_env(vars(pairs)).err();
        assert!(matches!(
            refused(&[("NOMAD_SKIP_VERIFY", "1")]),
            Some(ConfigError::SkipVerifyRefused)
        ));
        assert!(matches!(
            refused(&[("NOMAD_SKIP_VERIFY", "yes")]),
            Some(ConfigError::NotABool { .. })
        ));
        assert!(matches!(
            refused(&[("NOMAD_CLIENT_CERT", "/c.pem")]),
            Some(ConfigError::ClientIdentityHalf)
        ));
        assert!(matches!(
            refused(&[("NOMAD_TLS_SERVER_NAME", "server.global.nomad")]),
            Some(ConfigError::ServerNameWithoutCa)
        ));
        assert!(matches!(
            refused(&[("NOMAD_ADDR", "unix:///run/nomad.sock")]),
            Some(ConfigError::Address { .. })
        ));
        assert!(refused(&[("NOMAD_ADDR", "10.0.0.1:4646"), ("NOMAD_TOKEN", "")]).is_none());
    }
}
