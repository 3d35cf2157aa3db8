//! Watches: the backlog from `?resourceVersion=` (or a 410 Gone when it is too old), then every
//! change, bookmark, expiry or end the fake signals, as newline-delimited JSON events.

use std::collections::BTreeMap;
use std::sync::MutexGuard;

use bytes::Bytes;
use hyper::Response;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::server::{FakeBody, respond};
use super::{Kind, Shared, Signal, State, status};

/// A watch from `?resourceVersion=` (0 or none: the current objects as `ADDED` first).
pub(super) fn watch(
    shared: &Shared,
    state: MutexGuard<'_, State>,
    kind: Kind,
    items: Vec<Value>,
    query: &BTreeMap<String, String>,
    matches: impl Fn(&Value) -> bool + Send + 'static,
) -> Response<FakeBody> {
    let from = query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let bookmarks = query.get("allowWatchBookmarks").map(String::as_str) == Some("true");
    let mut ends = false;
    let backlog: Vec<Bytes> = if from == 0 {
        items.iter().map(|o| line("ADDED", o)).collect()
    } else if from < state.oldest {
        let msg = format!("too old resource version: {from} ({})", state.oldest);
        let gone = status(410, "Expired", &msg);
        if state.gone_as_http {
            return respond(410, &gone);
        }
        ends = true;
        vec![line("ERROR", &gone)]
    } else {
        let newer = state.history.iter().filter(|c| c.rv > from);
        newer
            .filter(|c| c.kind == kind && matches(&c.object))
            .map(|c| line(c.event, &c.object))
            .collect()
    };
    // subscribed under the lock, so no change falls between the backlog and the stream
    let signals = shared.signals.subscribe();
    drop(state);
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(forward(
        backlog, ends, signals, tx, kind, bookmarks, matches,
    ));
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(FakeBody::Stream(rx))
        .expect("response")
}

async fn forward(
    backlog: Vec<Bytes>,
    ends: bool,
    mut signals: broadcast::Receiver<Signal>,
    tx: mpsc::Sender<Bytes>,
    kind: Kind,
    bookmarks: bool,
    matches: impl Fn(&Value) -> bool,
) {
    for l in backlog {
        if tx.send(l).await.is_err() {
            return;
        }
    }
    if ends {
        return;
    }
    loop {
        let signal = tokio::select! {
            s = signals.recv() => s,
            () = tx.closed() => return,
        };
        let out = match signal {
            Ok(Signal::Change(c)) if c.kind == kind && matches(&c.object) => {
                line(c.event, &c.object)
            }
            Ok(Signal::Bookmark(rv)) if bookmarks => line(
                "BOOKMARK",
                &json!({
                "kind": kind.name(), "apiVersion": kind.api_version(),
                "metadata": { "resourceVersion": rv.to_string() } }),
            ),
            Ok(Signal::Expire) => {
                let _ = tx
                    .send(line(
                        "ERROR",
                        &status(410, "Expired", "too old resource version"),
                    ))
                    .await;
                return;
            }
            Ok(Signal::End) | Err(_) => return,
            Ok(_) => continue,
        };
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

fn line(event: &str, object: &Value) -> Bytes {
    let mut text = json!({ "type": event, "object": object }).to_string();
    text.push('\n');
    Bytes::from(text)
}
