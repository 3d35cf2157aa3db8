//! What the adapter needs to know about a cluster, and how it builds its client.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::KubernetesError;

/// The namespace whose services keep their names when every namespace is watched.
pub const DEFAULT_NAMESPACE: &str = "default";
/// Accepted in [`KubernetesConfig::namespaces`] for "every namespace", like an empty list.
pub const ALL_NAMESPACES: &str = "*";
/// The first pause before retrying a failed watch: short, so a blip costs little.
pub const DEFAULT_RETRY_BASE: Duration = Duration::from_millis(250);
/// The longest pause between retries while the API server cannot be reached.
pub const DEFAULT_RETRY_MAX: Duration = Duration::from_secs(30);

/// How to reach and read one Kubernetes cluster.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// The registry's name in Rigging (recorded on endpoints by the merge).
    pub name: String,
    /// Namespaces to watch; empty (or `*`) watches all. The first one (else `default`) is the
    /// primary namespace, whose services keep their plain names (see the crate docs).
    pub namespaces: Vec<String>,
    /// A kubeconfig file; when unset, `KUBECONFIG` or `~/.kube/config`, else the in-cluster
    /// service account (kube's `Config::infer`).
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use instead of its current one.
    pub context: Option<String>,
    /// The locality region given to every endpoint (Kubernetes slices only carry the zone).
    pub region: String,
    /// The first pause before retrying a failed watch.
    pub retry_base: Duration,
    /// The longest pause between retries.
    pub retry_max: Duration,
}

/// Where one watch looks: a namespace, or the whole cluster.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Scope {
    All,
    Namespace(String),
}

impl KubernetesConfig {
    /// A config named `name` watching every namespace, with every other field at its default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            namespaces: Vec::new(),
            kubeconfig: None,
            context: None,
            region: String::new(),
            retry_base: DEFAULT_RETRY_BASE,
            retry_max: DEFAULT_RETRY_MAX,
        }
    }

    /// The namespace whose services keep their plain names.
    pub fn primary_namespace(&self) -> &str {
        self.namespaces
            .iter()
            .map(String::as_str)
            .find(|ns| *ns != ALL_NAMESPACES)
            .unwrap_or(DEFAULT_NAMESPACE)
    }

    /// The scopes of the watches: the whole cluster alone when asked, else each namespace once.
    pub(crate) fn scopes(&self) -> Vec<Scope> {
        if self.namespaces.is_empty() || self.namespaces.iter().any(|ns| ns == ALL_NAMESPACES) {
            return vec![Scope::All];
        }
        let mut scopes: Vec<Scope> = self
            .namespaces
            .iter()
            .cloned()
            .map(Scope::Namespace)
            .collect();
        scopes.sort();
        scopes.dedup();
        scopes
    }

    /// Checks that every namespace is a DNS label (RFC 1123), as Kubernetes requires.
    pub(crate) fn validate(&self) -> Result<(), KubernetesError> {
        for ns in self.namespaces.iter().filter(|ns| *ns != ALL_NAMESPACES) {
            let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
            let reason = if ns.is_empty() || ns.len() > 63 {
                "a namespace has 1 to 63 characters"
            } else if !ns.chars().all(ok_char) {
                "a namespace has only lowercase letters, digits and '-'"
            } else if ns.starts_with('-') || ns.ends_with('-') {
                "a namespace starts and ends with a letter or digit"
            } else {
                continue;
            };
            return Err(KubernetesError::Namespace {
                namespace: ns.clone(),
                reason: reason.to_owned(),
            });
        }
        Ok(())
    }

    /// The client this config describes: the kubeconfig file, else kube's inference
    /// (`KUBECONFIG`, `~/.kube/config`, then in-cluster).
    pub(crate) async fn client(&self) -> Result<kube::Client, KubernetesError> {
        let options = KubeConfigOptions {
            context: self.context.clone(),
            ..KubeConfigOptions::default()
        };
        let config = match (&self.kubeconfig, &self.context) {
            (Some(path), _) => {
                let kubeconfig = |source| KubernetesError::Kubeconfig {
                    path: path.clone(),
                    source,
                };
                let file = Kubeconfig::read_from(path).map_err(kubeconfig)?;
                kube::Config::from_custom_kubeconfig(file, &options)
                    .await
                    .map_err(kubeconfig)?
            }
            (None, Some(_)) => kube::Config::from_kubeconfig(&options)
                .await
                .map_err(KubernetesError::Context)?,
            (None, None) => kube::Config::infer()
                .await
                .map_err(KubernetesError::Infer)?,
        };
        kube::Client::try_from(config).map_err(KubernetesError::Client)
    }
}

impl Scope {
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::All => "all namespaces".to_owned(),
            Self::Namespace(ns) => format!("namespace {ns}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_primary_namespace() {
        let mut c = KubernetesConfig::new("k8s");
        assert_eq!(c.scopes(), vec![Scope::All]);
        assert_eq!(c.primary_namespace(), "default");
        c.namespaces = vec!["prod".into(), "staging".into(), "prod".into()];
        assert_eq!(c.primary_namespace(), "prod");
        assert_eq!(
            c.scopes(),
            vec![
                Scope::Namespace("prod".into()),
                Scope::Namespace("staging".into())
            ]
        );
        c.namespaces.push("*".into());
        assert_eq!(c.scopes(), vec![Scope::All]);
        assert!(c.validate().is_ok());
        for bad in ["", "Prod", "-a", "a_b", &"x".repeat(64)] {
            c.namespaces = vec![bad.to_owned()];
            assert!(c.validate().is_err(), "{bad:?}");
        }
    }
}
