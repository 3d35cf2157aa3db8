//! The HTTP side of the fake: accepting connections (plain or TLS), checking ACLs and faults,
//! holding blocking queries, and answering the catalog, health and config-entry reads.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use super::{Inner, Recorded, State, lock};
use crate::fake_http::blocking_wait;

/// Accepts until aborted; aborting drops the connection set, which cuts every connection.
pub(super) async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    let mut conns = JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let inner = Arc::clone(&inner);
        let tls = inner.tls.clone().map(tokio_rustls::TlsAcceptor::from);
        conns.spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let inner = Arc::clone(&inner);
                async move { Ok::<_, Infallible>(handle(&inner, req).await) }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(tls), svc).await;
                    }
                }
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                }
            }
        });
    }
}

async fn handle(inner: &Inner, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    if path.starts_with("/v1/agent/") {
        return super::agent::handle(inner, req).await;
    }
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let token = req
        .headers()
        .get("X-Consul-Token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let index: Option<u64> = query.get("index").and_then(|v| v.parse().ok());
    let wait = query.get("wait").cloned();
    let delay = {
        let mut s = lock(&inner.state);
        s.requests.push(Recorded {
            path: path.clone(),
            index,
            wait: wait.clone(),
            dc: query.get("dc").cloned(),
            token: token.clone(),
        });
        if let Some(required) = &s.token {
            match &token {
                None => {
                    return text(
                        403,
                        "Permission denied: anonymous token lacks permission 'service:read'",
                    );
                }
                Some(t) if t != required => return text(403, "ACL not found"),
                Some(_) => {}
            }
        }
        if s.failing {
            return text(500, "rpc error making call: No cluster leader");
        }
        if query.get("dc").is_some_and(|dc| *dc != s.datacenter) {
            return text(500, "No path to datacenter");
        }
        s.delay
    };
    if let Some(index) = index.filter(|i| *i > 0) {
        let wait = blocking_wait(wait.as_deref());
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut rx = inner.changed.subscribe();
            {
                let s = lock(&inner.state);
                if s.failing || s.forced_index.unwrap_or(s.index) > index {
                    break;
                }
            }
            tokio::select! {
                _ = rx.changed() => {}
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let s = lock(&inner.state);
    if s.failing {
        return text(500, "rpc error making call: No cluster leader");
    }
    let body = match answer(&s, &path) {
        Some(body) => body,
        None => return text(404, "Not found"),
    };
    let reported = s.forced_index.unwrap_or(s.index);
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json")
        .header("X-Consul-Index", reported.to_string())
        .header("X-Consul-KnownLeader", "true")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("response")
}

/// The JSON body for a read of `path`, or `None` for a path the fake does not serve.
fn answer(s: &State, path: &str) -> Option<Value> {
    if path == "/v1/catalog/services" {
        let mut services: BTreeMap<String, Vec<Value>> = BTreeMap::new();
        for e in &s.entries {
            let name = e["Service"]["Service"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let tags = services.entry(name).or_default();
            for t in e["Service"]["Tags"].as_array().into_iter().flatten() {
                if !tags.contains(t) {
                    tags.push(t.clone());
                }
            }
        }
        return Some(json!(services));
    }
    if let Some(name) = path.strip_prefix("/v1/health/service/") {
        let found: Vec<&Value> = s
            .entries
            .iter()
            .filter(|e| e["Service"]["Service"] == name)
            .collect();
        return Some(json!(found));
    }
    if let Some(name) = path.strip_prefix("/v1/health/connect/") {
        let found: Vec<&Value> = s
            .entries
            .iter()
            .filter(|e| {
                let svc = &e["Service"];
                (svc["Kind"] == "connect-proxy" && svc["Proxy"]["DestinationServiceName"] == name)
                    || (svc["Service"] == name && svc["Connect"]["Native"] == true)
            })
            .collect();
        return Some(json!(found));
    }
    if let Some(kind) = path.strip_prefix("/v1/config/") {
        let found: Vec<&Value> = s.config.iter().filter(|e| e["Kind"] == kind).collect();
        return Some(json!(found));
    }
    None
}

pub(super) fn text(status: u16, body: &str) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("Content-Type", "text/plain; charset=utf-8")
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("response")
}
