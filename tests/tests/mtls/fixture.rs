//! A mesh of real `rig` processes with mTLS on: a control plane (`rig up`, or `rig citadel
//! serve` and `rig pilot` apart), example apps, and proxies that prove who they are to Citadel
//! with a bootstrap token or a Nomad workload identity JWT.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use http::Method;
use rigging_tests::{
    Proc, ensure_synced, eventually, free_port, pilot_syncz, request, rig_binary, rig_command,
};
use tempfile::TempDir;

use crate::admin::{Identity, identity, ready};

/// Time for processes to start, get their certificates and their first configuration.
pub const STARTUP: Duration = Duration::from_secs(20);
/// Longest a one-shot command (`rig citadel token create`, `rotate-root`, `bundle`) may run.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the bootstrap tokens made for the proxies may be used: only once, at start.
const TOKEN_TTL: &str = "10m";
/// `rig`'s trust domain and datacenter when none is given.
pub const TRUST_DOMAIN: &str = "rigging.local";
const DATACENTER: &str = "dc1";

/// One workload as the registry declares it: its app's port (where the registry says the app
/// is), its sidecar's inbound port, and the local ports of its upstreams.
#[derive(Debug, Clone)]
pub struct Instance {
    pub service: String,
    pub protocol: &'static str,
    pub id: String,
    pub app: u16,
    pub sidecar: u16,
    pub upstreams: Vec<(String, u16)>,
}

/// How a proxy (or `rig pilot`) proves its identity to Citadel; written to a file the process
/// re-reads at each issuance that needs it.
#[derive(Debug, Clone)]
pub enum Credential {
    Token(String),
    NomadJwt(String),
}

/// The processes of one test, their logs in a temporary folder. Every process is killed on
/// drop and, unless [`Mesh::pass`] was called, every log is printed first.
#[derive(Debug)]
pub struct Mesh {
    pub rig: PathBuf,
    /// Citadel's state folder.
    pub state: PathBuf,
    /// The roots Citadel's certificate chains to, as the proxies get them (`--citadel-ca`).
    pub bundle: PathBuf,
    pub citadel: SocketAddr,
    pub xds: SocketAddr,
    pub debug: SocketAddr,
    registry: PathBuf,
    procs: Vec<Proc>,
    /// Proxy id → admin address.
    admins: BTreeMap<String, SocketAddr>,
    passed: bool,
    // last, so the folder outlives the processes writing into it
    dir: TempDir,
}

impl Instance {
    /// An instance with free ports; `upstreams` get a free local port each.
    pub fn new(service: &str, protocol: &'static str, id: &str, upstreams: &[&str]) -> Self {
        Self {
            service: service.to_owned(),
            protocol,
            id: id.to_owned(),
            app: free_port(),
            sidecar: free_port(),
            upstreams: upstreams
                .iter()
                .map(|u| ((*u).to_owned(), free_port()))
                .collect(),
        }
    }

    /// Where this instance's proxy exposes `service`.
    pub fn upstream(&self, service: &str) -> SocketAddr {
        let port = self
            .upstreams
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, p)| *p)
            .unwrap_or_else(|| panic!("{} has no upstream {service}", self.id));
        loopback(port)
    }

    /// The sidecar's inbound (mTLS) address.
    pub fn inbound(&self) -> SocketAddr {
        loopback(self.sidecar)
    }

    /// The SPIFFE ID Citadel issues to this instance's service.
    pub fn spiffe_id(&self) -> String {
        spiffe_id(&self.service)
    }
}

impl Mesh {
    /// The folder and the ports; nothing runs yet.
    pub async fn new() -> anyhow::Result<Self> {
        let rig = tokio::task::spawn_blocking(rig_binary).await??;
        let dir = tempfile::Builder::new().prefix("rigging-mtls-").tempdir()?;
        Ok(Self {
            rig,
            state: dir.path().join("citadel"),
            bundle: dir.path().join("citadel").join("trust-bundle.pem"),
            citadel: loopback(free_port()),
            xds: loopback(free_port()),
            debug: loopback(free_port()),
            registry: dir.path().join("registry.hcl"),
            procs: Vec::new(),
            admins: BTreeMap::new(),
            passed: false,
            dir,
        })
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes the registry declaring `instances`, grouped by service.
    pub fn write_registry(&self, instances: &[&Instance]) -> anyhow::Result<()> {
        let mut services: Vec<(&str, &str, Vec<&Instance>)> = Vec::new();
        for i in instances {
            match services.iter_mut().find(|(s, _, _)| *s == i.service) {
                Some((_, _, list)) => list.push(i),
                None => services.push((&i.service, i.protocol, vec![i])),
            }
        }
        let mut text = String::new();
        for (service, protocol, list) in services {
            text.push_str(&format!(
                "service \"{service}\" {{\n  protocol = \"{protocol}\"\n"
            ));
            for i in list {
                text.push_str(&format!(
                    "\n  instance \"{}\" {{\n    address = \"127.0.0.1\"\n    port    = {}\n    \
                     sidecar {{\n      port = {}\n",
                    i.id, i.app, i.sidecar
                ));
                for (up, port) in &i.upstreams {
                    text.push_str(&format!(
                        "      upstream \"{up}\" {{ local_bind_port = {port} }}\n"
                    ));
                }
                text.push_str("    }\n  }\n");
            }
            text.push_str("}\n\n");
        }
        std::fs::write(&self.registry, text)
            .with_context(|| format!("cannot write {}", self.registry.display()))
    }

    /// `rig up` with mTLS (its Citadel on its own port, state in [`Mesh::state`]) and `extra`
    /// arguments; returns once it wrote the trust bundle file.
    pub async fn up(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        let (registry, xds, debug, citadel, state) = (
            self.registry.display().to_string(),
            self.xds.to_string(),
            self.debug.to_string(),
            self.citadel.to_string(),
            self.state.display().to_string(),
        );
        let mut args = vec![
            "up",
            "--registry",
            &registry,
            "--xds-addr",
            &xds,
            "--debug-addr",
            &debug,
            "--citadel-addr",
            &citadel,
            "--citadel-state",
            &state,
        ];
        args.extend_from_slice(extra);
        self.spawn("rig-up", &args)?;
        eventually("rig up writes its trust bundle", STARTUP, async || {
            self.check_running()?;
            let pem = std::fs::read_to_string(&self.bundle).unwrap_or_default();
            anyhow::ensure!(pem.contains("BEGIN CERTIFICATE"), "no bundle yet");
            Ok(())
        })
        .await?;
        self.wait_pilot().await
    }

    /// `rig citadel serve` on its own, with `extra` arguments; returns once it listens, with
    /// its roots written to [`Mesh::bundle`] (from `rig citadel bundle`).
    pub async fn citadel_serve(&mut self, extra: &[&str]) -> anyhow::Result<()> {
        let (state, addr) = (self.state.display().to_string(), self.citadel.to_string());
        let mut args = vec!["citadel", "serve", "--state", &state, "--addr", &addr];
        args.extend_from_slice(extra);
        self.spawn("citadel", &args)?;
        eventually("citadel listens", STARTUP, async || {
            self.check_running()?;
            tokio::net::TcpStream::connect(self.citadel).await?;
            Ok(())
        })
        .await?;
        let pem = self
            .rig_ok(&["citadel", "bundle", "--state", &state])
            .await?;
        anyhow::ensure!(
            pem.contains("BEGIN CERTIFICATE"),
            "rig citadel bundle: {pem}"
        );
        std::fs::write(&self.bundle, pem)?;
        Ok(())
    }

    /// `rig pilot` alone, getting its certificate from the Citadel with `credential`.
    pub async fn pilot(&mut self, credential: &Credential) -> anyhow::Result<()> {
        let (registry, xds, debug) = (
            self.registry.display().to_string(),
            self.xds.to_string(),
            self.debug.to_string(),
        );
        let mut args = vec![
            "pilot".to_owned(),
            "--registry".to_owned(),
            registry,
            "--xds-addr".to_owned(),
            xds,
            "--debug-addr".to_owned(),
            debug,
        ];
        args.extend(self.identity_args("rigging-pilot", credential)?);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn("pilot", &args)?;
        self.wait_pilot().await
    }

    async fn wait_pilot(&mut self) -> anyhow::Result<()> {
        eventually("pilot answers on its debug port", STARTUP, async || {
            self.check_running()?;
            let reply = request(self.debug, Method::GET, "/ready", &[], "", false).await?;
            anyhow::ensure!(reply.status == 200, "status {}", reply.status);
            Ok(())
        })
        .await
    }

    /// A one-time bootstrap token for `service`, from `rig citadel token create`.
    pub async fn token(&self, service: &str) -> anyhow::Result<String> {
        let state = self.state.display().to_string();
        let args = [
            "citadel",
            "token",
            "create",
            "--state",
            &state,
            "--service",
            service,
            "--ttl",
            TOKEN_TTL,
        ];
        let token = self.rig_ok(&args).await?.trim().to_owned();
        anyhow::ensure!(
            !token.is_empty(),
            "rig citadel token create printed nothing"
        );
        Ok(token)
    }

    /// Runs `rig args…` to completion and returns its stdout; fails, with its stderr, if it
    /// does not succeed.
    pub async fn rig_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut cmd = tokio::process::Command::from(rig_command(&self.rig, args));
        cmd.kill_on_drop(true);
        let out = tokio::time::timeout(COMMAND_TIMEOUT, cmd.output())
            .await
            .with_context(|| format!("rig {args:?} still running after {COMMAND_TIMEOUT:?}"))?
            .with_context(|| format!("cannot run rig {args:?}"))?;
        anyhow::ensure!(
            out.status.success(),
            "rig {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `rig example-app --kind kind` as `instance`'s app, listening on `port` (its registry
    /// port, or the port behind a [`super::traffic::Tap`]).
    pub fn spawn_app(&mut self, kind: &str, instance: &Instance, port: u16) -> anyhow::Result<()> {
        let listen = loopback(port).to_string();
        let args = [
            "example-app",
            "--kind",
            kind,
            "--service",
            &instance.service,
            "--app-version",
            "v1",
            "--instance",
            &instance.id,
            "--listen",
            &listen,
        ];
        self.spawn(&format!("{}-app", instance.id), &args)
    }

    /// `rig proxy --id id` against this mesh's Pilot and Citadel, proving itself with
    /// `credential`; returns its admin address.
    pub fn spawn_proxy(&mut self, id: &str, credential: &Credential) -> anyhow::Result<SocketAddr> {
        let admin = loopback(free_port());
        let mut args = vec![
            "proxy".to_owned(),
            "--id".to_owned(),
            id.to_owned(),
            "--pilot".to_owned(),
            format!("http://{}", self.xds),
            "--admin".to_owned(),
            admin.to_string(),
        ];
        args.extend(self.identity_args(id, credential)?);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.spawn(&format!("{id}-proxy"), &args)?;
        self.admins.insert(id.to_owned(), admin);
        Ok(admin)
    }

    /// Starts proxies for `instances`, each with a bootstrap token for its own service.
    pub async fn spawn_proxies_with_tokens(
        &mut self,
        instances: &[&Instance],
    ) -> anyhow::Result<()> {
        for i in instances {
            let token = self.token(&i.service).await?;
            self.spawn_proxy(&i.id, &Credential::Token(token))?;
        }
        Ok(())
    }

    /// `--citadel … --citadel-ca … --token-file|--nomad-jwt-file …`, the credential written to
    /// `<dir>/<name>.credential`.
    fn identity_args(&self, name: &str, credential: &Credential) -> anyhow::Result<Vec<String>> {
        let file = self.dir().join(format!("{name}.credential"));
        let (flag, secret) = match credential {
            Credential::Token(t) => ("--token-file", t),
            Credential::NomadJwt(t) => ("--nomad-jwt-file", t),
        };
        std::fs::write(&file, secret)?;
        Ok(vec![
            "--citadel".to_owned(),
            self.citadel.to_string(),
            "--citadel-ca".to_owned(),
            self.bundle.display().to_string(),
            flag.to_owned(),
            file.display().to_string(),
        ])
    }

    /// Runs `rig args…` as process `name`, logging to `<dir>/<name>.log`.
    pub fn spawn(&mut self, name: &str, args: &[&str]) -> anyhow::Result<()> {
        let proc = Proc::spawn(name, self.dir.path(), rig_command(&self.rig, args))?;
        self.procs.push(proc);
        Ok(())
    }

    /// The admin address of proxy `id`.
    pub fn admin(&self, id: &str) -> SocketAddr {
        *self
            .admins
            .get(id)
            .unwrap_or_else(|| panic!("no proxy {id}"))
    }

    /// Every proxy id, with its admin address.
    pub fn proxies(&self) -> Vec<(String, SocketAddr)> {
        self.admins.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// The process named `name` (`rig-up`, `citadel`, `pilot`, `<id>-proxy`, `<id>-app`).
    pub fn process(&self, name: &str) -> &Proc {
        self.procs
            .iter()
            .find(|p| p.name() == name)
            .unwrap_or_else(|| panic!("no process {name}"))
    }

    /// Sends `signal` (`STOP`, `CONT`) to the process named `name`.
    pub fn signal(&self, name: &str, signal: &str) -> anyhow::Result<()> {
        let pid = self.process(name).id().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .context("cannot run kill")?;
        anyhow::ensure!(status.success(), "kill -{signal} {name}: {status}");
        Ok(())
    }

    /// Fails if any process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        self.procs.iter_mut().try_for_each(Proc::check_running)
    }

    /// Waits until every proxy in `ids` answers `/ready` with 200 and Pilot shows it connected
    /// with CDS and LDS acknowledged.
    pub async fn wait_ready(&mut self, ids: &[&str]) -> anyhow::Result<()> {
        eventually("the proxies ready and synced", STARTUP, async || {
            self.check_running()?;
            for id in ids {
                anyhow::ensure!(ready(self.admin(id)).await?, "{id} not ready");
            }
            let syncz = self.syncz().await?;
            for id in ids {
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

    /// The identity of every proxy, by id.
    pub async fn identities(&self) -> anyhow::Result<BTreeMap<String, Identity>> {
        let mut all = BTreeMap::new();
        for (id, admin) in &self.admins {
            let identity = identity(*admin)
                .await
                .with_context(|| format!("{id}'s identity"))?;
            all.insert(id.clone(), identity);
        }
        Ok(all)
    }

    /// The test got to its end: the logs need not be printed.
    pub fn pass(mut self) {
        self.passed = true;
    }
}

impl Drop for Mesh {
    fn drop(&mut self) {
        if self.passed && !std::thread::panicking() {
            return;
        }
        for p in &self.procs {
            eprintln!("===== {} (pid {}) =====\n{}", p.name(), p.id(), p.log());
        }
        eprintln!(
            "===== registry =====\n{}",
            std::fs::read_to_string(&self.registry).unwrap_or_default()
        );
    }
}

/// `spiffe://rigging.local/ns/default/dc/dc1/svc/<service>`.
pub fn spiffe_id(service: &str) -> String {
    format!("spiffe://{TRUST_DOMAIN}/ns/default/dc/{DATACENTER}/svc/{service}")
}

pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
