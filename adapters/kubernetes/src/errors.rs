//! Watch failures as the sentences health reports and logs show.

use kube::core::Status;
use kube::runtime::watcher;

/// Whether the API server said the version we hold is gone (410): a relist cures it.
pub(crate) fn is_gone(error: &watcher::Error) -> bool {
    match error {
        watcher::Error::WatchError(status) => status.code == 410,
        watcher::Error::InitialListFailed(kube::Error::Api(status))
        | watcher::Error::WatchStartFailed(kube::Error::Api(status))
        | watcher::Error::WatchFailed(kube::Error::Api(status)) => status.code == 410,
        _ => false,
    }
}

/// "listing services in all namespaces: the Kubernetes API server rejected the credentials …"
pub(crate) fn describe(error: &watcher::Error, what: &str) -> String {
    let (verb, error) = match error {
        watcher::Error::InitialListFailed(e) => ("listing", e),
        watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => ("watching", e),
        watcher::Error::WatchError(status) => {
            return format!("watching {what}: {}", api_status(status));
        }
        other => return format!("watching {what}: {other}"),
    };
    match error {
        kube::Error::Api(status) => format!("{verb} {what}: {}", api_status(status)),
        other => {
            // kube's own wrappers ("ServiceError: …") add nothing to the transport's words
            let cause = match other {
                kube::Error::Service(e) => chain(e.as_ref()),
                kube::Error::HyperError(e) => chain(e),
                e => chain(e),
            };
            format!("{verb} {what}: cannot reach the Kubernetes API server: {cause}")
        }
    }
}

fn api_status(status: &Status) -> String {
    let message = if status.message.is_empty() {
        status.reason.as_str()
    } else {
        status.message.as_str()
    };
    match status.code {
        401 => format!(
            "the Kubernetes API server rejected the credentials (401 Unauthorized: {message}); \
             check the token or kubeconfig"
        ),
        403 => format!(
            "the Kubernetes API server denied access (403 Forbidden: {message}); \
             the registry needs get, list and watch on services and endpointslices.discovery.k8s.io"
        ),
        code => format!(
            "the Kubernetes API server answered {code} {}: {message}",
            status.reason
        ),
    }
}

/// An error and its sources, without repeating a message its parent already shows.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16, reason: &str, message: &str) -> watcher::Error {
        let status = Status::failure(message, reason).with_code(code);
        watcher::Error::InitialListFailed(kube::Error::Api(status.boxed()))
    }

    #[test]
    fn sentences_name_the_watch_and_the_cause() {
        let e = api(
            403,
            "Forbidden",
            "services is forbidden: User \"x\" cannot list",
        );
        let s = describe(&e, "services in all namespaces");
        assert!(s.starts_with("listing services in all namespaces: "), "{s}");
        assert!(s.contains("403 Forbidden: services is forbidden"), "{s}");
        let s = describe(
            &api(401, "Unauthorized", "Unauthorized"),
            "services in all namespaces",
        );
        assert!(
            s.contains("rejected the credentials (401 Unauthorized"),
            "{s}"
        );
        let s = describe(&api(500, "InternalError", "etcd timeout"), "x");
        assert!(
            s.ends_with("answered 500 InternalError: etcd timeout"),
            "{s}"
        );
        assert!(is_gone(&api(410, "Expired", "too old")));
        assert!(!is_gone(&api(500, "InternalError", "")));
    }
}
