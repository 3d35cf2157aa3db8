//! wrk (HTTP/1.1) and h2load (h2c) as closed-loop load, pinned to the client CPU, their output
//! parsed.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use crate::procs::{CPU_CLIENT, can_pin};

/// What a tool reported.
#[derive(Debug, Clone, Default)]
pub struct ToolResult {
    pub rps: f64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// Responses h2load saw to the end, and the bytes of DATA they carried (h2load only).
    pub done: u64,
    pub data_bytes: Option<u64>,
}

/// The request h2load repeats: `GET /`, or a POST of a file with extra headers (gRPC).
#[derive(Debug, Clone, Copy)]
pub struct H2Request<'a> {
    pub path: &'a str,
    pub body: Option<&'a Path>,
    pub headers: &'a [&'a str],
}

impl H2Request<'static> {
    pub const GET: Self = Self {
        path: "/",
        body: None,
        headers: &[],
    };
}

async fn run_pinned(program: &Path, args: &[String]) -> anyhow::Result<String> {
    let mut cmd = if can_pin(CPU_CLIENT) {
        let mut c = tokio::process::Command::new("taskset");
        c.arg("-c").arg(CPU_CLIENT.to_string()).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    };
    let out = cmd
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("run {}", program.display()))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(out.status.success(), "{} failed: {text}", program.display());
    Ok(text)
}

/// `wrk -t1 -c<connections> -d<secs>s http://addr/`.
pub async fn wrk(
    wrk: &Path,
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<ToolResult> {
    let args = vec![
        "-t1".to_owned(),
        format!("-c{connections}"),
        format!("-d{}s", duration.as_secs().max(1)),
        format!("http://{addr}/"),
    ];
    let text = run_pinned(wrk, &args).await?;
    let rps = number_after(&text, "Requests/sec:").context("no Requests/sec in wrk's output")?;
    let mut errors = 0;
    let mut first_error = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Non-2xx or 3xx responses:") {
            errors += v.trim().parse::<u64>().unwrap_or(0);
            first_error.get_or_insert_with(|| line.to_owned());
        }
        if let Some(v) = line.strip_prefix("Socket errors:") {
            let n: u64 = v
                .split(',')
                .filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok())
                .sum();
            if n > 0 {
                errors += n;
                first_error.get_or_insert_with(|| line.to_owned());
            }
        }
    }
    Ok(ToolResult {
        rps,
        errors,
        first_error,
        ..ToolResult::default()
    })
}

/// `h2load -c<connections> -m<streams> -D<ms>ms --warm-up-time=<ms>ms [-d body] [-H header]…
/// http://addr/path` (h2c).
pub async fn h2load(
    h2load: &Path,
    addr: SocketAddr,
    request: H2Request<'_>,
    connections: usize,
    streams: usize,
    duration: Duration,
    warmup: Duration,
) -> anyhow::Result<ToolResult> {
    let mut args = vec![
        format!("-c{connections}"),
        format!("-m{streams}"),
        "-t1".to_owned(),
        format!("-D{}ms", duration.as_millis().max(1)),
    ];
    if !warmup.is_zero() {
        args.push(format!("--warm-up-time={}ms", warmup.as_millis().max(1)));
    }
    if let Some(body) = request.body {
        args.push(format!("--data={}", body.display()));
    }
    args.extend(request.headers.iter().map(|h| format!("--header={h}")));
    args.push(format!("http://{addr}{}", request.path));
    let text = run_pinned(h2load, &args).await?;
    parse_h2load(&text)
}

/// h2load's summary: requests/s, the requests that did not succeed, DATA bytes received.
fn parse_h2load(text: &str) -> anyhow::Result<ToolResult> {
    // "finished in 10.00s, 81234.50 req/s, 3.10MB/s"
    let rps = text
        .lines()
        .find(|l| l.starts_with("finished in"))
        .and_then(|l| l.split(',').nth(1))
        .and_then(|p| p.split_whitespace().next()?.parse().ok())
        .context("no req/s in h2load's output")?;
    // "requests: 100 total, 100 started, 100 done, 100 succeeded, 0 failed, 0 errored, 0 timeout"
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or("");
    let count = |what: &str| -> u64 {
        line.split(',')
            .find(|p| p.trim().ends_with(what))
            .and_then(|p| p.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let succeeded = count("succeeded");
    let errors = count("failed") + count("errored") + count("timeout");
    let errors = if succeeded == 0 {
        errors.max(1)
    } else {
        errors
    };
    // "traffic: 21.60MB (22647256) total, 1.65MB (1726024) headers (…), 14.19MB (14881368) data"
    let data_bytes = text
        .lines()
        .find(|l| l.starts_with("traffic:"))
        .and_then(|l| l.split(',').find(|p| p.trim_end().ends_with(" data")))
        .and_then(|p| p.split_once('(')?.1.split_once(')')?.0.parse().ok());
    Ok(ToolResult {
        rps,
        errors,
        first_error: (errors > 0).then(|| line.to_owned()),
        done: count("done"),
        data_bytes,
    })
}

fn number_after(text: &str, key: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h2load_summary_is_parsed() {
        let text = "finished in 2.00s, 107836.00 req/s, 10.80MB/s\n\
            requests: 215672 total, 215736 started, 215672 done, 215670 succeeded, 2 failed, \
            0 errored, 0 timeout\n\
            status codes: 215670 2xx, 0 3xx, 0 4xx, 2 5xx\n\
            traffic: 21.60MB (22647256) total, 1.65MB (1726024) headers (space savings \
            90.80%), 14.19MB (14881368) data\n";
        let r = parse_h2load(text).unwrap_or_default();
        assert_eq!(r.rps, 107_836.0);
        assert_eq!(
            (r.done, r.errors, r.data_bytes),
            (215_672, 2, Some(14_881_368))
        );
        assert!(r.first_error.is_some_and(|l| l.contains("2 failed")));
        assert!(parse_h2load("nothing").is_err());
    }
}
