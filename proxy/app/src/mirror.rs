//! Request mirroring (Envoy's `request_mirror_policies`): a copy of a request sent to another
//! cluster in the background; its response is dropped and it never delays or fails the
//! request it copies.

use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;
use http::header;
use http::uri::{Authority, Uri};
use http_body_util::BodyExt as _;
use tokio::time::Instant;

use crate::body::{BufferedBody, RequestBody};
use crate::cluster::ClusterState;
use crate::fault::roll;
use crate::http::{ActionMetrics, Deadline, attempt};
use crate::retry::{Head, MAX_BUFFERED_BODY, Outgoing};
use crate::routing::{Mirror, strip_port};

/// The mirrors this request goes to: each by its own draw against its share.
pub(crate) fn chosen(mirrors: &[Mirror]) -> Vec<&Mirror> {
    mirrors.iter().filter(|m| roll(m.fraction)).collect()
}

/// Sends a copy of the request to each of `mirrors` in the background. Only a buffered request
/// can be copied: a streamed one (too large, or of unknown length) is not mirrored.
pub(crate) fn send(
    mirrors: &[&Mirror],
    outgoing: &Outgoing,
    timeout: Option<Duration>,
    metrics: &ActionMetrics,
) {
    let Outgoing::Replayable { head, body } = outgoing else {
        if !mirrors.is_empty() {
            tracing::debug!(
                limit = MAX_BUFFERED_BODY,
                "mirror dropped: the request body is too large or of unknown length"
            );
        }
        return;
    };
    for m in mirrors {
        match &m.cluster {
            Some(c) => spawn(Arc::clone(c), head, body, timeout, metrics),
            None => {
                tracing::debug!(cluster = %m.name, "mirror dropped: the cluster is not configured");
            }
        }
    }
}

/// Sends a copy of `head` and `body` to `cluster` in a spawned task, with `Host` (or
/// `:authority`) renamed `<host>-shadow`, as Envoy does; waits for its response at most
/// `timeout` (the route's) and drops it.
fn spawn(
    cluster: Arc<ClusterState>,
    head: &Head,
    body: &BufferedBody,
    timeout: Option<Duration>,
    metrics: &ActionMetrics,
) {
    let mut head = head.clone();
    shadow_host(&mut head);
    let body = body.clone();
    metrics.mirrors.inc();
    tokio::spawn(async move {
        let name = &cluster.name;
        let Ok(_permit) = cluster.admit() else {
            tracing::debug!(cluster = %name, "mirror dropped: the circuit breaker is open");
            return;
        };
        let Some(pick) = cluster.pick(None) else {
            tracing::debug!(cluster = %name, "mirror dropped: no serving endpoint");
            return;
        };
        let req = head.request(RequestBody::buffered(&body));
        let deadline = timeout.map(|t| Deadline::after(Instant::now(), t));
        match attempt(&cluster, pick.endpoint, req, deadline).await {
            Ok(resp) => {
                let status = resp.status();
                // Read to the end, at which the body gives its HTTP/1.1 connection back.
                if let Err(e) = resp.into_body().collect().await {
                    tracing::debug!(cluster = %name, error = %e, "mirror's response body failed");
                }
                tracing::debug!(cluster = %name, %status, "mirror answered");
            }
            Err(e) => tracing::debug!(cluster = %name, error = %e, "mirror failed"),
        }
        drop(pick);
    });
}

/// `svc:8080` → `svc-shadow:8080`, in `Host` and in the URI's authority, whichever are set.
fn shadow_host(head: &mut Head) {
    if let Some(host) = head.headers.get(header::HOST).and_then(|h| h.to_str().ok())
        && let Ok(v) = HeaderValue::from_str(&shadow(host))
    {
        head.headers.insert(header::HOST, v);
    }
    if let Some(authority) = head.uri.authority()
        && let Ok(a) = Authority::try_from(shadow(authority.as_str()))
    {
        let mut parts = std::mem::take(&mut head.uri).into_parts();
        parts.authority = Some(a);
        head.uri = Uri::from_parts(parts).unwrap_or_default();
    }
}

fn shadow(host: &str) -> String {
    let name = strip_port(host);
    format!("{name}-shadow{}", &host[name.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shadow_goes_before_the_port() {
        assert_eq!(shadow("svc"), "svc-shadow");
        assert_eq!(shadow("svc.ns:8080"), "svc.ns-shadow:8080");
        assert_eq!(shadow("[::1]:80"), "[::1]-shadow:80");
    }
}
