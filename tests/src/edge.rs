//! A secured mesh with one service behind an ingress gateway, as the gateway tests need it:
//! `rig up` with Citadel, the HTTP service `api` (instance `api-1`, strict sidecar) and the
//! ingress gateway `edge`, each proxy proving itself with a bootstrap token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use http::Method;

use crate::{RigStack, eventually, free_port, loopback, request};

/// Time for the control plane to start, the proxies to get their certificates and their
/// first configuration.
const STARTUP: Duration = Duration::from_secs(30);

/// `service-defaults` making `api` HTTP.
pub const API_HTTP: &str = r#"Kind = "service-defaults"
Name = "api"
Protocol = "http"
"#;

/// The running mesh.
#[derive(Debug)]
pub struct SecuredEdge {
    /// The folder of config entries `rig up` watches (holds `api.hcl`).
    pub entries_dir: PathBuf,
    /// The trust bundle file `rig up` keeps current.
    pub bundle: PathBuf,
    pub citadel: SocketAddr,
    /// Pilot's xDS URL, for more proxies.
    pub pilot: String,
    /// The gateway's admin address (`/ready`, `/config_dump`).
    pub edge_admin: SocketAddr,
}

/// Writes `api.hcl` and `edge.hcl` (= `edge_entry`) into `<dir>/entries`, starts `rig up`,
/// `api-1`'s application and sidecar and the gateway `edge` (with `edge_args` added to its
/// command line), and waits until both proxies are ready.
pub async fn start_secured_edge(
    stack: &mut RigStack,
    edge_entry: &str,
    edge_args: &[&str],
) -> anyhow::Result<SecuredEdge> {
    let dir = stack.dir().to_owned();
    let (registry, entries_dir) = (dir.join("registry.hcl"), dir.join("entries"));
    std::fs::create_dir(&entries_dir)?;
    stack.show_on_failure(&registry);
    stack.show_on_failure(&entries_dir);
    let (app, sidecar, citadel) = (free_port(), free_port(), loopback(free_port()));
    write(&entries_dir.join("api.hcl"), API_HTTP)?;
    write(&entries_dir.join("edge.hcl"), edge_entry)?;
    write(
        &registry,
        &format!(
            "service \"api\" {{\n  protocol = \"http\"\n\n  instance \"api-1\" {{\n    \
             address = \"127.0.0.1\"\n    port    = {app}\n    sidecar {{ port = {sidecar} }}\n  }}\n}}\n"
        ),
    )?;
    let up = [
        "up".to_owned(),
        "--registry".to_owned(),
        registry.display().to_string(),
        "--config-entries".to_owned(),
        entries_dir.display().to_string(),
        "--xds-addr".to_owned(),
        stack.xds.to_string(),
        "--debug-addr".to_owned(),
        stack.debug.to_string(),
        "--citadel-addr".to_owned(),
        citadel.to_string(),
        "--citadel-state".to_owned(),
        dir.join("citadel").display().to_string(),
    ];
    stack.spawn("rig-up", &strs(&up))?;
    let bundle = dir.join("citadel").join("trust-bundle.pem");
    eventually("rig up writes its trust bundle", STARTUP, async || {
        stack.check_running()?;
        let pem = std::fs::read_to_string(&bundle).unwrap_or_default();
        anyhow::ensure!(pem.contains("BEGIN CERTIFICATE"), "no bundle yet");
        Ok(())
    })
    .await?;
    stack.spawn_http_app("api-1", "api", loopback(app))?;
    let pilot = format!("http://{}", stack.xds);
    let admins = [
        ("api-1", loopback(free_port()), "api"),
        ("edge", loopback(free_port()), "edge"),
    ];
    for (id, admin, service) in admins {
        let mut args = vec![
            "proxy".to_owned(),
            "--id".to_owned(),
            id.to_owned(),
            "--pilot".to_owned(),
            pilot.clone(),
            "--admin".to_owned(),
            admin.to_string(),
        ];
        if id == "edge" {
            args.extend(["--gateway".to_owned(), "ingress".to_owned()]);
            args.extend(edge_args.iter().map(|a| (*a).to_owned()));
        }
        args.extend(stack.bootstrap_identity(citadel, id, service).await?);
        stack.spawn(&format!("{id}-proxy"), &strs(&args))?;
    }
    eventually("both proxies ready", STARTUP, async || {
        stack.check_running()?;
        for (id, admin, _) in admins {
            let reply = request(admin, Method::GET, "/ready", &[], "", false).await?;
            anyhow::ensure!(reply.status == 200, "{id}: {} {}", reply.status, reply.body);
        }
        Ok(())
    })
    .await?;
    Ok(SecuredEdge {
        entries_dir,
        bundle,
        citadel,
        pilot,
        edge_admin: admins[1].1,
    })
}

/// Borrowed views of owned arguments.
pub fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Writes `text` to `path`, naming the file on failure.
pub fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
