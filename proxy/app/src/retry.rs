//! Upstream attempts: the first one, and the retries a route's policy allows (Envoy's
//! `retry_on` conditions, jittered exponential backoff, another endpoint when there is one,
//! the cluster's retry budget, all within the route timeout).

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::BodyExt as _;
use rigging_proxy_balance::InFlight;
use rigging_proxy_config::{RetryOn, RetryPolicy};
use rigging_proxy_resilience::{ActiveRequest, Outcome, RetryPermit, RetryRefused};
use tokio::time::Instant;

use crate::body::{BufferedBody, DownstreamBody, RequestBody, UpstreamBody};
use crate::cluster::{ClusterState, Pick, Upstream};
use crate::error::{ErrorKind, ErrorSource, ForwardError};
use crate::http::{ActionMetrics, Deadline, attempt, no_healthy_upstream};
use crate::idle::IdleTimer;

/// The largest request body buffered so that a retry or a mirror can send it again. A larger
/// body, or one of unknown length (chunked, an HTTP/2 stream without `content-length`), is
/// streamed to the upstream once: no retry, no mirror. 64 KiB covers typical API payloads
/// while bounding the memory a burst of requests can pin; Envoy's default buffer limit is
/// about as large (1 MiB per connection).
pub(crate) const MAX_BUFFERED_BODY: u64 = 64 * 1024;
/// Envoy's default `retry_back_off.base_interval`.
pub(crate) const RETRY_BASE_INTERVAL: Duration = Duration::from_millis(25);
/// Envoy's default `retry_back_off.max_interval` (ten times the base).
pub(crate) const RETRY_MAX_INTERVAL: Duration = Duration::from_millis(250);
/// The largest body of a retried response read to its end to keep its connection: error pages
/// are small, and reading a larger one costs more than a new connection.
const DRAIN_LIMIT: u64 = 4 * 1024;
/// How long reading such a body may take; it is overlapped with the backoff.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(50);
/// Extra picks a retry makes to find an endpoint other than the one that just failed (Envoy's
/// `previous_hosts` predicate with `host_selection_retry_max_attempts`).
const HOST_SELECTION_ATTEMPTS: usize = 3;

/// A request head that attempts and mirrors rebuild requests from.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub method: Method,
    pub uri: Uri,
    pub version: Version,
    pub headers: HeaderMap,
}

/// The request as the attempts send it.
#[derive(Debug)]
pub(crate) enum Outgoing {
    /// A streamed body, sent once; `None` once sent.
    Once(Option<Request<RequestBody>>),
    /// A buffered body, sent as many times as needed.
    Replayable { head: Head, body: BufferedBody },
}

/// How an attempt ended, as a retry policy sees it.
#[derive(Debug)]
pub(crate) enum Attempt<'a> {
    Response {
        status: StatusCode,
        headers: &'a HeaderMap,
    },
    Failed(ErrorKind),
}

/// The response of the last attempt (its body gives its connection back), with what must live
/// as long as its body.
#[derive(Debug)]
pub(crate) struct Upstreamed {
    pub resp: Response<UpstreamBody>,
    pub guard: InFlight,
    /// The attempt, active in the retry budget.
    pub active: ActiveRequest,
    /// The attempt's retry permit, when it was a retry.
    pub retry: Option<RetryPermit>,
}

impl Upstreamed {
    fn new(
        resp: Response<UpstreamBody>,
        guard: InFlight,
        active: ActiveRequest,
        retry: Option<RetryPermit>,
    ) -> Self {
        Self {
            resp,
            guard,
            active,
            retry,
        }
    }
}

impl Head {
    pub fn request(&self, body: RequestBody) -> Request<RequestBody> {
        let mut req = Request::new(body);
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = self.uri.clone();
        *req.version_mut() = self.version;
        *req.headers_mut() = self.headers.clone();
        req
    }
}

impl Outgoing {
    /// Whether the attempts need the body of `req` buffered: `replay` asks for it and the body is
    /// known to be at most [`MAX_BUFFERED_BODY`]. Otherwise it is streamed, once.
    pub fn buffers<B: http_body::Body>(req: &Request<B>, replay: bool) -> bool {
        replay
            && req
                .body()
                .size_hint()
                .upper()
                .is_some_and(|n| n <= MAX_BUFFERED_BODY)
    }

    /// The request with its body streamed to the upstream once. Not `async`, as most requests
    /// are sent this way: a future made and awaited here would carry the request through one
    /// more layer (copied into it and out of it) for nothing.
    pub fn streamed(req: Request<DownstreamBody>, idle: Option<&Arc<IdleTimer>>) -> Self {
        let idle = idle.cloned();
        Self::Once(Some(req.map(|b| RequestBody::Streamed(b, idle))))
    }

    /// Reads the body of `req` whole, to be sent as many times as needed; keeps its trailers.
    pub async fn buffered(req: Request<DownstreamBody>) -> Result<Self, ForwardError> {
        let (parts, body) = req.into_parts();
        let collected = body.collect().await.map_err(|e| {
            ForwardError::new(
                ErrorKind::BadRequest,
                "the request body could not be read from the client",
            )
            .with_cause(e)
        })?;
        let trailers = collected.trailers().cloned();
        let body = BufferedBody {
            data: collected.to_bytes(),
            trailers,
        };
        let head = Head {
            method: parts.method,
            uri: parts.uri,
            version: parts.version,
            headers: parts.headers,
        };
        Ok(Self::Replayable { head, body })
    }

    fn is_replayable(&self) -> bool {
        matches!(self, Self::Replayable { .. })
    }

    /// The request of the next attempt; `None` when a streamed body was already sent.
    fn next(&mut self) -> Option<Request<RequestBody>> {
        match self {
            Self::Once(req) => req.take(),
            Self::Replayable { head, body } => Some(head.request(RequestBody::buffered(body))),
        }
    }
}

/// Sends `outgoing` to `cluster`, retrying as `policy` says. Each attempt picks an endpoint
/// (another one than the last when it can), counts as an active request of the retry budget,
/// and records its outcome for outlier detection; each retry waits a jittered backoff and
/// needs a retry-budget permit. Everything, backoffs included, fits in `timeout`.
///
/// When the budget refuses a retry, the last response is returned as is (or, with no
/// response, a [`ErrorKind::RetryBudgetExhausted`] error).
pub(crate) async fn send(
    cluster: &ClusterState,
    outgoing: &mut Outgoing,
    policy: Option<&RetryPolicy>,
    timeout: Option<Duration>,
    hash: Option<u64>,
    metrics: &ActionMetrics,
) -> Result<Upstreamed, ForwardError> {
    // The request's one clock reading: its deadline, its first attempt's timer and latency.
    let start = Instant::now();
    let deadline = timeout.map(|t| start + t);
    if policy.is_some() && !outgoing.is_replayable() {
        tracing::debug!(cluster = %cluster.name, limit = MAX_BUFFERED_BODY, "request body too large or of unknown length to buffer: sent once, without retries");
    }
    let policy = policy.filter(|_| outgoing.is_replayable());
    let max_retries = policy.map_or(0, |p| p.num_retries);
    let mut retries = 0;
    let mut previous = None;
    let mut permit = None;
    loop {
        let pick = pick(cluster, hash, previous).ok_or_else(|| no_healthy_upstream(cluster))?;
        let active = cluster.retry_budget().request();
        // The first attempt has the whole timeout: no second reading of the clock.
        let begun = match retries {
            0 => start,
            _ => Instant::now(),
        };
        let limit = deadline.map(|at| Deadline {
            at,
            timeout: at.saturating_duration_since(begun),
        });
        // A streamed body is sent once, and only a replayable one is retried: always `Some`.
        // The attempt is awaited here, not in a function of its own: each layer of futures
        // would copy the request into it and the response out of it.
        let Some(req) = outgoing.next() else {
            return Err(ForwardError::new(
                ErrorKind::BadRequest,
                "the streamed request body was already sent",
            ));
        };
        let result = attempt(cluster, pick.endpoint, req, limit).await;
        let status = result
            .as_ref()
            .map_or_else(|e| e.status(), Response::status);
        cluster.metrics.request(status, begun.elapsed());
        if let Some(outcome) = outcome(&result) {
            cluster.record(pick.index, outcome);
        }
        let verdict = match &result {
            Ok(resp) => Attempt::Response {
                status: resp.status(),
                headers: resp.headers(),
            },
            Err(e) => Attempt::Failed(e.kind()),
        };
        let due = retries < max_retries && policy.is_some_and(|p| should_retry(p, &verdict));
        let wait = backoff(retries + 1);
        if !(due && deadline.is_none_or(|d| Instant::now() + wait < d)) {
            return result.map(|r| Upstreamed::new(r, pick.guard, active, permit));
        }
        match cluster.retry_budget().try_retry() {
            Ok(p) => permit = Some(p),
            Err(refused) => {
                metrics.retry_budget_exhausted.inc();
                tracing::debug!(cluster = %cluster.name, reason = ErrorKind::RetryBudgetExhausted.code(), %refused, "retry refused by the retry budget; returning the last attempt");
                return result
                    .map(|r| Upstreamed::new(r, pick.guard, active, permit))
                    .map_err(|e| budget_exhausted(cluster, refused, e));
            }
        }
        retries += 1;
        metrics.retries.inc();
        tracing::debug!(cluster = %cluster.name, endpoint = %pick.endpoint.addr, retry = retries, backoff = ?wait, outcome = %summary(&result), "retrying the request");
        previous = Some(pick.index);
        drop((active, pick));
        tokio::join!(discard(result.ok()), tokio::time::sleep(wait));
    }
}

/// Drops a retried response: a small body is read to its end (during the backoff), at which
/// the body gives its HTTP/1.1 connection back to the pool; a larger or slower one closes the
/// connection. An HTTP/2 stream is just dropped (reset).
async fn discard(response: Option<Response<UpstreamBody>>) {
    let Some(resp) = response.filter(|r| r.body().holds_connection()) else {
        return;
    };
    let small = resp
        .body()
        .size_hint()
        .upper()
        .is_some_and(|n| n <= DRAIN_LIMIT);
    if small {
        let drained = tokio::time::timeout(DRAIN_TIMEOUT, resp.into_body().collect()).await;
        if !matches!(drained, Ok(Ok(_))) {
            tracing::debug!("retried response not read in time: its connection closes");
        }
    }
}

/// The error of a request whose last attempt failed without a response and whose retry the
/// budget refused.
fn budget_exhausted(
    cluster: &ClusterState,
    refused: RetryRefused,
    last: ForwardError,
) -> ForwardError {
    ForwardError::new(
        ErrorKind::RetryBudgetExhausted,
        format!(
            "cluster {:?}: {refused}; the last attempt failed: {}",
            cluster.name,
            last.kind()
        ),
    )
    .with_cause(last)
}

/// Whether `policy` retries an attempt that ended as `attempt` (Envoy's `retry_on`).
pub(crate) fn should_retry(policy: &RetryPolicy, attempt: &Attempt<'_>) -> bool {
    policy
        .retry_on
        .iter()
        .any(|&on| condition_holds(on, policy, attempt))
}

fn condition_holds(on: RetryOn, policy: &RetryPolicy, attempt: &Attempt<'_>) -> bool {
    match attempt {
        // Envoy counts a reset as a 5xx (it becomes one); a connect failure is a reset too.
        Attempt::Failed(ErrorKind::ConnectFailed) => matches!(
            on,
            RetryOn::FiveXx | RetryOn::GatewayError | RetryOn::Reset | RetryOn::ConnectFailure
        ),
        Attempt::Failed(ErrorKind::UpstreamReset) => {
            matches!(on, RetryOn::FiveXx | RetryOn::GatewayError | RetryOn::Reset)
        }
        Attempt::Failed(ErrorKind::UpstreamRefusedStream) => matches!(
            on,
            RetryOn::FiveXx | RetryOn::GatewayError | RetryOn::Reset | RetryOn::RefusedStream
        ),
        // A timeout is the route's own (the deadline is spent); the proxy's refusals do not
        // change on another attempt.
        Attempt::Failed(_) => false,
        Attempt::Response { status, headers } => {
            let code = status.as_u16();
            match on {
                RetryOn::FiveXx => status.is_server_error(),
                RetryOn::GatewayError => matches!(code, 502..=504),
                RetryOn::Retriable4xx => code == 409,
                RetryOn::RetriableStatusCodes => policy.retriable_status_codes.contains(&code),
                RetryOn::Cancelled => grpc_status(headers) == Some(1),
                RetryOn::DeadlineExceeded => grpc_status(headers) == Some(4),
                RetryOn::ResourceExhausted => grpc_status(headers) == Some(8),
                RetryOn::Internal => grpc_status(headers) == Some(13),
                RetryOn::Unavailable => grpc_status(headers) == Some(14),
                RetryOn::Reset | RetryOn::ConnectFailure | RetryOn::RefusedStream => false,
            }
        }
    }
}

/// The `grpc-status` of a trailers-only response (in its headers).
fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The wait before retry `n` (1 for the first retry): uniform in `[0, min(base × (2ⁿ − 1),
/// max))`, Envoy's jittered exponential backoff.
pub(crate) fn backoff(n: u32) -> Duration {
    let base = RETRY_BASE_INTERVAL.as_millis() as u64;
    let max = RETRY_MAX_INTERVAL.as_millis() as u64;
    let ceiling = base.saturating_mul((1u64 << n.min(32)) - 1).clamp(1, max);
    Duration::from_millis(fastrand::u64(..ceiling))
}

/// An endpoint for the next attempt: the cluster's pick, and for a retry another endpoint than
/// the last when a few more picks find one.
fn pick(
    cluster: &ClusterState,
    hash: Option<u64>,
    previous: Option<usize>,
) -> Option<Pick<'_, Upstream>> {
    let first = cluster.pick(hash)?;
    let Some(previous) = previous else {
        return Some(first);
    };
    if first.index != previous || cluster.balancer.serving_len() < 2 {
        return Some(first);
    }
    // A hash would lead to the same endpoint again: these picks go by the policy alone.
    (0..HOST_SELECTION_ATTEMPTS)
        .filter_map(|_| cluster.pick(None))
        .find(|p| p.index != previous)
        .or(Some(first))
}

/// What outlier detection counts of an attempt; nothing for the proxy's own refusals.
fn outcome<T>(result: &Result<Response<T>, ForwardError>) -> Option<Outcome> {
    match result {
        Ok(resp) if resp.status().is_server_error() => Some(Outcome::ServerError),
        Ok(_) => Some(Outcome::Success),
        Err(e) if e.source_side() == ErrorSource::Upstream => Some(Outcome::LocalOriginFailure),
        Err(_) => None,
    }
}

/// The status (and `grpc-status`) or failure of an attempt, for logs.
fn summary<T>(result: &Result<Response<T>, ForwardError>) -> String {
    match result {
        Ok(resp) => match grpc_status(resp.headers()) {
            Some(g) => format!("{} grpc-status {g}", resp.status()),
            None => resp.status().to_string(),
        },
        Err(e) => e.kind().code().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `retry_on`, the response status or the failure, the `grpc-status`, and whether it is
    /// retried.
    type Case = (RetryOn, Result<u16, ErrorKind>, Option<&'static str>, bool);

    fn policy(on: &[RetryOn], codes: &[u16]) -> RetryPolicy {
        RetryPolicy {
            retry_on: on.iter().copied().collect(),
            num_retries: 1,
            retriable_status_codes: codes.iter().copied().collect::<BTreeSet<_>>(),
        }
    }

    fn response(status: u16, grpc: Option<&'static str>) -> (StatusCode, HeaderMap) {
        let mut h = HeaderMap::new();
        if let Some(g) = grpc {
            h.insert("grpc-status", g.parse().unwrap());
        }
        (StatusCode::from_u16(status).unwrap(), h)
    }

    #[test]
    fn retry_on_conditions() {
        use RetryOn::*;
        let cases: &[Case] = &[
            (FiveXx, Ok(500), None, true),
            (FiveXx, Ok(503), None, true),
            (FiveXx, Ok(404), None, false),
            (FiveXx, Err(ErrorKind::ConnectFailed), None, true),
            (FiveXx, Err(ErrorKind::UpstreamReset), None, true),
            (FiveXx, Err(ErrorKind::UpstreamTimeout), None, false),
            (FiveXx, Err(ErrorKind::Overflow), None, false),
            (GatewayError, Ok(500), None, false),
            (GatewayError, Ok(502), None, true),
            (GatewayError, Ok(504), None, true),
            (GatewayError, Err(ErrorKind::ConnectFailed), None, true),
            (Reset, Ok(503), None, false),
            (Reset, Err(ErrorKind::UpstreamReset), None, true),
            (ConnectFailure, Err(ErrorKind::ConnectFailed), None, true),
            (ConnectFailure, Err(ErrorKind::UpstreamReset), None, false),
            (ConnectFailure, Ok(503), None, false),
            (Retriable4xx, Ok(409), None, true),
            (Retriable4xx, Ok(429), None, false),
            (RetriableStatusCodes, Ok(418), None, true),
            (RetriableStatusCodes, Ok(419), None, false),
            (Unavailable, Ok(200), Some("14"), true),
            (Unavailable, Ok(200), Some("13"), false),
            (Internal, Ok(200), Some("13"), true),
            (Cancelled, Ok(200), Some("1"), true),
            (DeadlineExceeded, Ok(200), Some("4"), true),
            (ResourceExhausted, Ok(200), Some("8"), true),
            (ResourceExhausted, Ok(200), None, false),
            (RefusedStream, Ok(503), None, false),
            (RefusedStream, Err(ErrorKind::UpstreamReset), None, false),
            (
                RefusedStream,
                Err(ErrorKind::UpstreamRefusedStream),
                None,
                true,
            ),
            (FiveXx, Err(ErrorKind::UpstreamRefusedStream), None, true),
        ];
        for (on, result, grpc, want) in cases {
            let p = policy(&[*on], &[418]);
            let got = match result {
                Ok(status) => {
                    let (status, headers) = response(*status, *grpc);
                    should_retry(
                        &p,
                        &Attempt::Response {
                            status,
                            headers: &headers,
                        },
                    )
                }
                Err(kind) => should_retry(&p, &Attempt::Failed(*kind)),
            };
            assert_eq!(got, *want, "{on} {result:?} {grpc:?}");
        }
    }

    #[test]
    fn backoff_is_jittered_exponential_and_capped() {
        for _ in 0..200 {
            assert!(backoff(1) < Duration::from_millis(25));
            assert!(backoff(2) < Duration::from_millis(75));
            assert!(backoff(3) < Duration::from_millis(175));
            assert!(backoff(4) < RETRY_MAX_INTERVAL);
            assert!(backoff(40) < RETRY_MAX_INTERVAL);
        }
        let spread: BTreeSet<_> = (0..200).map(|_| backoff(4)).collect();
        assert!(spread.len() > 20, "jittered: {spread:?}");
    }
}
