//! A mesh of real `rig` processes driven by config entries: `rig up --config-entries <dir>` on a
//! registry of HTTP example apps (each with its `rig proxy`, `meta = { version = … }`), and
//! `client-1`, whose proxy puts `api` on a local port.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use http::Method;
use rigging_tests::{Reply, RigStack, STARTUP, eventually, free_port, loopback, request};
use tokio::sync::{Mutex, MutexGuard};

use crate::load::{Outcomes, send};

pub const CLIENT_ID: &str = "client-1";

/// Every service is HTTP, so routers and splitters are allowed (Consul's rule).
const PROXY_DEFAULTS: &str = r#"Kind = "proxy-defaults"
Name = "global"
Config {
  protocol = "http"
}
"#;

/// Subsets `v1` and `v2` of `api` by `Service.Meta.version`; `v1` unless told otherwise.
pub const RESOLVER_V1_V2: &str = r#"Kind          = "service-resolver"
Name          = "api"
DefaultSubset = "v1"
Subsets = {
  v1 = { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2" }
}
"#;

/// A `service-router` for `api` with `routes`, the HCL objects of its `Routes` list (each
/// followed by a comma and a newline).
pub fn router(routes: &str) -> String {
    format!("Kind = \"service-router\"\nName = \"api\"\nRoutes = [\n{routes}]\n")
}

/// The `service-defaults` of `client`, whose `UpstreamConfig` overrides `api` with `settings`
/// (HCL lines inside the override, after its `Name`).
pub fn client_overrides_api(settings: &str) -> String {
    format!(
        r#"Kind     = "service-defaults"
Name     = "client"
Protocol = "http"
UpstreamConfig {{
  Overrides = [
    {{
      Name = "api"
{settings}    }},
  ]
}}
"#
    )
}

/// One test at a time: they count requests and time them, which a second mesh starting on
/// the same two cores would skew.
static SERIAL: Mutex<()> = Mutex::const_new(());

/// One instance of `api` at each version.
pub fn api_v1_v2() -> Vec<App> {
    vec![app("api", "v1", "api-v1-1"), app("api", "v2", "api-v2-1")]
}

/// Two instances of `api`: `api-1`, healthy, and `api-2`, which answers 503 to every request.
pub fn api_and_a_failing_twin() -> Vec<App> {
    vec![
        app("api", "v1", "api-1"),
        app("api", "v1", "api-2").failing(503, 100),
    ]
}

/// An example app and its sidecar, as the registry declares them.
#[derive(Debug, Clone)]
pub struct App {
    pub service: String,
    pub version: String,
    /// The instance id: also the proxy id and `x-served-by`.
    pub id: String,
    /// `(status, percent)` for `--fail-status` and `--fail-percent`.
    pub fail: Option<(u16, u8)>,
    /// The registry's `health` of the instance.
    pub health: &'static str,
    pub port: u16,
    pub sidecar: u16,
}

/// An instance of `service` at `version`, named `id`, healthy and never failing.
pub fn app(service: &str, version: &str, id: &str) -> App {
    App {
        service: service.to_owned(),
        version: version.to_owned(),
        id: id.to_owned(),
        fail: None,
        health: "passing",
        port: free_port(),
        sidecar: free_port(),
    }
}

impl App {
    /// Answers `status` to `percent` % of its requests (deterministically, see `rig example-app`).
    pub fn failing(mut self, status: u16, percent: u8) -> Self {
        self.fail = Some((status, percent));
        self
    }

    /// Where the app itself listens (not its sidecar).
    pub fn addr(&self) -> SocketAddr {
        loopback(self.port)
    }
}

/// The running mesh; every process is killed on drop, its logs (and the registry and config
/// entries) printed unless [`Mesh::pass`] was called.
#[derive(Debug)]
pub struct Mesh {
    stack: RigStack,
    pub registry: PathBuf,
    /// The folder `rig up --config-entries` watches.
    pub entries: PathBuf,
    /// Where `client-1` exposes `api`.
    pub client_api: SocketAddr,
    pub apps: Vec<App>,
    client_app: u16,
    client_inbound: u16,
    // after the stack: the next test starts once these processes are gone
    _serial: MutexGuard<'static, ()>,
}

impl Mesh {
    /// Starts `apps` with their sidecars, `rig up` with the config entries `(file name, text)`
    /// (plus a `proxy-defaults` making every service HTTP), and `client-1`; waits until every
    /// proxy is synced and `api` answered 200 through `client-1`.
    pub async fn start(apps: Vec<App>, entries: &[(&str, &str)]) -> anyhow::Result<Self> {
        let serial = SERIAL.lock().await;
        let started = tokio::time::Instant::now();
        let mut stack = RigStack::new("rigging-traffic-").await?;
        let registry = stack.dir().join("registry.hcl");
        let entries_dir = stack.dir().join("entries");
        std::fs::create_dir(&entries_dir)?;
        stack.show_on_failure(&registry);
        stack.show_on_failure(&entries_dir);
        let mut mesh = Self {
            stack,
            registry,
            entries: entries_dir,
            client_api: loopback(free_port()),
            apps,
            client_app: free_port(),
            client_inbound: free_port(),
            _serial: serial,
        };
        mesh.write_entry("00-proxy-defaults.hcl", PROXY_DEFAULTS)?;
        for (name, text) in entries {
            mesh.write_entry(name, text)?;
        }
        for a in mesh.apps.clone() {
            let listen = a.addr().to_string();
            let mut args = vec![
                "example-app",
                "--kind",
                "http",
                "--service",
                &a.service,
                "--app-version",
                &a.version,
                "--instance",
                &a.id,
                "--listen",
                &listen,
            ];
            let fail = a.fail.map(|(s, p)| (s.to_string(), p.to_string()));
            if let Some((status, percent)) = &fail {
                args.extend([
                    "--fail-status",
                    status.as_str(),
                    "--fail-percent",
                    percent.as_str(),
                ]);
            }
            mesh.stack.spawn(&format!("{}-app", a.id), &args)?;
            mesh.stack.spawn_proxy(&a.id)?;
        }
        mesh.write_registry()?;
        let (registry, entries) = (
            mesh.registry.display().to_string(),
            mesh.entries.display().to_string(),
        );
        mesh.stack
            .start_control(&["--registry", &registry, "--config-entries", &entries])?;
        mesh.stack.spawn_proxy(CLIENT_ID)?;
        mesh.stack.wait_synced(&[]).await?;
        eventually("api answers through client-1", STARTUP, async || {
            let reply = mesh.get("/", &[]).await?;
            anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
            Ok(())
        })
        .await?;
        eprintln!("mesh up in {:?}", started.elapsed());
        Ok(mesh)
    }

    /// Starts [`api_v1_v2`] like [`Mesh::start`], with [`RESOLVER_V1_V2`] as `resolver.hcl`
    /// and `entries`.
    pub async fn start_v1_v2(entries: &[(&str, &str)]) -> anyhow::Result<Self> {
        let mut all = vec![("resolver.hcl", RESOLVER_V1_V2)];
        all.extend_from_slice(entries);
        Self::start(api_v1_v2(), &all).await
    }

    /// The app named `id`.
    pub fn app(&self, id: &str) -> &App {
        self.apps
            .iter()
            .find(|a| a.id == id)
            .unwrap_or_else(|| panic!("no app {id}"))
    }

    /// `GET path` of `api` through `client-1`, with `headers`.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> anyhow::Result<Reply> {
        request(self.client_api, Method::GET, path, headers, "", false).await
    }

    /// `GET path` of `api` through `client-1` with `headers`, `n` times, `concurrency` at once
    /// (see [`send`]); fails on any request without an answer.
    pub async fn get_n(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        n: usize,
        concurrency: usize,
    ) -> anyhow::Result<Outcomes> {
        let outcomes = send(self.client_api, Method::GET, path, headers, n, concurrency).await;
        outcomes.no_errors()?;
        Ok(outcomes)
    }

    /// How many requests the app `id` served (its `/hits`, asked directly, not through the mesh).
    pub async fn hits(&self, id: &str) -> anyhow::Result<u64> {
        let reply = request(self.app(id).addr(), Method::GET, "/hits", &[], "", false).await?;
        anyhow::ensure!(reply.status == 200, "{id} /hits: {}", reply.status);
        reply
            .body
            .trim()
            .parse()
            .with_context(|| format!("{id} /hits: {:?}", reply.body))
    }

    /// Replaces the config entry file `name` at once (write a sibling, then rename), as
    /// editors save.
    pub fn write_entry(&self, name: &str, text: &str) -> anyhow::Result<()> {
        let tmp = self.stack.dir().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, self.entries.join(name))?;
        Ok(())
    }

    /// Sets the registry `health` of the instance `id` and rewrites the registry.
    pub fn set_health(&mut self, id: &str, health: &'static str) -> anyhow::Result<()> {
        self.apps
            .iter_mut()
            .find(|a| a.id == id)
            .with_context(|| format!("no app {id}"))?
            .health = health;
        self.write_registry()
    }

    /// What `rig up` logged so far.
    pub fn control_log(&self) -> String {
        self.stack.control_log()
    }

    /// What `rig status` prints about this mesh.
    pub async fn status(&self) -> anyhow::Result<String> {
        let debug = self.stack.debug.to_string();
        let out = self.stack.rig(&["status", "--pilot-debug", &debug]).await?;
        anyhow::ensure!(out.status.success(), "rig status failed: {out:?}");
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Fails if any process has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        self.stack.check_running()
    }

    /// The test got to its end: the logs need not be printed.
    pub fn pass(self) {
        self.stack.pass();
    }

    /// Writes the registry: one round-robin HTTP service per service of the apps, each
    /// instance with its version in `meta`, and `client-1` calling `api`.
    fn write_registry(&self) -> anyhow::Result<()> {
        let mut services: Vec<&str> = Vec::new();
        for a in &self.apps {
            if !services.contains(&a.service.as_str()) {
                services.push(&a.service);
            }
        }
        let mut text = String::new();
        for service in services {
            text.push_str(&format!(
                "service \"{service}\" {{\n  protocol      = \"http\"\n  load_balancer = \"round_robin\"\n"
            ));
            for a in self.apps.iter().filter(|a| a.service == service) {
                text.push_str(&format!(
                    "\n  instance \"{}\" {{\n    address = \"127.0.0.1\"\n    port    = {}\n    \
                     health  = \"{}\"\n    meta    = {{ version = \"{}\" }}\n    \
                     sidecar {{ port = {} }}\n  }}\n",
                    a.id, a.port, a.health, a.version, a.sidecar
                ));
            }
            text.push_str("}\n\n");
        }
        text.push_str(&format!(
            "service \"client\" {{\n  protocol = \"http\"\n\n  instance \"{CLIENT_ID}\" {{\n    \
             address = \"127.0.0.1\"\n    port    = {}\n    sidecar {{\n      port = {}\n      \
             upstream \"api\" {{ local_bind_port = {} }}\n    }}\n  }}\n}}\n",
            self.client_app,
            self.client_inbound,
            self.client_api.port()
        ));
        let tmp = self.stack.dir().join(".registry.hcl.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, &self.registry)?;
        Ok(())
    }
}
