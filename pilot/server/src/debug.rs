//! Pilot's debug and metrics HTTP endpoints, apart from the xDS port:
//! `/debug/syncz` (per-proxy sync status, read by `rig status`), `/debug/catalog`, `/metrics`, `/ready`.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::status::StatusRegistry;
use crate::{RegistryReport, Snapshot};

pub(crate) struct DebugState {
    pub status: Arc<StatusRegistry>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    pub registries: Option<RegistryReport>,
    pub metrics: Arc<Metrics>,
    pub registry: Registry,
}

pub(crate) async fn serve(
    listener: TcpListener,
    state: DebugState,
    mut stop: watch::Receiver<bool>,
) {
    let state = Arc::new(state);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "debug accept failed");
                    continue;
                }
            },
            () = crate::ads::stopped(&mut stop) => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(&state, &req)) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await
            {
                tracing::debug!(error = %e, "debug connection ended");
            }
        });
    }
}

fn handle(state: &DebugState, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    if req.method() != Method::GET {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET\n".to_owned());
    }
    let snapshot = state.snapshots.borrow().clone();
    match req.uri().path() {
        "/ready" => text(StatusCode::OK, "ready\n".to_owned()),
        "/debug/syncz" => {
            let body = serde_json::json!({
                "snapshot_version": snapshot.version,
                "proxies": state.status.list(),
                "registries": state.registries.as_ref().map(|r| r()),
            });
            json(&body)
        }
        "/debug/catalog" => json(&serde_json::json!({
            "snapshot_version": snapshot.version,
            "catalog": &*snapshot.catalog,
        })),
        "/metrics" => {
            state
                .metrics
                .snapshot_version
                .set(i64::try_from(snapshot.version).unwrap_or(i64::MAX));
            if let Some(report) = &state.registries {
                state.metrics.set_registries(&report());
            }
            let mut out = String::new();
            match prometheus_client::encoding::text::encode(&mut out, &state.registry) {
                Ok(()) => {
                    let mut r = text(StatusCode::OK, out);
                    r.headers_mut().insert(
                        header::CONTENT_TYPE,
                        header::HeaderValue::from_static(
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        ),
                    );
                    r
                }
                Err(e) => text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("encoding metrics: {e}\n"),
                ),
            }
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found; try /debug/syncz, /debug/catalog, /metrics, /ready\n".to_owned(),
        ),
    }
}

fn json(value: &serde_json::Value) -> Response<Full<Bytes>> {
    match serde_json::to_vec_pretty(value) {
        Ok(body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding JSON: {e}\n"),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r
}
