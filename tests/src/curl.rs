//! curl as the client from outside the mesh: real TLS name checks against a CA file.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

/// What curl printed and how it ended.
#[derive(Debug)]
pub struct Curl {
    pub ok: bool,
    pub stdout: String,
    pub stderr: String,
}

/// `curl https://<host>:<port>/` resolved to `addr`, trusting only `bundle`; `extra` flags.
pub async fn curl(
    bundle: &Path,
    host: &str,
    addr: SocketAddr,
    extra: &[&str],
) -> anyhow::Result<Curl> {
    let port = addr.port();
    let resolve = format!("{host}:{port}:{}", addr.ip());
    let url = format!("https://{host}:{port}/");
    let out = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "5", "--cacert"])
        .arg(bundle)
        .args(["--resolve", &resolve])
        .args([
            "--write-out",
            "\n%{http_code} %{http_version}",
            "--dump-header",
            "-",
        ])
        .args(extra)
        .arg(&url)
        .output()
        .await
        .context("running curl (scripts/setup installs it)")?;
    Ok(Curl {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

impl Curl {
    /// The last line: `<status> <http version>`.
    pub fn status_line(&self) -> &str {
        self.stdout.lines().last().unwrap_or_default()
    }

    pub fn ensure(&self, status_line: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.ok && self.status_line() == status_line,
            "expected {status_line:?}, got {:?}: {}{}",
            self.status_line(),
            self.stdout,
            self.stderr
        );
        Ok(())
    }
}
