//! The HTTP/1.1 + h2c server: plain endpoints, WebSocket and gRPC on one port.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tower::ServiceExt;
use tracing::debug;

use crate::AppIdentity;
use crate::behaviour::{Behaviour, HttpOptions};
use crate::error::BoxError;
use crate::listen::{Shutdown, accept_loop};
use crate::web::Frontend;

/// The body of every response the servers send.
pub(crate) type BoxBody = UnsyncBoxBody<Bytes, BoxError>;

/// Names the instance that answered, on every response.
pub(crate) const X_SERVED_BY: HeaderName = HeaderName::from_static("x-served-by");
/// The HTTP version of the request as this server received it.
pub(crate) const X_HTTP_VERSION: HeaderName = HeaderName::from_static("x-http-version");
/// The path and query of the request as this server received it (after any rewrite by the mesh).
pub(crate) const X_SEEN_PATH: HeaderName = HeaderName::from_static("x-seen-path");
/// The method of the request as this server received it.
pub(crate) const X_SEEN_METHOD: HeaderName = HeaderName::from_static("x-seen-method");
/// Request headers with this prefix are copied into the `/echo` response.
const ECHO_HEADER_PREFIX: &str = "x-echo-";
const TEXT_PLAIN: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

/// Serves HTTP/1.1 and h2c (prior knowledge) on `listener` until dropped:
///
/// - `GET /` answers `hello from {service} {version} ({instance})`;
/// - `POST /echo` streams the request body back, with its `x-echo-*` headers;
/// - `GET /slow?ms=N` answers after N milliseconds;
/// - `GET /status/NNN` answers with status NNN;
/// - `/headers` (any method) answers the request line and every request header as received,
///   one `name: value` a line, so that rewrites and header changes by the mesh are visible;
/// - `GET /hits` answers how many requests this instance served so far (`/hits` excepted);
/// - `GET /ws` upgrades to a WebSocket that echoes every message;
/// - any request with content-type `application/grpc*` goes to the
///   `grpc.health.v1.Health` service, where `""` and `{service}` are SERVING.
///
/// Every response carries `x-served-by: {instance}` and `x-http-version`; every non-gRPC one
/// also `x-seen-method` and `x-seen-path` (path and query), as this server received them.
///
/// Accept errors are logged and retried; an error is returned only if the
/// listener's own address cannot be read.
pub async fn serve_http(listener: TcpListener, id: AppIdentity) -> io::Result<()> {
    let (server, _reporter) = serve_http_with_health(listener, id).await;
    server.await
}

/// Like [`serve_http`], but also hands back the health reporter so that a
/// test can change what `Check` answers and push messages to `Watch`
/// streams. The statuses are set before this returns; the server runs when
/// the returned future is polled.
pub async fn serve_http_with_health(
    listener: TcpListener,
    id: AppIdentity,
) -> (
    impl Future<Output = io::Result<()>> + Send + 'static,
    HealthReporter,
) {
    serve_http_with(listener, id, HttpOptions::default()).await
}

/// Like [`serve_http_with_health`], with `options` saying how the app misbehaves on purpose
/// (e.g. failing some requests, see [`crate::FailRule`]). A request answered with a failure
/// status is counted by `/hits` like any other.
pub async fn serve_http_with(
    listener: TcpListener,
    id: AppIdentity,
    options: HttpOptions,
) -> (
    impl Future<Output = io::Result<()>> + Send + 'static,
    HealthReporter,
) {
    let (grpc, reporter) = crate::grpc::health_routes(&id.service).await;
    let app = Arc::new(App {
        id,
        grpc,
        frontend: None,
        behaviour: Behaviour::new(options),
    });
    (serve(listener, app), reporter)
}

/// One application: who it is, its gRPC services and, for `web`, its backends.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) id: AppIdentity,
    pub(crate) grpc: Routes,
    pub(crate) frontend: Option<Frontend>,
    /// Failures on purpose and the request counter.
    pub(crate) behaviour: Behaviour,
}

/// Runs the accept loop of an HTTP application.
pub(crate) async fn serve(listener: TcpListener, app: Arc<App>) -> io::Result<()> {
    accept_loop(listener, "http", move |stream, _peer, shutdown| {
        serve_connection(stream, Arc::clone(&app), shutdown)
    })
    .await
}

async fn serve_connection(stream: TcpStream, app: Arc<App>, shutdown: Shutdown) {
    let service = service_fn(move |req| {
        let app = Arc::clone(&app);
        let shutdown = shutdown.clone();
        async move { Ok::<_, Infallible>(app.handle(req, shutdown).await) }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    if let Err(error) = conn.await {
        debug!(%error, "connection ended with an error");
    }
}

impl App {
    async fn handle(&self, req: Request<Incoming>, shutdown: Shutdown) -> Response<BoxBody> {
        let version = format!("{:?}", req.version());
        let mut response = if is_grpc(&req) {
            self.behaviour.count();
            self.grpc(req).await
        } else {
            let seen_method = HeaderValue::from_str(req.method().as_str()).ok();
            let seen_path = req
                .uri()
                .path_and_query()
                .and_then(|p| HeaderValue::from_str(p.as_str()).ok());
            let mut response = if req.method() == Method::GET && req.uri().path() == "/hits" {
                text(StatusCode::OK, format!("{}\n", self.behaviour.hits()))
            } else if let Some(status) = self.behaviour.count() {
                text(
                    status,
                    format!(
                        "{} fails on purpose: {}\n",
                        self.id.instance,
                        status.as_u16()
                    ),
                )
            } else {
                self.route(req, shutdown).await
            };
            let headers = response.headers_mut();
            if let Some(method) = seen_method {
                headers.insert(X_SEEN_METHOD, method);
            }
            if let Some(path) = seen_path {
                headers.insert(X_SEEN_PATH, path);
            }
            response
        };
        let headers = response.headers_mut();
        if let Ok(instance) = HeaderValue::from_str(&self.id.instance) {
            headers.insert(X_SERVED_BY, instance);
        }
        if let Ok(version) = HeaderValue::from_str(&version) {
            headers.insert(X_HTTP_VERSION, version);
        }
        response
    }

    async fn route(&self, req: Request<Incoming>, shutdown: Shutdown) -> Response<BoxBody> {
        let path = req.uri().path();
        match (req.method(), path) {
            (&Method::GET, "/") => match &self.frontend {
                Some(frontend) => frontend.report(&self.id, req.headers()).await,
                None => text(
                    StatusCode::OK,
                    format!(
                        "hello from {} {} ({}){}\n",
                        self.id.service,
                        self.id.version,
                        self.id.instance,
                        caller_note(req.headers())
                    ),
                ),
            },
            (&Method::POST, "/echo") => echo(req),
            (&Method::GET, "/slow") => slow(req.uri().query()).await,
            (&Method::GET, "/ws") => crate::ws::accept(req, shutdown),
            (_, "/headers") => seen_headers(&req),
            (&Method::GET, _) if path.starts_with("/status/") => status(&path["/status/".len()..]),
            _ => text(
                StatusCode::NOT_FOUND,
                format!("no route for {} {path}\n", req.method()),
            ),
        }
    }

    async fn grpc(&self, req: Request<Incoming>) -> Response<BoxBody> {
        let response = match self.grpc.clone().oneshot(req).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        response.map(|body| body.map_err(BoxError::from).boxed_unsync())
    }
}

fn is_grpc<B>(req: &Request<B>) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// A response with a plain-text body.
pub(crate) fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<BoxBody> {
    let mut response = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, TEXT_PLAIN);
    response
}

/// Streams the request body back as it arrives, so slow or large bodies
/// prove that the proxy streams rather than buffers.
fn echo(req: Request<Incoming>) -> Response<BoxBody> {
    let (parts, body) = req.into_parts();
    let mut response = Response::new(body.map_err(BoxError::from).boxed_unsync());
    for (name, value) in &parts.headers {
        if name.as_str().starts_with(ECHO_HEADER_PREFIX) || name == CONTENT_TYPE {
            response.headers_mut().append(name, value.clone());
        }
    }
    response
}

/// The request line and headers as received: `GET /headers?q HTTP/1.1`, then `name: value` lines.
fn seen_headers<B>(req: &Request<B>) -> Response<BoxBody> {
    let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut body = format!("{} {target} {:?}\n", req.method(), req.version());
    for (name, value) in req.headers() {
        body.push_str(&format!(
            "{name}: {}\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    text(StatusCode::OK, body)
}

async fn slow(query: Option<&str>) -> Response<BoxBody> {
    let ms = query
        .unwrap_or_default()
        .split('&')
        .find_map(|pair| pair.strip_prefix("ms="))
        .and_then(|ms| ms.parse::<u64>().ok());
    let Some(ms) = ms else {
        return text(StatusCode::BAD_REQUEST, "expected ?ms=<milliseconds>\n");
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    text(StatusCode::OK, format!("slept {ms} ms\n"))
}

/// Answers with the status named in the path; informational (1xx) statuses
/// are refused because they are not final responses.
fn status(code: &str) -> Response<BoxBody> {
    match code
        .parse::<u16>()
        .ok()
        .and_then(|c| StatusCode::from_u16(c).ok())
    {
        Some(status) if status.as_u16() >= 200 && status.as_u16() <= 599 => {
            text(status, format!("status {}\n", status.as_u16()))
        }
        _ => text(
            StatusCode::BAD_REQUEST,
            format!("not a final status code: {code}\n"),
        ),
    }
}

/// `"; caller <spiffe id>"` when the mesh said who called (the `URI` element of the
/// `x-forwarded-client-cert` header its proxy sets on mTLS connections), else nothing.
pub(crate) fn caller_note(headers: &http::HeaderMap) -> String {
    headers
        .get("x-forwarded-client-cert")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(';')
                .find_map(|element| element.trim().strip_prefix("URI="))
        })
        .map(|uri| format!("; caller {uri}"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
