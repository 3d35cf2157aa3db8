//! The HTTP side of the fake: accepting connections (plain or TLS), refusing on ACLs, faults
//! and regions, holding blocking queries, and answering `/v1/services` and `/v1/service/:name`.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::{FakeNomad, Recorded, Registration, State};
use crate::fake_http::{blocking_wait, decode};

impl FakeNomad {
    pub(super) fn serve(&mut self, listener: TcpListener) {
        let state = Arc::clone(&self.state);
        let tls = self.tls.as_ref().map(|t| t.acceptor.clone());
        self.server = Some(tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = Arc::clone(&state);
                let tls = tls.clone();
                conns.spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let http = hyper::server::conn::http1::Builder::new();
                    let result = match tls {
                        Some(tls) => match tls.accept(stream).await {
                            Ok(s) => http.serve_connection(TokioIo::new(s), svc).await,
                            Err(e) => return tracing::debug!("fake nomad tls: {e}"),
                        },
                        None => http.serve_connection(TokioIo::new(stream), svc).await,
                    };
                    if let Err(e) = result {
                        tracing::debug!("fake nomad connection: {e}");
                    }
                });
                while conns.try_join_next().is_some() {}
            }
        }));
    }
}

async fn handle(state: &watch::Sender<State>, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k), decode(v))
        })
        .collect();
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let token = header("x-nomad-token")
        .or_else(|| header("authorization").and_then(|a| a.strip_prefix("Bearer ")))
        .map(str::to_owned);
    let (delay, refusal) = {
        let mut refusal = None;
        state.send_if_modified(|s| {
            s.log.push(Recorded {
                path: path.clone(),
                query: query.clone(),
                token: token.clone(),
            });
            refusal = refuse(s, token.as_deref(), query.get("region"));
            false
        });
        (state.borrow().delay, refusal)
    };
    tokio::time::sleep(delay).await;
    if let Some((status, body)) = refusal {
        return text(status, body);
    }
    if super::jobs::serves(&path) {
        let body = match req.into_body().collect().await {
            Ok(body) => body.to_bytes(),
            Err(e) => return text(StatusCode::BAD_REQUEST, e.to_string()),
        };
        return super::jobs::handle(state, &method, &path, &query, &body).await;
    }
    // index=0 (or none) answers at once, as in Nomad: only a positive index blocks
    if let Some(index) = query
        .get("index")
        .and_then(|i| i.parse::<u64>().ok())
        .filter(|i| *i > 0)
    {
        let wait = blocking_wait(query.get("wait").map(String::as_str));
        let mut rx = state.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|s| s.index > index)).await;
    }
    let s = state.borrow();
    let namespace = query.get("namespace").map_or("default", String::as_str);
    let in_ns = |r: &&Registration| namespace == "*" || r.namespace == namespace;
    let (body, next) = if path == "/v1/services" {
        (services(s.registrations.values().filter(in_ns)), None)
    } else if let Some(name) = path.strip_prefix("/v1/service/") {
        let regs: Vec<&Registration> = s
            .registrations
            .values()
            .filter(in_ns)
            .filter(|r| r.service_name == name)
            .collect();
        page(regs, &query)
    } else {
        return text(StatusCode::NOT_FOUND, "Invalid URL path".to_owned());
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    h.insert("content-type", hv("application/json"));
    h.insert("x-nomad-index", hv(&s.index.to_string()));
    h.insert("x-nomad-lastcontact", hv("0"));
    h.insert("x-nomad-knownleader", hv("true"));
    if let Some(next) = next {
        h.insert("x-nomad-nexttoken", hv(&next));
    }
    resp
}

/// Why the agent refuses a request before looking at it, if it does.
fn refuse(s: &State, token: Option<&str>, region: Option<&String>) -> Option<(StatusCode, String)> {
    if let Some(status) = s.fail {
        return Some((status, "rpc error: No cluster leader".to_owned()));
    }
    match (&s.token, token) {
        (Some(_), None) => return Some((StatusCode::FORBIDDEN, "Permission denied".to_owned())),
        (Some(want), Some(got)) if want != got => {
            return Some((StatusCode::FORBIDDEN, "ACL token not found".to_owned()));
        }
        _ => {}
    }
    match region {
        Some(r) if *r != s.region => Some((
            StatusCode::INTERNAL_SERVER_ERROR,
            "No path to region".to_owned(),
        )),
        _ => None,
    }
}

/// `/v1/services`: one entry per namespace, its services with the union of their tags.
fn services<'a>(regs: impl Iterator<Item = &'a Registration>) -> String {
    let mut by_ns: BTreeMap<&str, BTreeMap<&str, BTreeSet<&str>>> = BTreeMap::new();
    for r in regs {
        let tags = by_ns
            .entry(&r.namespace)
            .or_default()
            .entry(&r.service_name)
            .or_default();
        tags.extend(r.tags.iter().map(String::as_str));
    }
    let list: Vec<serde_json::Value> = by_ns
        .into_iter()
        .map(|(ns, svcs)| {
            let svcs: Vec<_> = svcs
                .into_iter()
                .map(|(name, tags)| serde_json::json!({"ServiceName": name, "Tags": tags}))
                .collect();
            serde_json::json!({"Namespace": ns, "Services": svcs})
        })
        .collect();
    serde_json::to_string(&list).expect("json")
}

/// `/v1/service/:name`, sorted by ID, paged by `per_page` from `next_token` (`<namespace>.<ID>`,
/// as Nomad's paginator spells it).
fn page(
    mut regs: Vec<&Registration>,
    query: &BTreeMap<String, String>,
) -> (String, Option<String>) {
    let token = |r: &Registration| format!("{}.{}", r.namespace, r.id);
    regs.sort_by_key(|r| token(r));
    if let Some(from) = query.get("next_token") {
        regs.retain(|r| token(r) >= *from);
    }
    let per_page = query
        .get("per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .filter(|p| *p > 0);
    let next = match per_page {
        Some(n) if regs.len() > n => {
            let next = token(regs[n]);
            regs.truncate(n);
            Some(next)
        }
        _ => None,
    };
    (serde_json::to_string(&regs).expect("json"), next)
}

fn hv(s: &str) -> hyper::header::HeaderValue {
    hyper::header::HeaderValue::from_str(s).expect("a header value")
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp
}
