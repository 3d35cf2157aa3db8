//! The `rig` binary and its child processes: found (or built) once, killed on drop, logged to files.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use anyhow::Context;

/// Set to a `rig` binary to test it instead of the workspace's own build.
const RIG_BINARY_ENV: &str = "RIG_TEST_BINARY";
/// How often [`Proc::wait_timeout`] looks whether the child has exited.
const EXIT_POLL: Duration = Duration::from_millis(20);
/// Environment variables `rig` reads as defaults for its flags: cleared so that the
/// developer's shell cannot change what a test runs.
const RIG_ENV: [&str; 6] = [
    "RIG_REGISTRY",
    "RIG_PILOT",
    "RIG_PROXY_ID",
    "RIG_ADMIN_ADDR",
    "RIG_PILOT_DEBUG",
    "RIG_LOG_FORMAT",
];

/// The `rig` binary beside this test executable (`target/<profile>/rig`), built with
/// `cargo build -p rigging-cli` first when it is missing or older than the test executable
/// or the CLI's sources. Built at most once per test process.
pub fn rig_binary() -> anyhow::Result<PathBuf> {
    static RIG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    RIG.get_or_init(|| find_or_build().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)
}

/// `rig args…` with a clean environment: no `RIG_*` defaults, `info` logs without colours.
pub fn rig_command(rig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(rig);
    cmd.args(args).stdin(Stdio::null()).env("NO_COLOR", "1");
    for var in RIG_ENV {
        cmd.env_remove(var);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    cmd
}

/// Removes ANSI escape sequences (`ESC [ … letter`), so logs can be searched as plain text.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A child process whose output goes to `<dir>/<name>.log`; killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with stdout and stderr appended to `<dir>/<name>.log`.
    pub fn spawn(name: &str, dir: &Path, mut cmd: Command) -> anyhow::Result<Self> {
        let log = dir.join(format!("{name}.log"));
        let file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .with_context(|| format!("cannot open {}", log.display()))?;
        let child = cmd
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("cannot start {name}: {cmd:?}"))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Everything the process wrote so far, without colour codes.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log)
            .map(|text| strip_ansi(&text))
            .unwrap_or_else(|e| format!("(cannot read {}: {e})", self.log.display()))
    }

    /// The exit status, if the process has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Fails, naming the process and showing its log, if it has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        match self.exited() {
            None => Ok(()),
            Some(status) => {
                anyhow::bail!("{} exited ({status}); its log:\n{}", self.name, self.log())
            }
        }
    }

    /// Asks the process to stop (SIGTERM, through `kill(1)`), as Ctrl-C would; it may clean up.
    pub fn terminate(&self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .context("cannot run kill")?;
        anyhow::ensure!(
            status.success(),
            "kill -TERM {} failed: {status}",
            self.name
        );
        Ok(())
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `timeout` for the process to exit on its own.
    pub async fn wait_timeout(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "{} still running after {timeout:?}",
                self.name
            );
            tokio::time::sleep(EXIT_POLL).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn find_or_build() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(RIG_BINARY_ENV) {
        return Ok(PathBuf::from(path));
    }
    let exe = std::env::current_exe().context("cannot find the test executable")?;
    // target/<profile>/deps/<test> → target/<profile>/rig
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the test executable is not in target/<profile>/deps")?;
    let rig = profile_dir.join(format!("rig{}", std::env::consts::EXE_SUFFIX));
    if is_stale(&rig, &exe) {
        build(profile_dir)?;
    }
    anyhow::ensure!(
        rig.exists(),
        "{} is missing after building rigging-cli",
        rig.display()
    );
    Ok(rig)
}

/// Missing, or older than the test executable (which links every library `rig` uses) or any
/// source of the CLI itself.
fn is_stale(rig: &Path, exe: &Path) -> bool {
    let Ok(built) = modified(rig) else {
        return true;
    };
    let cli_src = workspace_root().join("cli").join("src");
    let newest_source = std::fs::read_dir(&cli_src)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| modified(&entry.path()).ok())
        .max();
    modified(exe).is_ok_and(|t| t > built) || newest_source.is_some_and(|t| t > built)
}

fn modified(path: &Path) -> std::io::Result<SystemTime> {
    std::fs::metadata(path)?.modified()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default()
}

fn build(profile_dir: &Path) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", "rigging-cli", "--bin", "rig"])
        .current_dir(workspace_root());
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cmd.arg("--release");
    }
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}
