//! What can go wrong when configuring SDS or asking it for a certificate.

/// An SDS configuration or lookup error. A secret the server sends that cannot be used is no
/// error of the caller's: the subscription NACKs it, logs why, and keeps the last certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdsError {
    /// A `--sds-cluster` value that is not `NAME=ADDR`.
    #[error("bad SDS cluster {input:?}: {reason}")]
    BadCluster { input: String, reason: String },
    /// The same cluster name given twice.
    #[error("SDS cluster {0:?} is given more than once")]
    DuplicateCluster(String),
    /// A certificate asked from a cluster the proxy was not told about.
    #[error("unknown SDS cluster {cluster:?}; {}", known_clusters(.known))]
    UnknownCluster { cluster: String, known: Vec<String> },
    /// An empty resource name, which in state-of-the-world xDS would mean every secret.
    #[error("empty SDS resource name for cluster {cluster:?}")]
    EmptyResource { cluster: String },
    /// [`Sds::certificate`](crate::Sds::certificate) called outside a tokio runtime.
    #[error("SDS subscriptions need a tokio runtime")]
    NoRuntime,
    /// The subscription ended (its [`Sds`](crate::Sds) was dropped) before a certificate came.
    #[error("SDS subscription to {resource:?} from cluster {cluster:?} stopped")]
    Stopped { cluster: String, resource: String },
}

fn known_clusters(known: &[String]) -> String {
    if known.is_empty() {
        "no SDS cluster is configured (--sds-cluster NAME=ADDR)".to_owned()
    } else {
        format!("known: {}", known.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_cluster_names_the_known_ones() {
        let e = SdsError::UnknownCluster {
            cluster: "sds".to_owned(),
            known: vec!["a".to_owned(), "b".to_owned()],
        };
        assert_eq!(e.to_string(), r#"unknown SDS cluster "sds"; known: a, b"#);
        let e = SdsError::UnknownCluster {
            cluster: "sds".to_owned(),
            known: Vec::new(),
        };
        assert!(
            e.to_string().contains("no SDS cluster is configured"),
            "{e}"
        );
    }
}
