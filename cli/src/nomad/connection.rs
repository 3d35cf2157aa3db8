//! How `rig nomad plan` and `run` reach Nomad: the `nomad` CLI's environment variables, each
//! overridable by a flag, and Nomad's refusals turned into messages that say what to fix.

use anyhow::Context;
use rigging_nomad_api::{ApiError, ClientConfig, NomadClient};

use super::Env;

/// The Nomad agent to talk to. Each flag wins over its variable; unset, the variable is
/// read as the `nomad` CLI reads it (`NOMAD_SKIP_VERIFY` is refused: set a CA instead).
#[derive(Debug, Clone, Default, clap::Args)]
pub(super) struct ConnectionArgs {
    /// Nomad's HTTP API [env: NOMAD_ADDR; default http://127.0.0.1:4646].
    #[arg(long, value_name = "URL")]
    address: Option<String>,
    /// ACL token, sent as X-Nomad-Token [env: NOMAD_TOKEN]; prefer the variable, since
    /// flags show in process listings.
    #[arg(long)]
    token: Option<String>,
    /// Namespace of the job [env: NOMAD_NAMESPACE].
    #[arg(long)]
    namespace: Option<String>,
    /// Region to submit to [env: NOMAD_REGION].
    #[arg(long)]
    region: Option<String>,
    /// PEM file of the CA that signed Nomad's certificate [env: NOMAD_CACERT].
    #[arg(long, value_name = "FILE")]
    ca_cert: Option<String>,
    /// PEM client certificate, for `verify_https_client` [env: NOMAD_CLIENT_CERT].
    #[arg(long, value_name = "FILE")]
    client_cert: Option<String>,
    /// PEM key of --client-cert [env: NOMAD_CLIENT_KEY].
    #[arg(long, value_name = "FILE")]
    client_key: Option<String>,
    /// The name Nomad's certificate must carry, e.g. server.global.nomad
    /// [env: NOMAD_TLS_SERVER_NAME].
    #[arg(long, value_name = "NAME")]
    tls_server_name: Option<String>,
}

impl ConnectionArgs {
    /// The flag standing for the `nomad` CLI variable `name`, if given.
    fn flag(&self, name: &str) -> Option<&String> {
        match name {
            "NOMAD_ADDR" => self.address.as_ref(),
            "NOMAD_TOKEN" => self.token.as_ref(),
            "NOMAD_NAMESPACE" => self.namespace.as_ref(),
            "NOMAD_REGION" => self.region.as_ref(),
            "NOMAD_CACERT" => self.ca_cert.as_ref(),
            "NOMAD_CLIENT_CERT" => self.client_cert.as_ref(),
            "NOMAD_CLIENT_KEY" => self.client_key.as_ref(),
            "NOMAD_TLS_SERVER_NAME" => self.tls_server_name.as_ref(),
            _ => None,
        }
    }

    /// The client: flags over `env`, checked, TLS files read.
    pub(super) fn client(&self, env: &Env) -> anyhow::Result<NomadClient> {
        let config = ClientConfig::from_env(|k| self.flag(k).cloned().or_else(|| env.get(k)))
            .context("Nomad connection settings")?;
        NomadClient::new(&config).context("Nomad connection settings")
    }
}

/// `e` with what was being done, and for a refusal of the token, where the token comes from.
pub(super) fn api_error(e: ApiError, doing: String) -> anyhow::Error {
    let doing = match e.status() {
        Some(403) => format!("{doing} (Nomad refused the ACL token: check NOMAD_TOKEN or --token)"),
        _ => doing,
    };
    anyhow::Error::new(e).context(doing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nomad_flags_win_over_the_environment() {
        let env = Env::of(&[
            ("NOMAD_ADDR", "http://10.0.0.1:4646"),
            ("NOMAD_TOKEN", "from-env"),
            ("NOMAD_REGION", "eu"),
        ]);
        let args = ConnectionArgs {
            address: Some("nomad.example:4646".to_owned()),
            token: Some("from-flag".to_owned()),
            ..ConnectionArgs::default()
        };
        let get = |k: &str| args.flag(k).cloned().or_else(|| env.get(k));
        let config = ClientConfig::from_env(get).expect("config");
        assert_eq!(config.address.as_str(), "http://nomad.example:4646/");
        assert_eq!(config.token.as_deref(), Some("from-flag"));
        assert_eq!(config.region.as_deref(), Some("eu"));
        assert!(args.client(&env).is_ok());
    }

    #[test]
    fn nomad_connection_refusals_are_explained() {
        let env = Env::of(&[("NOMAD_SKIP_VERIFY", "true")]);
        let e = ConnectionArgs::default().client(&env).expect_err("refused");
        assert!(
            format!("{e:#}").contains("NOMAD_SKIP_VERIFY is refused"),
            "{e:#}"
        );
        let half = ConnectionArgs {
            client_cert: Some("/c.pem".to_owned()),
            ..ConnectionArgs::default()
        };
        let e = half.client(&Env::default()).expect_err("half identity");
        assert!(format!("{e:#}").contains("needs its key"), "{e:#}");
    }
}
