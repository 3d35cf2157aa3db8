//! A mesh of real `rig` processes: `rig up` on a registry file, `rig example-app` instances of
//! `api` with their `rig proxy`, and `client-1`, whose proxy puts `api` on a local port.

use std::net::SocketAddr;
use std::ops::{Deref, DerefMut};
use std::path::PathBuf;

use rigging_tests::{RigStack, eventually, free_port, loopback};

pub use rigging_tests::STARTUP;

pub const CLIENT_ID: &str = "client-1";

/// One instance of `api` as the registry declares it.
#[derive(Debug, Clone)]
pub struct Instance {
    pub id: String,
    pub app: u16,
    pub sidecar: u16,
}

/// The running processes ([`RigStack`], which this derefs to: logs, Pilot's ports, `rig up`
/// control) and the registry of `api` and `client-1`.
#[derive(Debug)]
pub struct Stack {
    stack: RigStack,
    pub registry: PathBuf,
    /// Where `client-1` exposes `api`.
    pub client_api: SocketAddr,
    client_inbound: u16,
    client_app: u16,
}

impl Deref for Stack {
    type Target = RigStack;

    fn deref(&self) -> &RigStack {
        &self.stack
    }
}

impl DerefMut for Stack {
    fn deref_mut(&mut self) -> &mut RigStack {
        &mut self.stack
    }
}

impl Stack {
    /// The folder for logs and registry only; nothing runs yet.
    pub async fn new() -> anyhow::Result<Self> {
        let mut stack = RigStack::new("rigging-e2e-").await?;
        let registry = stack.dir().join("registry.hcl");
        stack.show_on_failure(&registry);
        Ok(Self {
            stack,
            registry,
            client_api: loopback(free_port()),
            client_inbound: free_port(),
            client_app: free_port(),
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

    /// `rig up` on the registry file, Pilot's ports fixed at creation (so a restart reuses them).
    pub fn start_control(&mut self) -> anyhow::Result<()> {
        let registry = self.registry.display().to_string();
        self.stack.start_control(&["--registry", &registry])
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
        self.stack.spawn(&format!("{id}-app"), &args)?;
        self.spawn_proxy(id)?;
        Ok(instance)
    }

    /// Starts `rig proxy --id id` against this stack's Pilot.
    pub fn spawn_proxy(&mut self, id: &str) -> anyhow::Result<()> {
        self.stack.spawn_proxy(id).map(drop)
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

    /// GETs `/` of `api` through `client-1`; the instance that answered a 200.
    pub async fn served_by(&self) -> anyhow::Result<String> {
        let (status, headers, body) =
            rigging_examples_apps::http_get(self.client_api, "/", false).await?;
        anyhow::ensure!(status == 200, "status {status}: {body}");
        let by = headers
            .get("x-served-by")
            .ok_or_else(|| anyhow::anyhow!("no x-served-by"))?;
        Ok(by.to_str()?.to_owned())
    }

    /// The test got to its end: the logs need not be printed.
    pub fn pass(self) {
        self.stack.pass();
    }
}
