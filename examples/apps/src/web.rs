//! The demo's front end: `web` calls `api` over HTTP and `db` over TCP and
//! reports both answers.

use std::error::Error;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderName;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tracing::warn;

use crate::behaviour::Behaviour;
use crate::client::http_error;
use crate::error::with_timeout;
use crate::http::{App, BoxBody, serve, text};
use crate::{AppError, AppIdentity};

/// Request headers `web` passes on to `api`, so that a trace or request id
/// set at the edge follows the request through the mesh.
const PROPAGATED_HEADERS: [HeaderName; 9] = [
    HeaderName::from_static("x-request-id"),
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    HeaderName::from_static("b3"),
    HeaderName::from_static("x-b3-traceid"),
    HeaderName::from_static("x-b3-spanid"),
    HeaderName::from_static("x-b3-parentspanid"),
    HeaderName::from_static("x-b3-sampled"),
    HeaderName::from_static("x-b3-flags"),
];

/// What `db` is sent and must echo back.
const DB_PING: &[u8] = b"ping\n";

/// Serves like [`crate::serve_http`], except that `GET /` calls `api` at
/// `http://{api_addr}/` (over a pooled HTTP/1.1 client) and `db` at
/// `db_addr` (banner, then `ping`), and answers 200 with a report of both:
///
/// ```text
/// web v1 (web-1)
///   api -> hello from api v2 (api-v2-1)
///   db  -> db v1 (db-1) ready / ping
/// ```
///
/// If either call fails the answer is 502 and the report shows its error.
pub async fn serve_web(
    listener: TcpListener,
    id: AppIdentity,
    api_addr: SocketAddr,
    db_addr: SocketAddr,
) -> io::Result<()> {
    let (grpc, _reporter) = crate::grpc::health_routes(&id.service).await;
    let frontend = Frontend {
        api: api_addr,
        db: db_addr,
        client: Client::builder(TokioExecutor::new()).build_http(),
    };
    let app = Arc::new(App {
        id,
        grpc,
        frontend: Some(frontend),
        behaviour: Behaviour::default(),
    });
    serve(listener, app).await
}

/// The backends of `web` and the pooled client that calls `api`.
#[derive(Debug)]
pub(crate) struct Frontend {
    api: SocketAddr,
    db: SocketAddr,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Frontend {
    /// Calls both backends at once and reports their answers.
    pub(crate) async fn report(&self, id: &AppIdentity, inbound: &HeaderMap) -> Response<BoxBody> {
        let (api, db) = tokio::join!(self.call_api(inbound), self.call_db());
        let mut report = format!("{id}{}\n", crate::http::caller_note(inbound));
        let api_ok = push_line(&mut report, "api", api);
        let db_ok = push_line(&mut report, "db ", db);
        let status = if api_ok && db_ok {
            StatusCode::OK
        } else {
            StatusCode::BAD_GATEWAY
        };
        text(status, report)
    }

    async fn call_api(&self, inbound: &HeaderMap) -> Result<String, AppError> {
        let addr = self.api;
        with_timeout(addr, async {
            let mut request = Request::get(format!("http://{addr}/"))
                .body(Empty::new())
                .map_err(|e| http_error(addr, e))?;
            for name in &PROPAGATED_HEADERS {
                for value in inbound.get_all(name) {
                    request.headers_mut().append(name, value.clone());
                }
            }
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| http_error(addr, e))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| http_error(addr, e))?
                .to_bytes();
            let body = String::from_utf8_lossy(&body).trim_end().to_owned();
            if !status.is_success() {
                return Err(AppError::unexpected(
                    addr,
                    format!("status {status}: {body}"),
                ));
            }
            Ok(body)
        })
        .await
    }

    async fn call_db(&self) -> Result<String, AppError> {
        let (banner, echoed) = crate::tcp::tcp_echo(self.db, DB_PING).await?;
        let echoed = String::from_utf8_lossy(&echoed);
        Ok(format!("{banner} / {}", echoed.trim_end()))
    }
}

/// Appends `  {name} -> {answer or error}` to the report; true if it was an answer.
fn push_line(report: &mut String, name: &str, answer: Result<String, AppError>) -> bool {
    match answer {
        Ok(answer) => {
            report.push_str(&format!("  {name} -> {answer}\n"));
            true
        }
        Err(error) => {
            let chain = error_chain(&error);
            warn!(backend = name.trim_end(), error = %chain, "backend call failed");
            report.push_str(&format!("  {name} -> error: {chain}\n"));
            false
        }
    }
}

/// An error and its causes, `outer: inner: root`.
fn error_chain(error: &dyn Error) -> String {
    let mut chain = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        chain.push_str(": ");
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    chain
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::net::SocketAddr;

    use bytes::Bytes;
    use http::{Request, Response};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    use super::serve_web;
    use crate::testing::{Running, api_v2, http, listener, tcp};
    use crate::{AppIdentity, grpc_health_check, http_get};

    fn web_v1() -> AppIdentity {
        AppIdentity::new("web", "v1", "web-1")
    }

    async fn web(api: SocketAddr, db: SocketAddr) -> (SocketAddr, Running) {
        let (listener, addr) = listener().await;
        let server = tokio::spawn(serve_web(listener, web_v1(), api, db));
        (addr, Running(server))
    }

    /// An address where nothing listens.
    async fn closed_addr() -> SocketAddr {
        listener().await.1
    }

    #[tokio::test]
    async fn reports_both_backends() {
        let (api, _api_reporter, _api) = http(api_v2()).await;
        let (db, _db) = tcp(AppIdentity::new("db", "v1", "db-1")).await;
        let (addr, _web) = web(api, db).await;
        for http2 in [false, true] {
            let (status, headers, body) = http_get(addr, "/", http2).await.expect("get");
            assert_eq!(status, 200, "{body}");
            assert_eq!(
                body,
                "web v1 (web-1)\n  api -> hello from api v2 (api-v2-1)\n  db  -> db v1 (db-1) ready / ping\n"
            );
            assert_eq!(headers["x-served-by"], "web-1");
        }
    }

    #[tokio::test]
    async fn failing_api_is_a_bad_gateway() {
        let (db, _db) = tcp(AppIdentity::new("db", "v1", "db-1")).await;
        let api = closed_addr().await;
        let (addr, _web) = web(api, db).await;
        let (status, _, body) = http_get(addr, "/", false).await.expect("get");
        assert_eq!(status, 502);
        assert!(
            body.contains(&format!("api -> error: http exchange with {api}")),
            "{body}"
        );
        assert!(body.contains("db  -> db v1 (db-1) ready / ping"), "{body}");
    }

    #[tokio::test]
    async fn failing_db_is_a_bad_gateway() {
        let (api, _api_reporter, _api) = http(api_v2()).await;
        let db = closed_addr().await;
        let (addr, _web) = web(api, db).await;
        let (status, _, body) = http_get(addr, "/", true).await.expect("get");
        assert_eq!(status, 502);
        assert!(
            body.contains(&format!("db  -> error: connect to {db}")),
            "{body}"
        );
    }

    #[tokio::test]
    async fn other_paths_are_served_as_by_serve_http() {
        let (addr, _web) = web(closed_addr().await, closed_addr().await).await;
        let (status, _, _) = http_get(addr, "/status/503", false).await.expect("get");
        assert_eq!(status, 503);
        assert_eq!(grpc_health_check(addr, "web").await.expect("check"), 1);
    }

    #[tokio::test]
    async fn propagates_request_id_to_api() {
        let (api_listener, api) = listener().await;
        let _api = Running(tokio::spawn(async move {
            let (stream, _) = api_listener.accept().await?;
            let service = service_fn(|req: Request<Incoming>| async move {
                let id = req.headers().get("x-request-id").cloned();
                let body = id
                    .map(|v| Bytes::copy_from_slice(v.as_bytes()))
                    .unwrap_or_default();
                Ok::<_, Infallible>(Response::new(Full::new(body)))
            });
            let conn = hyper::server::conn::http1::Builder::new();
            let _ = conn.serve_connection(TokioIo::new(stream), service).await;
            Ok(())
        }));
        let (db, _db) = tcp(AppIdentity::new("db", "v1", "db-1")).await;
        let (addr, _web) = web(api, db).await;

        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let request = Request::get("/")
            .header("host", "web")
            .header("x-request-id", "req-42")
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert!(
            String::from_utf8_lossy(&body).contains("api -> req-42"),
            "{body:?}"
        );
    }
}
