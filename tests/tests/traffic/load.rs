//! Many requests at once over kept-alive HTTP/1.1 connections, each answer recorded.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// The longest one request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// What one request got.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// 0 when there was no answer (see `error`).
    pub status: u16,
    /// The answer's `x-served-by`; empty when the mesh answered itself.
    pub served_by: String,
    pub elapsed: Duration,
    pub error: Option<String>,
}

/// What a batch of requests got.
#[derive(Debug, Clone)]
pub struct Outcomes(pub Vec<Outcome>);

impl Outcomes {
    /// How many answers came from each instance (`""`: no `x-served-by`).
    pub fn by_instance(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for o in &self.0 {
            *counts.entry(o.served_by.clone()).or_default() += 1;
        }
        counts
    }

    /// How many answers had `status`.
    pub fn with_status(&self, status: u16) -> usize {
        self.0.iter().filter(|o| o.status == status).count()
    }

    /// How many answers came from `instance`.
    pub fn served_by(&self, instance: &str) -> usize {
        self.0.iter().filter(|o| o.served_by == instance).count()
    }

    /// Fails with the first few if any request had no answer.
    pub fn no_errors(&self) -> anyhow::Result<()> {
        let errors: Vec<&str> = self.0.iter().filter_map(|o| o.error.as_deref()).collect();
        anyhow::ensure!(
            errors.is_empty(),
            "{} of {} requests had no answer, e.g. {:?}",
            errors.len(),
            self.0.len(),
            &errors[..errors.len().min(3)]
        );
        Ok(())
    }

    /// `{status: count}`, for messages.
    pub fn statuses(&self) -> BTreeMap<u16, usize> {
        let mut counts = BTreeMap::new();
        for o in &self.0 {
            *counts.entry(o.status).or_default() += 1;
        }
        counts
    }
}

/// Sends `n` requests `method path` with `headers` to `addr` from `concurrency` workers, each
/// over one kept-alive connection (a new one when the previous closed).
pub async fn send(
    addr: SocketAddr,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
    concurrency: usize,
) -> Outcomes {
    let next = Arc::new(AtomicUsize::new(0));
    let headers: Arc<Vec<(String, String)>> = Arc::new(
        headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    );
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (next, headers, method, path) = (
            Arc::clone(&next),
            Arc::clone(&headers),
            method.clone(),
            path.to_owned(),
        );
        workers.push(tokio::spawn(async move {
            let mut sender: Option<http1::SendRequest<Empty<Bytes>>> = None;
            let mut outcomes = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let started = Instant::now();
                let result = tokio::time::timeout(
                    REQUEST_TIMEOUT,
                    once(addr, &mut sender, &method, &path, &headers),
                )
                .await
                .unwrap_or_else(|_| Err(format!("no answer within {REQUEST_TIMEOUT:?}")));
                let elapsed = started.elapsed();
                outcomes.push(match result {
                    Ok((status, served_by)) => Outcome {
                        status,
                        served_by,
                        elapsed,
                        error: None,
                    },
                    Err(error) => {
                        sender = None;
                        Outcome {
                            status: 0,
                            served_by: String::new(),
                            elapsed,
                            error: Some(error),
                        }
                    }
                });
            }
            outcomes
        }));
    }
    let mut all = Vec::with_capacity(n);
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    Outcomes(all)
}

async fn once(
    addr: SocketAddr,
    sender: &mut Option<http1::SendRequest<Empty<Bytes>>>,
    method: &Method,
    path: &str,
    headers: &[(String, String)],
) -> Result<(u16, String), String> {
    if sender.as_ref().is_none_or(http1::SendRequest::is_closed) {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect to {addr}: {e}"))?;
        let (s, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {addr}: {e}"))?;
        tokio::spawn(conn);
        *sender = Some(s);
    }
    let Some(s) = sender.as_mut() else {
        return Err("no connection".to_owned());
    };
    s.ready().await.map_err(|e| format!("connection: {e}"))?;
    let mut builder = Request::builder()
        .method(method.clone())
        .uri(path)
        .header(http::header::HOST, addr.to_string());
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let req = builder
        .body(Empty::new())
        .map_err(|e| format!("request: {e}"))?;
    let response = s
        .send_request(req)
        .await
        .map_err(|e| format!("{method} {path}: {e}"))?;
    let status = response.status().as_u16();
    let served_by = response
        .headers()
        .get("x-served-by")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body of {method} {path}: {e}"))?;
    Ok((status, served_by))
}
