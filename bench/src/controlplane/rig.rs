//! The `rig` processes the control-plane benchmarks start, and the small keep-alive HTTP/1.1
//! client that reads Pilot's debug port and sends traffic through a proxy.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode, header};
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::procs::free_addr;

/// How often readiness is polled while a process starts.
const READY_POLL: Duration = Duration::from_millis(20);
/// Longest a request to a local process may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of a process's log an error quotes.
const LOG_TAIL_BYTES: usize = 2_000;

/// A child process of the benchmark, killed when dropped.
#[derive(Debug)]
pub(crate) struct Proc {
    name: String,
    child: tokio::process::Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `rig <args>` with stdout and stderr going to `<dir>/<name>.log`.
    pub(crate) fn spawn(
        rig: &Path,
        args: &[String],
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone()?;
        let child = tokio::process::Command::new(rig)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} {}", rig.display(), args.join(" ")))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// Fails, quoting the end of the log, if the process has exited.
    pub(crate) fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); end of {}:\n{}",
                self.name,
                self.log.display(),
                log_tail(&self.log)
            );
        }
        Ok(())
    }

    /// Resident memory (`VmRSS`) and its peak (`VmHWM`), in KiB.
    pub(crate) fn memory_kb(&self) -> anyhow::Result<(u64, u64)> {
        let pid = self.child.id().context("process already reaped")?;
        let path = format!("/proc/{pid}/status");
        let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .with_context(|| format!("no {name} in {path}"))
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    /// Polls `GET path` on `addr` until it answers 200, failing if the process exits first.
    pub(crate) async fn wait_ready(
        &mut self,
        addr: SocketAddr,
        path: &str,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        let mut http = Http::new(addr);
        loop {
            self.check_alive()?;
            if let Ok(r) = http.get(path).await
                && r.status == StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready on http://{addr}{path} after {timeout:?}; end of {}:\n{}",
                    self.name,
                    self.log.display(),
                    log_tail(&self.log)
                );
            }
            tokio::time::sleep(READY_POLL).await;
        }
    }
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let start = text.len().saturating_sub(LOG_TAIL_BYTES);
    let start = (start..text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len());
    text[start..].to_owned()
}

/// `rig up` on a registry file, on free loopback ports.
#[derive(Debug)]
pub(crate) struct RigUp {
    pub proc: Proc,
    pub xds: SocketAddr,
    pub debug: SocketAddr,
}

impl RigUp {
    /// Starts the control plane and waits until its debug port answers `/ready`.
    pub(crate) async fn start(
        rig: &Path,
        registry: &Path,
        dir: &Path,
        startup: Duration,
    ) -> anyhow::Result<Self> {
        let xds = free_addr()?;
        let debug = free_addr()?;
        let args = [
            "up".to_owned(),
            "--plaintext".to_owned(),
            "--registry".to_owned(),
            registry.display().to_string(),
            "--xds-addr".to_owned(),
            xds.to_string(),
            "--debug-addr".to_owned(),
            debug.to_string(),
        ];
        let mut proc = Proc::spawn(rig, &args, dir, "rig-up")?;
        proc.wait_ready(debug, "/ready", startup).await?;
        Ok(Self { proc, xds, debug })
    }
}

/// Replaces `path` atomically (write beside it, then rename), as editors save.
pub(crate) fn write_atomically(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot rename to {}", path.display()))
}

/// One answer of [`Http::get`].
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One keep-alive HTTP/1.1 connection, reopened after any failure.
#[derive(Debug)]
pub(crate) struct Http {
    addr: SocketAddr,
    sender: Option<SendRequest<Empty<Bytes>>>,
}

impl Http {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self { addr, sender: None }
    }

    pub(crate) async fn get(&mut self, path: &str) -> anyhow::Result<HttpResponse> {
        let result = tokio::time::timeout(REQUEST_TIMEOUT, self.try_get(path)).await;
        match result {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.sender = None;
                Err(e)
            }
            Err(_) => {
                self.sender = None;
                bail!("GET http://{}{path} timed out", self.addr)
            }
        }
    }

    async fn try_get(&mut self, path: &str) -> anyhow::Result<HttpResponse> {
        if self.sender.as_ref().is_none_or(SendRequest::is_closed) {
            let stream = tokio::net::TcpStream::connect(self.addr).await?;
            stream.set_nodelay(true)?;
            let (sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        let sender = self.sender.as_mut().context("no connection")?;
        sender.ready().await?;
        let req = Request::get(path)
            .header(header::HOST, self.addr.to_string())
            .body(Empty::new())?;
        let resp = sender.send_request(req).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(HttpResponse {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}
