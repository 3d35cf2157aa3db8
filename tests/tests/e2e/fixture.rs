//! A mesh of real `rig` processes: `rig up` on a registry file, `rig example-app` instances of
//! `api` with their `rig proxy`, and `client-1`, whose proxy puts `api` on a local port.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use anyhow::Context;
use rigging_tests::{Proc, eventually, free_port, rig_binary, rig_command};
use tempfile::TempDir;

/// Time for processes to start and the first configuration to arrive.
pub const STARTUP: Duration = Duration::from_secs(15);
/// Longest a one-shot command (`rig status`, `rig validate`) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
pub const CLIENT_ID: &str = "client-1";

/// One instance of `api` as the registry declares it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub app: u16,
    pub sidecar: u16,
}

/// The running processes, their logs in a temporary folder; every process is killed on drop,
/// and unless [`Stack::pass`] was called, every log is printed first.
#[derive(Debug)]
pub struct Stack {
    pub rig: PathBuf,
    pub registry: PathBuf,
    pub xds: SocketAddr,
    pub debug: SocketAddr,
    /// Where `client-1` exposes `api`.
    pub client_api: SocketAddr,
    control: Option<Proc>,
    procs: Vec<Proc>,
    /// Proxy id → admin address.
    admins: Vec<(String, SocketAddr)>,
    client_inbound: u16,
    client_app: u16,
    passed: bool,
    // last, so the folder outlives the processes writing into it
    dir: TempDir,
}

impl Stack {
    /// The folder for logs and registry only; nothing runs yet.
    pub async fn new() -> anyhow::Result<Self> {
        let rig = tokio::task::spawn_blocking(rig_binary).await??;
        let dir = tempfile::Builder::new().prefix("rigging-e2e-").tempdir()?;
        let port = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
        Ok(Self {
            rig,
            registry: dir.path().join("registry.hcl"),
            xds: port(free_port()),
            debug: port(free_port()),
            client_api: port(free_port()),
            control: None,
            procs: Vec::new(),
            admins: Vec::new(),
            client_inbound: free_port(),
            client_app: free_port(),
            passed: false,
            dir,
        })
    }

    /// Starts a mesh whose registry lists `ids` (instances of `api`) and `client-1`, and waits
    /// until every proxy is ready and synced and each instance answered through `client-1`.
    pub async fn start(ids: &[&str]) -> anyhow::Result<(Self, Vec<Instance>)> {
        let mut stack = Self::new().await?;
        let mut instances = Vec::new();
        for id in ids {
            instances.push(stack.spawn_instance(id)?);
        }
        stack.write_registry(&stack.registry_text(&instances))?;
        stack.start_control()?;
        stack.spawn_proxy(CLIENT_ID)?;
        stack.wait_synced(&[]).await?;
        for i in &instances {
            eventually(&format!("{} answers", i.id), STARTUP, async || {
                let by = stack.served_by().await?;
                anyhow::ensure!(by == i.id, "served by {by}");
                Ok(())
            })
            .await?;
        }
        Ok((stack, instances))
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `rig up` on the registry file, Pilot's ports fixed at creation (so a restart reuses them).
    pub fn start_control(&mut self) -> anyhow::Result<()> {
        let (registry, xds, debug) = (
            self.registry.display().to_string(),
            self.xds.to_string(),
            self.debug.to_string(),
        );
        let args = [
            "up",
            "--plaintext",
            "--registry",
            &registry,
            "--xds-addr",
            &xds,
            "--debug-addr",
            &debug,
        ];
        self.control = Some(Proc::spawn(
            "rig-up",
            self.dir(),
            rig_command(&self.rig, &args),
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

    /// Starts `rig example-app` and `rig proxy` for a new instance of `api` (not yet in the registry).
    pub fn spawn_instance(&mut self, id: &str) -> anyhow::Result<Instance> {
        let instance = Instance {
            id: id.to_owned(),
            app: free_port(),
            sidecar: free_port(),
        };
        let listen = format!("127.0.0.1:{}", instance.app);
        let args = [
            "example-app",
            "--kind",
            "http",
            "--service",
            "api",
            "--app-version",
            "v1",
            "--instance",
            id,
            "--listen",
            &listen,
        ];
        let app = Proc::spawn(
            &format!("{id}-app"),
            self.dir(),
            rig_command(&self.rig, &args),
        )?;
        self.procs.push(app);
        self.spawn_proxy(id)?;
        Ok(instance)
    }

    /// Starts `rig proxy --id id` against this stack's Pilot.
    pub fn spawn_proxy(&mut self, id: &str) -> anyhow::Result<()> {
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let (pilot, admin_arg) = (format!("http://{}", self.xds), admin.to_string());
        let args = [
            "proxy", "--id", id, "--pilot", &pilot, "--admin", &admin_arg,
        ];
        let proxy = Proc::spawn(
            &format!("{id}-proxy"),
            self.dir(),
            rig_command(&self.rig, &args),
        )?;
        self.procs.push(proxy);
        self.admins.push((id.to_owned(), admin));
        Ok(())
    }

    /// The registry: `instances` of `api` (HTTP, round robin) and `client-1` calling `api`.
    pub fn registry_text(&self, instances: &[Instance]) -> String {
        let mut text = String::from(
            "service \"api\" {\n  protocol      = \"http\"\n  load_balancer = \"round_robin\"\n",
        );
        for i in instances {
            text.push_str(&format!(
                "\n  instance \"{}\" {{\n    address = \"127.0.0.1\"\n    port    = {}\n    \
                 meta    = {{ version = \"v1\" }}\n    sidecar {{ port = {} }}\n  }}\n",
                i.id, i.app, i.sidecar
            ));
        }
        text.push_str(&format!(
            "}}\n\nservice \"client\" {{\n  protocol = \"http\"\n\n  instance \"{CLIENT_ID}\" {{\n    \
             address = \"127.0.0.1\"\n    port    = {}\n    sidecar {{\n      port = {}\n      \
             upstream \"api\" {{ local_bind_port = {} }}\n    }}\n  }}\n}}\n",
            self.client_app,
            self.client_inbound,
            self.client_api.port()
        ));
        text
    }

    /// Replaces the registry file at once (write a sibling, then rename), as editors save.
    pub fn write_registry(&self, text: &str) -> anyhow::Result<()> {
        let tmp = self.dir().join(".registry.hcl.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.registry)?;
        Ok(())
    }

    /// Rewrites the registry file in place (truncate, then write), as `echo … >` does.
    pub fn overwrite_registry(&self, text: &str) -> anyhow::Result<()> {
        Ok(std::fs::write(&self.registry, text)?)
    }

    /// Fails if any process has exited.
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
                let (status, _, body) = rigging_examples_apps::http_get(*admin, "/ready", false)
                    .await
                    .with_context(|| format!("{id}'s admin"))?;
                anyhow::ensure!(status == 200, "{id} not ready: {status} {body}");
            }
            let syncz = self.syncz().await?;
            for (id, _) in admins {
                let p = syncz["proxies"]
                    .as_array()
                    .and_then(|ps| ps.iter().find(|p| p["proxy"] == id.as_str()))
                    .with_context(|| format!("pilot does not know {id}"))?;
                anyhow::ensure!(p["connected"] == true, "{id} not connected: {p}");
                for ty in ["CDS", "LDS"] {
                    let t = &p["types"][ty];
                    let synced = t["sent_version"].is_string()
                        && t["sent_version"] == t["acked_version"]
                        && t["nack"].is_null();
                    anyhow::ensure!(synced, "{id} {ty} not synced: {t}");
                }
            }
            Ok(())
        })
        .await
    }

    /// Pilot's `/debug/syncz`.
    pub async fn syncz(&self) -> anyhow::Result<serde_json::Value> {
        let (status, _, body) =
            rigging_examples_apps::http_get(self.debug, "/debug/syncz", false).await?;
        anyhow::ensure!(status == 200, "/debug/syncz: {status} {body}");
        Ok(serde_json::from_str(&body)?)
    }

    /// GETs `/` of `api` through `client-1`; the instance that answered a 200.
    pub async fn served_by(&self) -> anyhow::Result<String> {
        let (status, headers, body) =
            rigging_examples_apps::http_get(self.client_api, "/", false).await?;
        anyhow::ensure!(status == 200, "status {status}: {body}");
        let by = headers.get("x-served-by").context("no x-served-by")?;
        Ok(by.to_str()?.to_owned())
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

impl Drop for Stack {
    fn drop(&mut self) {
        if self.passed && !std::thread::panicking() {
            return;
        }
        let all = self.control.iter().chain(&self.procs);
        for p in all {
            eprintln!("===== {} (pid {}) =====\n{}", p.name(), p.id(), p.log());
        }
        eprintln!(
            "===== registry =====\n{}",
            std::fs::read_to_string(&self.registry).unwrap_or_default()
        );
    }
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
