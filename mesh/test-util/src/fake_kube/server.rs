//! The HTTP side of the fake: accepting connections, routing a request to a kind and a
//! namespace, filtering by label selector, and answering lists (watches go to `watch`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::watch::watch;
use super::{Kind, Shared, status};
use crate::fake_http::decode;

pub(super) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    // dropped with this task, which aborts every connection
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let shared = Arc::clone(&shared);
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(handle(&shared, &req)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn handle(shared: &Arc<Shared>, req: &Request<Incoming>) -> Response<FakeBody> {
    let path = req.uri().path().to_owned();
    let query = parse_query(req.uri().query().unwrap_or(""));
    let mut state = shared.state();
    state
        .requests
        .push(format!("{} {}", req.method(), req.uri()));
    if let Some((code, status)) = &state.failure {
        return respond(*code, status);
    }
    let Some((kind, namespace)) = route(&path) else {
        let msg = format!("the server could not find the requested resource ({path})");
        return respond(404, &status(404, "NotFound", &msg));
    };
    let selector = query.get("labelSelector").cloned().unwrap_or_default();
    let matches = move |object: &Value| {
        object["metadata"]["namespace"]
            .as_str()
            .is_some_and(|ns| namespace.as_deref().is_none_or(|n| n == ns))
            && selects(&selector, &object["metadata"]["labels"])
    };
    let items: Vec<Value> = state
        .objects
        .iter()
        .filter(|((k, _, _), o)| *k == kind && matches(o))
        .map(|(_, o)| o.clone())
        .collect();
    if query.get("watch").map(String::as_str) != Some("true") {
        let list = json!({ "kind": format!("{}List", kind.name()), "apiVersion": kind.api_version(),
                           "metadata": { "resourceVersion": state.rv.to_string() }, "items": items });
        return respond(200, &list);
    }
    watch(shared, state, kind, items, &query, matches)
}

pub(super) fn route(path: &str) -> Option<(Kind, Option<String>)> {
    let (kind, rest) = if let Some(rest) = path.strip_prefix("/api/v1/") {
        (Kind::Service, rest)
    } else {
        (
            Kind::EndpointSlice,
            path.strip_prefix("/apis/discovery.k8s.io/v1/")?,
        )
    };
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        [p] if *p == kind.plural() => Some((kind, None)),
        ["namespaces", ns, p] if *p == kind.plural() => Some((kind, Some((*ns).to_owned()))),
        _ => None,
    }
}

/// `key` (exists) and `key=value` terms, comma-separated, all of which must hold.
pub(super) fn selects(selector: &str, labels: &Value) -> bool {
    selector
        .split(',')
        .filter(|t| !t.is_empty())
        .all(|term| match term.split_once('=') {
            Some((k, v)) => labels[k.trim_end_matches('=')].as_str() == Some(v),
            None => labels.get(term).is_some(),
        })
}

pub(super) fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

pub(super) fn respond(code: u16, body: &Value) -> Response<FakeBody> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(FakeBody::Full(Some(Bytes::from(body.to_string()))))
        .expect("response")
}

/// A whole body, or the chunks of a watch as they come.
#[derive(Debug)]
pub(super) enum FakeBody {
    Full(Option<Bytes>),
    Stream(mpsc::Receiver<Bytes>),
}

impl Body for FakeBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Self::Full(data) => Poll::Ready(data.take().map(|d| Ok(Frame::data(d)))),
            Self::Stream(rx) => rx.poll_recv(cx).map(|d| d.map(|d| Ok(Frame::data(d)))),
        }
    }
}
