//! Real `rig` processes in one temporary folder: `rig up`, example apps and `rig proxy`
//! sidecars, each killed on drop, every log printed when the test did not pass.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::Context;
use http::Method;
use tempfile::TempDir;

use crate::{Proc, eventually, free_port, request, rig_binary, rig_command};

/// Time for processes to start and the first configuration to arrive.
pub const STARTUP: Duration = Duration::from_secs(15);
/// Longest a one-shot command (`rig status`, `rig validate`) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

/// The processes of one test and the folder of their logs (and of any file the test writes
/// there). Every process is killed on drop, and unless [`RigStack::pass`] was called, every
/// log and every file named by [`RigStack::show_on_failure`] is printed first.
#[derive(Debug)]
pub struct RigStack {
    pub rig: PathBuf,
    /// Pilot's xDS address, fixed at creation (so a restart of `rig up` reuses it).
    pub xds: SocketAddr,
    /// Pilot's debug address.
    pub debug: SocketAddr,
    control: Option<Proc>,
    procs: Vec<Proc>,
    /// Processes stopped on purpose: no longer checked, still logged.
    stopped: Vec<Proc>,
    /// Proxy id → admin address.
    admins: Vec<(String, SocketAddr)>,
    shown: Vec<PathBuf>,
    passed: bool,
    // last, so the folder outlives the processes writing into it
    dir: TempDir,
}

impl RigStack {
    /// A folder named `<prefix>…` for logs and files; nothing runs yet.
    pub async fn new(prefix: &str) -> anyhow::Result<Self> {
        let rig = tokio::task::spawn_blocking(rig_binary).await??;
        let dir = tempfile::Builder::new().prefix(prefix).tempdir()?;
        Ok(Self {
            rig,
            xds: loopback(free_port()),
            debug: loopback(free_port()),
            control: None,
            procs: Vec::new(),
            stopped: Vec::new(),
            admins: Vec::new(),
            shown: Vec::new(),
            passed: false,
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `rig up --plaintext` on this stack's Pilot ports, with `args` (`--registry …`) added.
    pub fn start_control(&mut self, args: &[&str]) -> anyhow::Result<()> {
        let (xds, debug) = (self.xds.to_string(), self.debug.to_string());
        let mut all = vec![
            "up",
            "--plaintext",
            "--xds-addr",
            &xds,
            "--debug-addr",
            &debug,
        ];
        all.extend_from_slice(args);
        self.control = Some(Proc::spawn(
            "rig-up",
            self.dir.path(),
            rig_command(&self.rig, &all),
        )?);
        Ok(())
    }

    /// SIGKILLs `rig up`.
    pub fn kill_control(&mut self) {
        if let Some(mut p) = self.control.take() {
            p.kill();
        }
    }

    /// What `rig up` logged so far (across restarts).
    pub fn control_log(&self) -> String {
        self.control.as_ref().map(Proc::log).unwrap_or_default()
    }

    /// Starts `rig args…` as the process `name` (its log is `<name>.log`).
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> anyhow::Result<()> {
        let proc = Proc::spawn(name, self.dir.path(), rig_command(&self.rig, args))?;
        self.procs.push(proc);
        Ok(())
    }

    /// Starts `rig example-app --kind http` as instance `instance` (version `v1`) of `service`
    /// on `listen`, as the process `<instance>-app`.
    pub fn spawn_http_app(
        &mut self,
        instance: &str,
        service: &str,
        listen: SocketAddr,
    ) -> anyhow::Result<()> {
        let listen = listen.to_string();
        let args = [
            "example-app",
            "--kind",
            "http",
            "--service",
            service,
            "--app-version",
            "v1",
            "--instance",
            instance,
            "--listen",
            &listen,
        ];
        self.spawn(&format!("{instance}-app"), &args)
    }

    /// SIGKILLs the process `name` (a proxy is no longer awaited by [`RigStack::wait_synced`]);
    /// its log is kept. False if no running process has that name.
    pub fn kill(&mut self, name: &str) -> bool {
        let Some(at) = self.procs.iter().position(|p| p.name() == name) else {
            return false;
        };
        let mut proc = self.procs.remove(at);
        proc.kill();
        if let Some(id) = name.strip_suffix("-proxy") {
            self.admins.retain(|(p, _)| p != id);
        }
        self.stopped.push(proc);
        true
    }

    /// Starts `rig proxy --id id` (the process `<id>-proxy`) against this stack's Pilot;
    /// returns its admin address.
    pub fn spawn_proxy(&mut self, id: &str) -> anyhow::Result<SocketAddr> {
        let admin = loopback(free_port());
        let (pilot, admin_arg) = (format!("http://{}", self.xds), admin.to_string());
        let args = [
            "proxy", "--id", id, "--pilot", &pilot, "--admin", &admin_arg,
        ];
        self.spawn(&format!("{id}-proxy"), &args)?;
        self.admins.push((id.to_owned(), admin));
        Ok(admin)
    }

    /// Starts `rig proxy --gateway ingress --id name` (the process `<name>-gateway`) against
    /// this stack's Pilot, its listeners on 127.0.0.1 (the ports of the `ingress-gateway`
    /// entry `name`); returns its admin address. Pilot knows it as
    /// `ingress-gateway~127.0.0.1~<name>`, which [`RigStack::wait_synced`] awaits.
    pub fn spawn_gateway(&mut self, name: &str) -> anyhow::Result<SocketAddr> {
        let admin = loopback(free_port());
        let (pilot, admin_arg) = (format!("http://{}", self.xds), admin.to_string());
        let args = [
            "proxy",
            "--gateway",
            "ingress",
            "--id",
            name,
            "--pilot",
            &pilot,
            "--admin",
            &admin_arg,
        ];
        self.spawn(&format!("{name}-gateway"), &args)?;
        self.admins
            .push((format!("ingress-gateway~127.0.0.1~{name}"), admin));
        Ok(admin)
    }

    /// Prints `path` (a file, or each file of a folder) with the logs if the test does not pass.
    pub fn show_on_failure(&mut self, path: &Path) {
        self.shown.push(path.to_owned());
    }

    /// Fails if any process (except those stopped on purpose) has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(c) = self.control.as_mut() {
            c.check_running()?;
        }
        self.procs.iter_mut().try_for_each(Proc::check_running)
    }

    /// Waits until every proxy's `/ready` answers 200 and Pilot shows each connected with CDS
    /// and LDS synced (except those in `unsynced`).
    pub async fn wait_synced(&mut self, unsynced: &[&str]) -> anyhow::Result<()> {
        eventually("every proxy ready and synced", STARTUP, async || {
            self.check_running()?;
            let admins = self
                .admins
                .iter()
                .filter(|(id, _)| !unsynced.contains(&id.as_str()));
            for (id, admin) in admins.clone() {
                let reply = request(*admin, Method::GET, "/ready", &[], "", false)
                    .await
                    .with_context(|| format!("{id}'s admin"))?;
                anyhow::ensure!(
                    reply.status == 200,
                    "{id} not ready: {} {}",
                    reply.status,
                    reply.body
                );
            }
            let syncz = self.syncz().await?;
            for (id, _) in admins {
                ensure_synced(&syncz, id)?;
            }
            Ok(())
        })
        .await
    }

    /// Pilot's `/debug/syncz`.
    pub async fn syncz(&self) -> anyhow::Result<serde_json::Value> {
        pilot_syncz(self.debug).await
    }

    /// `--citadel … --citadel-ca … --token-file …` for a proxy proving itself to the
    /// Citadel of `rig up --citadel-state <dir>/citadel` at `citadel` as `service`, with a
    /// bootstrap token written to `<dir>/<name>.token`.
    pub async fn bootstrap_identity(
        &self,
        citadel: SocketAddr,
        name: &str,
        service: &str,
    ) -> anyhow::Result<Vec<String>> {
        let state = self.dir().join("citadel");
        let out = self
            .rig(&[
                "citadel",
                "token",
                "create",
                "--state",
                &state.display().to_string(),
                "--service",
                service,
                "--ttl",
                "10m",
            ])
            .await?;
        anyhow::ensure!(out.status.success(), "token create: {out:?}");
        let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let file = self.dir().join(format!("{name}.token"));
        std::fs::write(&file, token)?;
        Ok(vec![
            "--citadel".to_owned(),
            citadel.to_string(),
            "--citadel-ca".to_owned(),
            state.join("trust-bundle.pem").display().to_string(),
            "--token-file".to_owned(),
            file.display().to_string(),
        ])
    }

    /// Runs `rig args…` to completion.
    pub async fn rig(&self, args: &[&str]) -> anyhow::Result<Output> {
        run(&self.rig, args, COMMAND_TIMEOUT).await
    }

    /// The test got to its end: the logs need not be printed.
    pub fn pass(mut self) {
        self.passed = true;
    }
}

impl Drop for RigStack {
    fn drop(&mut self) {
        if self.passed && !std::thread::panicking() {
            return;
        }
        let all = self.control.iter().chain(&self.procs).chain(&self.stopped);
        for p in all {
            eprintln!("===== {} (pid {}) =====\n{}", p.name(), p.id(), p.log());
        }
        for path in &self.shown {
            let files = match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
                    files.sort();
                    files
                }
                Err(_) => vec![path.clone()],
            };
            for file in files {
                let text = std::fs::read_to_string(&file)
                    .unwrap_or_else(|e| format!("(cannot read: {e})"));
                eprintln!("===== {} =====\n{text}", file.display());
            }
        }
    }
}

/// Pilot's `/debug/syncz`, from its debug address `debug`.
pub async fn pilot_syncz(debug: SocketAddr) -> anyhow::Result<serde_json::Value> {
    let reply = request(debug, Method::GET, "/debug/syncz", &[], "", false).await?;
    anyhow::ensure!(
        reply.status == 200,
        "/debug/syncz: {} {}",
        reply.status,
        reply.body
    );
    Ok(serde_json::from_str(&reply.body)?)
}

/// Fails unless Pilot's `/debug/syncz` (`syncz`) shows the proxy `id` connected, with CDS and
/// LDS sent and acknowledged.
pub fn ensure_synced(syncz: &serde_json::Value, id: &str) -> anyhow::Result<()> {
    let p = syncz["proxies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["proxy"] == id))
        .with_context(|| format!("pilot does not know {id}"))?;
    anyhow::ensure!(p["connected"] == true, "{id} not connected: {p}");
    for ty in ["CDS", "LDS"] {
        let t = &p["types"][ty];
        let synced = t["sent_version"].is_string()
            && t["sent_version"] == t["acked_version"]
            && t["nack"].is_null();
        anyhow::ensure!(synced, "{id} {ty} not synced: {t}");
    }
    Ok(())
}

/// `127.0.0.1:port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Runs `rig args…` to completion, killed after `timeout`.
async fn run(rig: &Path, args: &[&str], timeout: Duration) -> anyhow::Result<Output> {
    let mut cmd = tokio::process::Command::from(rig_command(rig, args));
    cmd.kill_on_drop(true);
    tokio::time::timeout(timeout, cmd.output())
        .await
        .with_context(|| format!("rig {args:?} still running after {timeout:?}"))?
        .with_context(|| format!("cannot run rig {args:?}"))
}
