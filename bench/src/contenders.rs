//! The contenders: direct, rig, HAProxy and nginx, each a one-hop HTTP reverse proxy in front of
//! one upstream, started in the foreground on loopback with generated configuration. The
//! two-hop contenders of the mTLS scenario are started by `crate::mtls`, with the same types.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::grpc;
use crate::loadgen::{Conn, h2c_get};
use crate::procs::{self, CPU_CLIENT, CPU_PROXY, Guard};
use crate::tools::Tools;

const HAPROXY_TMPL: &str = include_str!("../configs/haproxy.cfg.tmpl");
const NGINX_TMPL: &str = include_str!("../configs/nginx.conf.tmpl");
const REGISTRY_TMPL: &str = include_str!("../configs/registry.hcl.tmpl");
/// rig's log level under test: warnings only, as HAProxy and nginx run without request logs.
pub const RIG_LOG: &str = "warn";

/// Which contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Direct,
    Rig,
    Haproxy,
    Nginx,
    /// Two hops: rig outbound proxy, rig inbound sidecar, plaintext between them.
    RigPlain2,
    /// Two hops: rig outbound proxy, rig inbound sidecar, mTLS between them (Citadel SVIDs).
    RigMtls2,
    /// Two HAProxy processes, plaintext between them.
    HaproxyPlain2,
    /// Two HAProxy processes, TLS 1.3 with client certificates between them.
    HaproxyMtls2,
    /// Two nginx processes, TLS 1.3 with client certificates between them.
    NginxMtls2,
}

/// A running contender: where to send requests, and the processes whose memory and CPU count.
#[derive(Debug)]
pub struct Contender {
    pub kind: Kind,
    /// HTTP/1.1 entry point.
    pub addr: SocketAddr,
    /// h2c (prior knowledge) entry point, where the contender has one.
    pub h2c_addr: Option<SocketAddr>,
    /// gRPC (over h2c) entry point, where the scenario measures gRPC.
    pub grpc_addr: Option<SocketAddr>,
    /// The processes carrying the traffic (none for direct): one proxy, or both hops.
    guards: Vec<Guard>,
}

/// The upstream and every available contender, stopped on drop (contenders first).
#[derive(Debug)]
pub struct Setup {
    pub contenders: Vec<Contender>,
    /// `(contender, why not)`: not installed, or failed to start.
    pub unavailable: Vec<(Kind, String)>,
    /// The upstream and control planes: not measured, stopped after the contenders.
    pub support: Vec<Guard>,
    pub dir: tempfile::TempDir,
}

/// How a scenario's contenders are compared and described in its report.
#[derive(Debug, Clone)]
pub struct Framing {
    /// The contender the targets are about.
    pub ours: Kind,
    /// Whose added latency it must not exceed.
    pub latency_versus: Kind,
    /// Title of the latency targets' table.
    pub latency_target: &'static str,
    /// Whose requests per second it must reach.
    pub throughput_versus: Vec<Kind>,
    /// What carries the traffic, for titles: "proxy on one core".
    pub scope: &'static str,
    /// Where each process runs, for the notes.
    pub pinning: &'static str,
    /// The h2c table's path after the client, and its caveats.
    pub h2c_path: &'static str,
    pub h2c_notes: &'static [&'static str],
    /// The same for the gRPC table (scenarios whose contenders have gRPC entry points).
    pub grpc_path: &'static str,
    pub grpc_notes: &'static [&'static str],
}

impl Framing {
    /// The one-hop scenarios: rig against HAProxy (latency), HAProxy and nginx (throughput).
    pub fn one_hop() -> Self {
        Self {
            ours: Kind::Rig,
            latency_versus: Kind::Haproxy,
            latency_target: "Targets: added latency per hop at most HAProxy's",
            throughput_versus: vec![Kind::Haproxy, Kind::Nginx],
            scope: "proxy on one core",
            pinning: "on CPU 0 with the upstream; the proxy alone on CPU 1.",
            h2c_path: "HTTP/1.1 to the upstream.",
            h2c_notes: &[],
            grpc_path: "gRPC is measured in the two-hop scenario (mtls).",
            grpc_notes: &[],
        }
    }
}

impl Kind {
    /// Every contender, in the order of the tables.
    pub const ALL: [Kind; 9] = [
        Kind::Direct,
        Kind::Rig,
        Kind::Haproxy,
        Kind::Nginx,
        Kind::RigPlain2,
        Kind::RigMtls2,
        Kind::HaproxyPlain2,
        Kind::HaproxyMtls2,
        Kind::NginxMtls2,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Rig => "rig",
            Kind::Haproxy => "haproxy",
            Kind::Nginx => "nginx",
            Kind::RigPlain2 => "rig-plaintext",
            Kind::RigMtls2 => "rig-mtls",
            Kind::HaproxyPlain2 => "haproxy-plaintext",
            Kind::HaproxyMtls2 => "haproxy-mtls",
            Kind::NginxMtls2 => "nginx-mtls",
        }
    }

    /// Whether its processes fork workers whose memory and CPU count too (nginx).
    fn forks(self) -> bool {
        matches!(self, Kind::Nginx | Kind::NginxMtls2)
    }
}

impl Contender {
    /// A contender carried by `guards` (empty for direct).
    pub fn new(
        kind: Kind,
        addr: SocketAddr,
        h2c_addr: Option<SocketAddr>,
        guards: Vec<Guard>,
    ) -> Self {
        Self {
            kind,
            addr,
            h2c_addr,
            grpc_addr: None,
            guards,
        }
    }

    /// The same, with a gRPC entry point.
    pub fn with_grpc(mut self, addr: SocketAddr) -> Self {
        self.grpc_addr = Some(addr);
        self
    }

    /// Resident memory in KiB of the processes carrying the traffic (nginx: master and
    /// workers); `None` for direct.
    pub fn rss_kib(&self) -> anyhow::Result<Option<u64>> {
        self.status_kib("VmRSS")
    }

    /// Private anonymous memory in KiB (`RssAnon`): VmRSS without the binaries' pages.
    pub fn rss_anon_kib(&self) -> anyhow::Result<Option<u64>> {
        self.status_kib("RssAnon")
    }

    fn status_kib(&self, field: &str) -> anyhow::Result<Option<u64>> {
        if self.guards.is_empty() {
            return Ok(None);
        }
        let mut total = 0;
        for g in &self.guards {
            total += procs::status_kib(g.pid(), field)?;
            if self.kind.forks() {
                for child in procs::children(g.pid()) {
                    total += procs::status_kib(child, field).unwrap_or(0);
                }
            }
        }
        Ok(Some(total))
    }

    /// Moves the processes carrying the traffic (nginx's workers too, every thread) to `cpu`.
    pub fn repin(&self, cpu: usize) -> anyhow::Result<()> {
        for g in &self.guards {
            procs::repin(g.pid(), cpu)?;
            for child in procs::children(g.pid()) {
                procs::repin(child, cpu)?;
            }
        }
        Ok(())
    }

    /// CPU seconds used so far by the processes carrying the traffic (both hops of a two-hop
    /// contender, nginx's workers too); `None` for direct.
    pub fn cpu_secs(&self) -> Option<f64> {
        if self.guards.is_empty() {
            return None;
        }
        let mut total = 0.0;
        for g in &self.guards {
            total += procs::cpu_secs(g.pid())?;
            if self.kind.forks() {
                total += procs::children(g.pid())
                    .into_iter()
                    .filter_map(procs::cpu_secs)
                    .sum::<f64>();
            }
        }
        Some(total)
    }

    /// Fails if one of its processes has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.guards.iter_mut().try_for_each(Guard::check_alive)
    }

    /// One request through it (and one over h2c, one gRPC call, where it has those entry
    /// points), retried until it answers 200 (rig needs its endpoints first).
    pub async fn wait_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + procs::START_TIMEOUT;
        loop {
            self.check_alive()?;
            let attempt = async {
                let mut c = Conn::connect(self.addr).await?;
                c.get().await?;
                if let Some(h2c) = self.h2c_addr {
                    h2c_get(h2c).await?;
                }
                match self.grpc_addr {
                    Some(addr) => grpc::call(addr).await,
                    None => Ok(()),
                }
            };
            match attempt.await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("{} never answered", self.kind.name())));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
}

impl Setup {
    /// Starts the upstream and every contender that is installed, each on free ports; a
    /// contender that fails to start is reported unavailable, rig failing is an error.
    pub async fn start(tools: &Tools) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("rig-bench-").tempdir()?;
        let (upstream, up_addr) = start_upstream(dir.path())?;
        let mut contenders = vec![Contender::new(
            Kind::Direct,
            up_addr,
            Some(up_addr),
            Vec::new(),
        )];
        let mut unavailable = Vec::new();
        let (control, rig) = start_rig(tools, up_addr, dir.path())?;
        contenders.push(rig);
        for (kind, program) in [
            (Kind::Haproxy, tools.haproxy.as_deref()),
            (Kind::Nginx, tools.nginx.as_deref()),
        ] {
            let Some(program) = program else {
                unavailable.push((kind, "skipped: not installed".into()));
                continue;
            };
            let started = match kind {
                Kind::Haproxy => start_haproxy(program, up_addr, dir.path()),
                _ => start_nginx(program, up_addr, dir.path()),
            };
            match started {
                Ok(c) => contenders.push(c),
                Err(e) => {
                    tracing::warn!(contender = kind.name(), error = %format!("{e:#}"), "not available");
                    unavailable.push((kind, format!("not available: {e:#}").replace('\n', " ")));
                }
            }
        }
        Ok(Self {
            contenders,
            unavailable,
            support: vec![upstream, control],
            dir,
        })
    }

    /// One request through every contender; an error names the first that fails.
    pub async fn wait_serving(&mut self) -> anyhow::Result<()> {
        for c in &mut self.contenders {
            c.wait_serving().await?;
        }
        Ok(())
    }
}

/// The upstream on a free port, pinned beside the load generator.
pub fn start_upstream(dir: &Path) -> anyhow::Result<(Guard, SocketAddr)> {
    let addr = procs::free_addr()?;
    let me = std::env::current_exe()?;
    let mut upstream = Guard::spawn(
        "upstream",
        &me,
        &["upstream".into(), "--listen".into(), addr.to_string()],
        Some(CPU_CLIENT),
        dir,
        &[],
    )?;
    upstream.wait_port(addr)?;
    Ok((upstream, addr))
}

/// `rig up` on a generated registry, then `rig proxy --id bench-client` pinned to the proxy CPU.
fn start_rig(
    tools: &Tools,
    upstream: SocketAddr,
    dir: &Path,
) -> anyhow::Result<(Guard, Contender)> {
    let outbound = procs::free_addr()?;
    let registry = dir.join("registry.hcl");
    let text = render(
        REGISTRY_TMPL,
        &[
            ("upstream_port", upstream.port().to_string()),
            ("client_port", procs::free_addr()?.port().to_string()),
            ("inbound_port", procs::free_addr()?.port().to_string()),
            ("outbound_port", outbound.port().to_string()),
        ],
    );
    std::fs::write(&registry, text)?;
    let (xds, debug, admin) = (
        procs::free_addr()?,
        procs::free_addr()?,
        procs::free_addr()?,
    );
    let log = [("RUST_LOG", RIG_LOG)];
    let mut control = Guard::spawn(
        "rig-up",
        &tools.rig,
        &[
            "up".into(),
            "--plaintext".into(),
            "--registry".into(),
            registry.display().to_string(),
            "--xds-addr".into(),
            xds.to_string(),
            "--debug-addr".into(),
            debug.to_string(),
        ],
        Some(CPU_CLIENT),
        dir,
        &log,
    )?;
    control.wait_port(xds)?;
    let mut proxy = Guard::spawn(
        "rig-proxy",
        &tools.rig,
        &[
            "proxy".into(),
            "--id".into(),
            "bench-client".into(),
            "--pilot".into(),
            format!("http://{xds}"),
            "--admin".into(),
            admin.to_string(),
        ],
        Some(CPU_PROXY),
        dir,
        &log,
    )?;
    proxy.wait_port(admin)?;
    proxy
        .wait_port(outbound)
        .context("rig's outbound listener")?;
    Ok((
        control,
        Contender::new(Kind::Rig, outbound, Some(outbound), vec![proxy]),
    ))
}

fn start_haproxy(program: &Path, upstream: SocketAddr, dir: &Path) -> anyhow::Result<Contender> {
    let (listen, listen_h2) = (procs::free_addr()?, procs::free_addr()?);
    let cfg = dir.join("haproxy.cfg");
    std::fs::write(
        &cfg,
        render(
            HAPROXY_TMPL,
            &[
                ("listen", listen.to_string()),
                ("listen_h2", listen_h2.to_string()),
                ("upstream", upstream.to_string()),
            ],
        ),
    )?;
    let mut g = Guard::spawn(
        "haproxy",
        program,
        &["-f".into(), cfg.display().to_string(), "-db".into()],
        Some(CPU_PROXY),
        dir,
        &[],
    )?;
    g.wait_port(listen)?;
    Ok(Contender::new(
        Kind::Haproxy,
        listen,
        Some(listen_h2),
        vec![g],
    ))
}

fn start_nginx(program: &Path, upstream: SocketAddr, dir: &Path) -> anyhow::Result<Contender> {
    let listen = procs::free_addr()?;
    let listen_h2 = procs::free_addr()?;
    let prefix = dir.join("nginx");
    std::fs::create_dir_all(&prefix)?;
    let cfg = prefix.join("nginx.conf");
    std::fs::write(
        &cfg,
        render(
            NGINX_TMPL,
            &[
                ("dir", prefix.display().to_string()),
                ("listen", listen.to_string()),
                ("listen_h2", listen_h2.to_string()),
                ("upstream", upstream.to_string()),
            ],
        ),
    )?;
    let mut g = Guard::spawn(
        "nginx",
        program,
        &[
            "-p".into(),
            prefix.display().to_string(),
            "-e".into(),
            prefix.join("nginx-error.log").display().to_string(),
            "-c".into(),
            cfg.display().to_string(),
            "-g".into(),
            "daemon off;".into(),
        ],
        Some(CPU_PROXY),
        dir,
        &[],
    )?;
    g.wait_port(listen)?;
    g.wait_port(listen_h2)?;
    Ok(Contender::new(
        Kind::Nginx,
        listen,
        Some(listen_h2),
        vec![g],
    ))
}

/// Replaces every `{{key}}` in a template.
pub fn render(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{{{k}}}}}"), v)
    })
}
