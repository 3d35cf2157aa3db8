//! Registry edit → traffic: how long after an edit of the registry file a real proxy sends
//! requests to the new endpoint.
//!
//! Real processes: `rig up`, one `rig proxy` (instance `client-1`, upstream `web` on a local
//! port) and two example HTTP apps, `web-1` and `web-2`. The registry lists one of them as
//! `web`'s only instance; each edit swaps it for the other, and the time is measured from the
//! write to the first response through the proxy that the new instance served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::controlplane::rig::{Http, Proc, RigUp, write_atomically};
use crate::controlplane::stats::{Summary, ms, ms_f64, ms_opt};
use crate::procs::free_addr;
use crate::report::{Chart, Section};

/// The target of issue 3.
const TARGET: Duration = Duration::from_millis(500);
/// How often the proxy is asked who serves `web`: the measurement's resolution.
const POLL: Duration = Duration::from_millis(5);
/// Longest one edit may take to show in traffic before the run fails.
const EDIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a process may take to start.
const STARTUP: Duration = Duration::from_secs(30);
/// Pause between edits, so each starts from a quiet mesh (longer than both debounces).
const EDIT_GAP: Duration = Duration::from_millis(300);
/// The header the example apps name their instance in.
const SERVED_BY: &str = "x-served-by";

/// What to measure.
#[derive(Debug, Clone)]
pub struct RegistryEditOptions {
    /// Edits measured (each swaps `web`'s instance).
    pub edits: usize,
    /// The `rig` binary.
    pub rig: PathBuf,
}

/// The addresses of one run.
#[derive(Debug, Clone, Copy)]
struct Ports {
    web: [SocketAddr; 2],
    client_app: SocketAddr,
    client_inbound: SocketAddr,
    local_bind: SocketAddr,
    admin: SocketAddr,
}

/// Runs the edits and returns one section with p50, p90 and max.
pub async fn run(opts: &RegistryEditOptions) -> anyhow::Result<Section> {
    let dir = tempfile::Builder::new()
        .prefix("rig-bench-edit-")
        .tempdir()
        .context("cannot create a temporary folder")?;
    let ports = Ports {
        web: [free_addr()?, free_addr()?],
        client_app: free_addr()?,
        client_inbound: free_addr()?,
        local_bind: free_addr()?,
        admin: free_addr()?,
    };
    let registry = dir.path().join("registry.hcl");
    write_atomically(&registry, &registry_text(&ports, 0))?;

    let mut apps = Vec::new();
    for (i, addr) in ports.web.iter().enumerate() {
        let name = instance(i);
        let args = [
            "example-app",
            "--kind",
            "http",
            "--service",
            "web",
            "--app-version",
            &format!("v{}", i + 1),
            "--instance",
            &name,
            "--listen",
            &addr.to_string(),
        ]
        .map(str::to_owned);
        let mut app = Proc::spawn(&opts.rig, &args, dir.path(), &name)?;
        app.wait_ready(*addr, "/", STARTUP).await?;
        apps.push(app);
    }
    let mut up = RigUp::start(&opts.rig, &registry, dir.path(), STARTUP).await?;
    let proxy_args = [
        "proxy".to_owned(),
        "--id".to_owned(),
        "client-1".to_owned(),
        "--pilot".to_owned(),
        format!("http://{}", up.xds),
        "--admin".to_owned(),
        ports.admin.to_string(),
    ];
    let mut proxy = Proc::spawn(&opts.rig, &proxy_args, dir.path(), "client-1")?;
    proxy.wait_ready(ports.admin, "/ready", STARTUP).await?;

    let mut http = Http::new(ports.local_bind);
    wait_served_by(&mut http, &instance(0), Instant::now(), STARTUP)
        .await
        .context("the proxy never routed to web-1 at the start")?;
    let mut samples = Vec::new();
    for edit in 1..=opts.edits {
        tokio::time::sleep(EDIT_GAP).await;
        let active = edit % 2;
        let text = registry_text(&ports, active);
        let written = Instant::now();
        write_atomically(&registry, &text)?;
        let took = wait_served_by(&mut http, &instance(active), written, EDIT_TIMEOUT).await;
        for p in apps.iter_mut().chain([&mut up.proc, &mut proxy]) {
            p.check_alive()?;
        }
        samples.push(took.with_context(|| format!("edit {edit}"))?);
    }
    Ok(section(samples, opts.edits))
}

fn instance(i: usize) -> String {
    format!("web-{}", i + 1)
}

/// Polls through the proxy until `want` answers; returns the time since `since`.
async fn wait_served_by(
    http: &mut Http,
    want: &str,
    since: Instant,
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let deadline = since + timeout;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tick.tick().await;
        let last = match http.get("/").await {
            Ok(r) => {
                let by = r.headers.get(SERVED_BY).and_then(|v| v.to_str().ok());
                if r.status.is_success() && by == Some(want) {
                    return Ok(since.elapsed());
                }
                format!("{} served by {}", r.status, by.unwrap_or("-"))
            }
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("{want} did not answer through the proxy within {timeout:?}; last: {last}");
        }
    }
}

/// The registry with `web-{active+1}` as `web`'s only instance.
fn registry_text(p: &Ports, active: usize) -> String {
    let web = p.web[active];
    format!(
        r#"# Written by rig-bench (registry edit → traffic).
service "web" {{
  protocol = "http"

  instance "{name}" {{
    address = "{web_ip}"
    port    = {web_port}
  }}
}}

service "client" {{
  protocol = "http"

  instance "client-1" {{
    address = "{app_ip}"
    port    = {app_port}
    sidecar {{
      port = {inbound_port}
      upstream "web" {{
        local_bind_port    = {bind_port}
        local_bind_address = "{bind_ip}"
      }}
    }}
  }}
}}
"#,
        name = instance(active),
        web_ip = web.ip(),
        web_port = web.port(),
        app_ip = p.client_app.ip(),
        app_port = p.client_app.port(),
        inbound_port = p.client_inbound.port(),
        bind_port = p.local_bind.port(),
        bind_ip = p.local_bind.ip(),
    )
}

fn section(samples: Vec<Duration>, edits: usize) -> Section {
    let summary = Summary::of(samples);
    let cell = |f: fn(&Summary) -> Duration| ms_opt(summary.as_ref().map(f));
    let mut notes = vec![format!(
        "Time from the atomic write of the registry file (temp file + rename) to the first \
         response through a real `rig proxy` served by the new instance, polled every {} ms on a \
         keep-alive connection; {edits} edits, alternating web-1 and web-2. Includes the file \
         watcher's debounce (50 ms) and Pilot's ({} ms).",
        POLL.as_millis(),
        rigging_pilot_server::DEFAULT_DEBOUNCE.as_millis()
    )];
    let mut chart = None;
    if let Some(s) = summary {
        let verdict = if s.max <= TARGET { "met" } else { "MISSED" };
        notes.push(format!(
            "Target ≤ {} ms: {verdict} (max {} ms).",
            TARGET.as_millis(),
            ms(s.max)
        ));
        chart = Some(Chart {
            title: "Registry edit → traffic on the new endpoint".to_owned(),
            y_label: "ms after the registry write".to_owned(),
            groups: vec!["rig proxy".to_owned()],
            series: [("p50", s.p50), ("p90", s.p90), ("max", s.max)]
                .iter()
                .map(|(n, v)| ((*n).to_owned(), vec![ms_f64(*v)]))
                .collect(),
        });
    }
    Section {
        title: "Control plane: registry edit → traffic".to_owned(),
        headers: ["edits", "p50 ms", "p90 ms", "max ms"]
            .iter()
            .map(|h| (*h).to_owned())
            .collect(),
        rows: vec![vec![
            summary.map_or(0, |s| s.count).to_string(),
            cell(|s| s.p50),
            cell(|s| s.p90),
            cell(|s| s.max),
        ]],
        chart,
        notes,
    }
}
