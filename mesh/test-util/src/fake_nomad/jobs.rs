//! The jobs side of the fake: `POST /v1/jobs`, `POST /v1/job/:id/plan`, `GET /v1/job/:id`,
//! `GET /v1/evaluation/:id` and `GET /v1/evaluation/:id/allocations`, with the shapes of
//! Nomad's API docs (`api-docs/jobs.mdx`, `evaluations.mdx`) and its plain-text errors.
//!
//! Scheduling is a step per read: an evaluation answers `pending` for
//! [`FakeNomad::set_eval_polls`] reads and is then placed (or fails, with
//! [`FakeNomad::fail_scheduling`]); its allocations answer `pending` for
//! [`FakeNomad::set_alloc_polls`] reads of `/allocations` and then `running`. Every step moves
//! the global index, so blocking queries return at once while something is happening.

use std::collections::BTreeMap;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::{FakeNomad, State};
use crate::fake_http::blocking_wait;

mod diff;
mod sched;
mod validate;

/// A body the fake received on a jobs endpoint, for assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// The jobs, evaluations and allocations of the fake, and how it schedules.
#[derive(Debug)]
pub(super) struct Jobs {
    /// Keyed by (namespace, job ID).
    jobs: BTreeMap<(String, String), StoredJob>,
    evals: BTreeMap<String, sched::FakeEval>,
    /// Allocation JSON by ID.
    allocs: BTreeMap<String, Value>,
    next_id: u64,
    eval_polls: u32,
    alloc_polls: u32,
    fail_scheduling: bool,
    submitted: Vec<Submitted>,
}

#[derive(Debug, Clone)]
struct StoredJob {
    job: Value,
    modify_index: u64,
}

impl Default for Jobs {
    fn default() -> Self {
        Self {
            jobs: BTreeMap::new(),
            evals: BTreeMap::new(),
            allocs: BTreeMap::new(),
            next_id: 0,
            eval_polls: 1,
            alloc_polls: 1,
            fail_scheduling: false,
            submitted: Vec::new(),
        }
    }
}

impl FakeNomad {
    /// How many reads of a new evaluation answer `pending` before it is scheduled (default 1;
    /// 0 schedules it during the register call).
    pub fn set_eval_polls(&self, reads: u32) {
        self.state.send_modify(|s| s.jobs.eval_polls = reads);
    }

    /// How many reads of an evaluation's allocations show them `pending` before they run
    /// (default 1; 0 creates them running).
    pub fn set_alloc_polls(&self, reads: u32) {
        self.state.send_modify(|s| s.jobs.alloc_polls = reads);
    }

    /// Makes scheduling fail: evaluations complete with `FailedTGAllocs` (memory exhausted on
    /// the one node) and a blocked evaluation; plans report the same failure.
    pub fn fail_scheduling(&self, fail: bool) {
        self.state.send_modify(|s| s.jobs.fail_scheduling = fail);
    }

    /// The stored job `id` in `namespace`, as registered.
    pub fn job(&self, namespace: &str, id: &str) -> Option<Value> {
        let s = self.state.borrow();
        let key = (namespace.to_owned(), id.to_owned());
        s.jobs.jobs.get(&key).map(|j| j.job.clone())
    }

    /// Every body received on `POST /v1/jobs` and `POST /v1/job/:id/plan`.
    pub fn submitted(&self) -> Vec<Submitted> {
        self.state.borrow().jobs.submitted.clone()
    }
}

/// Whether `path` is one of the jobs endpoints.
pub(super) fn serves(path: &str) -> bool {
    path == "/v1/jobs" || path.starts_with("/v1/job/") || path.starts_with("/v1/evaluation/")
}

/// Answers a jobs request (ACLs, faults and regions were checked by the caller).
pub(super) async fn handle(
    state: &watch::Sender<State>,
    method: &Method,
    path: &str,
    query: &BTreeMap<String, String>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let namespace = query.get("namespace").map_or("default", String::as_str);
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    let mut answer = Err((StatusCode::NOT_FOUND, "Invalid URL path".to_owned()));
    state.send_if_modified(|s| {
        let before = s.index;
        answer = match (method, segments.as_slice()) {
            (&Method::POST | &Method::PUT, ["jobs"]) => register(s, namespace, path, body),
            (&Method::POST | &Method::PUT, ["job", id, "plan"]) => {
                plan(s, namespace, id, path, body)
            }
            (&Method::GET, ["job", id]) => {
                let key = (namespace.to_owned(), (*id).to_owned());
                s.jobs
                    .jobs
                    .get(&key)
                    .map(|j| j.job.clone())
                    .ok_or((StatusCode::NOT_FOUND, "job not found".to_owned()))
            }
            (&Method::GET, ["evaluation", id]) => sched::read_eval(s, id),
            (&Method::GET, ["evaluation", id, "allocations"]) => sched::read_allocs(s, id),
            (_, [..]) => Err((StatusCode::METHOD_NOT_ALLOWED, "Invalid method".to_owned())),
        };
        s.index != before
    });
    if method == Method::GET
        && let Some(index) = query.get("index").and_then(|i| i.parse::<u64>().ok())
        && index > 0
    {
        let wait = blocking_wait(query.get("wait").map(String::as_str));
        let mut rx = state.subscribe();
        let _ = tokio::time::timeout(wait, rx.wait_for(|s| s.index > index)).await;
        // answer with the state after the wait, as a blocking query does
        if let (&Method::GET, ["evaluation", id, rest @ ..]) = (method, segments.as_slice()) {
            let s = state.borrow();
            answer = match rest {
                [] => sched::peek_eval(&s, id),
                _ => Ok(sched::allocs_of(&s, id)),
            };
        }
    }
    let index = state.borrow().index;
    match answer {
        Ok(value) => json_response(&value, index),
        Err((status, text)) => text_response(status, text),
    }
}

type Answer = Result<Value, (StatusCode, String)>;

fn register(s: &mut State, namespace: &str, path: &str, body: &[u8]) -> Answer {
    let (whole, job) = validate::submission(body, None)?;
    record(s, "POST", path, &whole);
    let namespace = job_namespace(&job, namespace);
    let id = job["ID"].as_str().unwrap_or_default().to_owned();
    let key = (namespace.clone(), id.clone());
    let current = s.jobs.jobs.get(&key).map_or(0, |j| j.modify_index);
    if whole["EnforceIndex"].as_bool() == Some(true) {
        let want = whole["JobModifyIndex"].as_u64().unwrap_or(0);
        if want != current {
            let why = match current {
                0 => "job does not exist".to_owned(),
                n => format!("job exists with conflicting job modify index: {n}"),
            };
            return Err((
                StatusCode::BAD_REQUEST,
                format!("Enforcing job modify index {want}: {why}"),
            ));
        }
    }
    s.index += 1;
    let modify_index = s.index;
    let mut job = job;
    job["Namespace"] = json!(namespace);
    job["JobModifyIndex"] = json!(modify_index);
    s.jobs.jobs.insert(key, StoredJob { job, modify_index });
    let eval_id = sched::create_eval(s, &namespace, &id);
    Ok(json!({
        "EvalID": eval_id,
        "EvalCreateIndex": modify_index,
        "JobModifyIndex": modify_index,
        "Warnings": "",
        "Index": modify_index,
        "LastContact": 0,
        "KnownLeader": false,
    }))
}

fn plan(s: &mut State, namespace: &str, id: &str, path: &str, body: &[u8]) -> Answer {
    let (whole, job) = validate::submission(body, Some(id))?;
    record(s, "POST", path, &whole);
    let namespace = job_namespace(&job, namespace);
    let stored = s.jobs.jobs.get(&(namespace, id.to_owned()));
    let (diff, updates) = diff::plan(stored.map(|j| &j.job), &job);
    let failed = match s.jobs.fail_scheduling {
        true => sched::failures(&job),
        false => json!(null),
    };
    Ok(json!({
        "Diff": if whole["Diff"].as_bool() == Some(true) { diff } else { json!(null) },
        "Annotations": {"DesiredTGUpdates": updates, "PreemptedAllocs": null},
        "FailedTGAllocs": failed,
        "JobModifyIndex": stored.map_or(0, |j| j.modify_index),
        "CreatedEvals": null,
        "Warnings": "",
        "Index": s.index,
    }))
}

fn record(s: &mut State, method: &str, path: &str, body: &Value) {
    s.jobs.submitted.push(Submitted {
        method: method.to_owned(),
        path: path.to_owned(),
        body: body.clone(),
    });
}

/// The job's own `Namespace` when set, else the request's, as Nomad's agent does.
fn job_namespace(job: &Value, query_namespace: &str) -> String {
    match job["Namespace"].as_str() {
        Some(ns) if !ns.is_empty() => ns.to_owned(),
        _ => query_namespace.to_owned(),
    }
}

fn json_response(value: &Value, index: u64) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(value).expect("json");
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    let h = resp.headers_mut();
    let hv = |s: &str| hyper::header::HeaderValue::from_str(s).expect("a header value");
    h.insert("content-type", hv("application/json"));
    h.insert("x-nomad-index", hv(&index.to_string()));
    h.insert("x-nomad-lastcontact", hv("0"));
    h.insert("x-nomad-knownleader", hv("true"));
    resp
}

fn text_response(status: StatusCode, text: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp
}
