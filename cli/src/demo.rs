//! `rig demo`: a small mesh on loopback, every part its own `rig` process, with traffic.
//!
//! The topology is `examples/demo/registry.hcl`: `web` calls `api` (v1 and v2) over HTTP and
//! `db` over TCP, each behind its own proxy, and a `client` proxy puts them on local ports.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use rigging_citadel_server::{DEFAULT_NAMESPACE, TokenStore};
use tokio::process::{Child, Command};

/// The demo's registry; the same file documented in `examples/demo/`.
const REGISTRY: &str = include_str!("../../examples/demo/registry.hcl");
/// The demo's traffic rules (Consul config entries); the same file documented in
/// `examples/demo/`.
const TRAFFIC: &str = include_str!("../../examples/demo/traffic.hcl");
/// How long the mesh may take to come up before the demo gives up.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// One request through the mesh per tick.
const TRAFFIC_INTERVAL: Duration = Duration::from_secs(1);

const XDS: &str = "127.0.0.1:15010";
const CITADEL: &str = "127.0.0.1:15012";
/// How long the bootstrap tokens the demo makes for its proxies may be used.
const TOKEN_TTL: Duration = Duration::from_secs(600);
const PILOT_DEBUG: &str = "127.0.0.1:15014";
const CLIENT_WEB: &str = "127.0.0.1:9090";
const CLIENT_API: &str = "127.0.0.1:9091";
const CLIENT_DB: &str = "127.0.0.1:9092";

/// `(kind, service, version, instance, app port)`; web also gets its upstream addresses.
const APPS: [(&str, &str, &str, &str, u16); 4] = [
    ("web", "web", "v1", "web-1", 18080),
    ("http", "api", "v1", "api-v1-1", 18081),
    ("http", "api", "v2", "api-v2-1", 18082),
    ("tcp", "db", "v1", "db-1", 18083),
];
/// `(proxy id, service, admin port)`.
const PROXIES: [(&str, &str, u16); 5] = [
    ("web-1", "web", 19000),
    ("api-v1-1", "api", 19001),
    ("api-v2-1", "api", 19002),
    ("db-1", "db", 19003),
    ("client-1", "client", 19009),
];

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Folder for the registry file and the logs of every process (default: a new temporary folder).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Stop after this many requests instead of running until Ctrl-C.
    #[arg(long)]
    requests: Option<u64>,
    /// Run the mesh without Citadel and mTLS.
    #[arg(long)]
    plaintext: bool,
}

struct Mesh {
    children: Vec<(String, Child)>,
}

impl Mesh {
    async fn stop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.start_kill();
        }
        for (_, child) in &mut self.children {
            let _ = child.wait().await;
        }
    }

    /// The first child that exited, with its status.
    fn exited(&mut self) -> Option<String> {
        self.children.iter_mut().find_map(|(name, c)| {
            c.try_wait()
                .ok()
                .flatten()
                .map(|status| format!("{name} exited ({status})"))
        })
    }
}

#[allow(clippy::print_stdout)]
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let dir = match args.dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("rigging-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let registry = dir.join("registry.hcl");
    std::fs::write(&registry, REGISTRY)
        .with_context(|| format!("cannot write {}", registry.display()))?;
    let traffic = dir.join("traffic.hcl");
    std::fs::write(&traffic, TRAFFIC)
        .with_context(|| format!("cannot write {}", traffic.display()))?;
    check_ports_free().await?;

    let mut mesh = Mesh {
        children: Vec::new(),
    };
    let files = DemoFiles {
        registry: &registry,
        traffic: &traffic,
    };
    let result = run_mesh(&mut mesh, &dir, files, args.requests, !args.plaintext).await;
    mesh.stop().await;
    println!("\nstopped every process; logs are in {}", dir.display());
    result
}

/// The files `rig up` watches.
#[derive(Clone, Copy)]
struct DemoFiles<'a> {
    registry: &'a Path,
    traffic: &'a Path,
}

#[allow(clippy::print_stdout)]
async fn run_mesh(
    mesh: &mut Mesh,
    dir: &Path,
    files: DemoFiles<'_>,
    requests: Option<u64>,
    mtls: bool,
) -> anyhow::Result<ExitCode> {
    let DemoFiles { registry, traffic } = files;
    let rig = std::env::current_exe().context("cannot find the rig binary")?;
    println!("Rigging demo: a service mesh on this machine\n");
    println!(
        "starting the control plane, 4 example services and 5 proxies (logs in {})",
        dir.display()
    );

    let reg = registry.display().to_string();
    let rules = traffic.display().to_string();
    let state = dir.join("citadel");
    let state_arg = state.display().to_string();
    let mut up = vec![
        "up",
        "--registry",
        &reg,
        "--config-entries",
        &rules,
        "--xds-addr",
        XDS,
        "--debug-addr",
        PILOT_DEBUG,
        "--citadel-addr",
        CITADEL,
        "--citadel-state",
        &state_arg,
    ];
    if !mtls {
        up.push("--plaintext");
    }
    spawn(mesh, &rig, dir, "control-plane", &up)?;
    let bundle = state.join(crate::embedded::TRUST_BUNDLE_FILE);
    if mtls {
        wait_for_file(mesh, &bundle).await?;
    }
    for (kind, service, version, instance, port) in APPS {
        let listen = format!("127.0.0.1:{port}");
        let mut a = vec![
            "example-app",
            "--kind",
            kind,
            "--service",
            service,
            "--app-version",
            version,
        ];
        a.extend(["--instance", instance, "--listen", &listen]);
        if kind == "web" {
            a.extend(["--api", "127.0.0.1:9191", "--db", "127.0.0.1:9192"]);
        }
        spawn(mesh, &rig, dir, instance, &a)?;
    }
    let pilot = format!("http://{XDS}");
    let bundle_arg = bundle.display().to_string();
    for (id, service, admin) in PROXIES {
        let admin = format!("127.0.0.1:{admin}");
        let mut a = vec![
            "proxy".to_owned(),
            "--id".to_owned(),
            id.to_owned(),
            "--pilot".to_owned(),
            pilot.clone(),
            "--admin".to_owned(),
            admin,
        ];
        if mtls {
            // Each proxy proves who it is with a one-time token, as a VM would.
            let token = TokenStore::new(&state)
                .create(DEFAULT_NAMESPACE, service, TOKEN_TTL, SystemTime::now())
                .with_context(|| format!("creating a bootstrap token for {id}"))?;
            let token_file = dir.join(format!("{id}.token"));
            std::fs::write(&token_file, token)
                .with_context(|| format!("cannot write {}", token_file.display()))?;
            a.extend([
                "--citadel".to_owned(),
                CITADEL.to_owned(),
                "--citadel-ca".to_owned(),
                bundle_arg.clone(),
                "--token-file".to_owned(),
                token_file.display().to_string(),
            ]);
        }
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        spawn(mesh, &rig, dir, &format!("{id}-proxy"), &a)?;
    }

    wait_ready(mesh).await?;
    println!("\nthe mesh is up:");
    println!("  web  (http)  web-1                   app 127.0.0.1:18080  sidecar 127.0.0.1:21000");
    println!(
        "  api  (http)  api-v1-1, api-v2-1      apps 127.0.0.1:18081-18082  sidecars 127.0.0.1:21001-21002"
    );
    println!("  db   (tcp)   db-1                    app 127.0.0.1:18083  sidecar 127.0.0.1:21003");
    println!("\ntry, in another terminal:");
    println!(
        "  curl http://{CLIENT_WEB}/         web, which calls api and db, all through the mesh"
    );
    println!(
        "  curl http://{CLIENT_API}/         api: 90 % to v1, 10 % to v2 (a service-splitter)"
    );
    println!("  curl -H 'x-canary: true' http://{CLIENT_API}/   api v2 only (a service-router)");
    println!("  nc 127.0.0.1 9092                 db: a TCP echo");
    println!("  rig status                        what Pilot sent each proxy, and what they ACKed");
    println!("  curl http://127.0.0.1:19000/config_dump   the web proxy's configuration");
    println!(
        "  edit {} or {}   (the proxies follow within a second)",
        registry.display(),
        traffic.display()
    );
    if let Ok(table) = crate::status::get(parse(PILOT_DEBUG)?, "/debug/syncz").await {
        let n = table.matches("\"connected\": true").count();
        println!("\nPilot: {n} proxies connected");
    }
    if mtls {
        println!("\nidentities (mTLS between every pair of proxies, and to Pilot):");
        for (id, _, admin) in PROXIES {
            let (spiffe, expires) = identity_of(admin).await;
            println!("  {id:<10} {spiffe}  (certificate expires {expires})");
        }
        println!(
            "  the apps below name their caller as the mesh tells them (x-forwarded-client-cert)"
        );
    }
    println!(
        "\ntraffic (client -> web -> api and db, every hop through a rig proxy); Ctrl-C stops the demo:"
    );

    let mut sent = 0u64;
    let mut failed = 0u64;
    let mut ticker = tokio::time::interval(TRAFFIC_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = crate::control::shutdown_signal() => break,
        }
        if let Some(exit) = mesh.exited() {
            anyhow::bail!("{exit}; see its log in {}", dir.display());
        }
        sent += 1;
        let started = Instant::now();
        match rigging_examples_apps::http_get(parse(CLIENT_WEB)?, "/", false).await {
            Ok((status, _, body)) => {
                if status != 200 {
                    failed += 1;
                }
                let ms = started.elapsed().as_secs_f64() * 1000.0;
                println!("[{sent:>3}] {status} in {ms:>5.1} ms");
                for line in body.lines() {
                    println!("        {line}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("[{sent:>3}] failed: {e}");
            }
        }
        if sent % 5 == 1 {
            match rigging_examples_apps::tcp_echo(parse(CLIENT_DB)?, b"ping through the mesh").await
            {
                Ok((banner, echo)) => println!(
                    "      tcp {CLIENT_DB}: {banner} / {}",
                    String::from_utf8_lossy(&echo)
                ),
                Err(e) => {
                    failed += 1;
                    println!("      tcp {CLIENT_DB} failed: {e}");
                }
            }
        }
        if requests.is_some_and(|n| sent >= n) {
            break;
        }
    }
    println!("\n{sent} requests, {failed} failed");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn spawn(mesh: &mut Mesh, rig: &Path, dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<()> {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot create {}", log_path.display()))?;
    let child = Command::new(rig)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {name}"))?;
    mesh.children.push((name.to_owned(), child));
    Ok(())
}

async fn wait_ready(mesh: &mut Mesh) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let mut pending: Vec<(&str, SocketAddr)> = PROXIES
        .iter()
        .map(|(id, _, port)| (*id, SocketAddr::from(([127, 0, 0, 1], *port))))
        .collect();
    while !pending.is_empty() {
        if let Some(exit) = mesh.exited() {
            anyhow::bail!("{exit} during startup");
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "proxies not ready after {STARTUP_TIMEOUT:?}: {:?}",
            pending.iter().map(|(id, _)| *id).collect::<Vec<_>>()
        );
        let mut still = Vec::new();
        for (id, admin) in pending {
            if crate::status::get(admin, "/ready").await.is_err() {
                still.push((id, admin));
            }
        }
        pending = still;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Fails early, with the port's owner named, when a port the demo needs is taken.
async fn check_ports_free() -> anyhow::Result<()> {
    let mut ports: Vec<u16> = vec![15010, 15012, 15014, 9090, 9091, 9092, 9191, 9192];
    ports.extend(APPS.iter().map(|a| a.4));
    ports.extend(PROXIES.iter().map(|p| p.2));
    ports.extend([21000, 21001, 21002, 21003, 21009]);
    for port in ports {
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("port {port} on 127.0.0.1 is taken; the demo needs it (is another demo or `rig up` running?)"))?;
    }
    Ok(())
}

/// Waits for `rig up` to write `path` (its trust bundle), or for it to fail.
async fn wait_for_file(mesh: &mut Mesh, path: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    while !path.exists() {
        if let Some(exit) = mesh.exited() {
            anyhow::bail!("{exit} during startup");
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} did not appear within {STARTUP_TIMEOUT:?}",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// A proxy's SPIFFE ID and certificate expiry, from its `/config_dump`.
async fn identity_of(admin: u16) -> (String, String) {
    let addr = SocketAddr::from(([127, 0, 0, 1], admin));
    let dump = crate::status::get(addr, "/config_dump").await.ok();
    let json: Option<serde_json::Value> = dump.and_then(|d| serde_json::from_str(&d).ok());
    let identity = json.as_ref().and_then(|j| j.get("identity"));
    let id = identity
        .and_then(|i| i["spiffe_id"].as_str())
        .unwrap_or("(none)")
        .to_owned();
    let expires = identity
        .and_then(|i| i["not_after"].as_u64())
        .map(|secs| {
            let left = secs.saturating_sub(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
            );
            format!("in {}h{:02}m", left / 3600, left % 3600 / 60)
        })
        .unwrap_or_else(|| "?".to_owned());
    (id, expires)
}

fn parse(addr: &str) -> anyhow::Result<SocketAddr> {
    addr.parse().with_context(|| format!("bad address {addr}"))
}
