//! The contenders: direct, rig, HAProxy and nginx, each a one-hop HTTP reverse proxy in front of
//! one upstream, started in the foreground on loopback with generated configuration.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::loadgen::Conn;
use crate::procs::{self, CPU_CLIENT, CPU_PROXY, Guard};
use crate::tools::Tools;

const HAPROXY_TMPL: &str = include_str!("../configs/haproxy.cfg.tmpl");
const NGINX_TMPL: &str = include_str!("../configs/nginx.conf.tmpl");
const REGISTRY_TMPL: &str = include_str!("../configs/registry.hcl.tmpl");
/// rig's log level under test: warnings only, as HAProxy and nginx run without request logs.
const RIG_LOG: &str = "warn";

/// Which contender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Direct,
    Rig,
    Haproxy,
    Nginx,
}

/// A running contender: where to send requests, and the processes whose memory counts.
#[derive(Debug)]
pub struct Contender {
    pub kind: Kind,
    /// HTTP/1.1 entry point.
    pub addr: SocketAddr,
    /// h2c (prior knowledge) entry point, where the contender has one.
    pub h2c_addr: Option<SocketAddr>,
    guards: Vec<Guard>,
    /// Index in `guards` of the process that carries the traffic.
    main: Option<usize>,
}

/// The upstream and every available contender, stopped on drop.
#[derive(Debug)]
pub struct Setup {
    pub contenders: Vec<Contender>,
    /// `(contender, why not)`: not installed, or failed to start.
    pub unavailable: Vec<(Kind, String)>,
    _upstream: Guard,
    _control: Option<Guard>,
    pub dir: tempfile::TempDir,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Direct, Kind::Rig, Kind::Haproxy, Kind::Nginx];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Direct => "direct",
            Kind::Rig => "rig",
            Kind::Haproxy => "haproxy",
            Kind::Nginx => "nginx",
        }
    }
}

impl Contender {
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
        let Some(i) = self.main else { return Ok(None) };
        let pid = self.guards[i].pid();
        let mut total = procs::status_kib(pid, field)?;
        if self.kind == Kind::Nginx {
            for child in procs::children(pid) {
                total += procs::status_kib(child, field).unwrap_or(0);
            }
        }
        Ok(Some(total))
    }

    /// CPU seconds used so far by the processes carrying the traffic; `None` for direct.
    pub fn cpu_secs(&self) -> Option<f64> {
        let pid = self.guards[self.main?].pid();
        let mut total = procs::cpu_secs(pid)?;
        if self.kind == Kind::Nginx {
            total += procs::children(pid)
                .into_iter()
                .filter_map(procs::cpu_secs)
                .sum::<f64>();
        }
        Some(total)
    }

    /// Fails if one of its processes has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        self.guards.iter_mut().try_for_each(Guard::check_alive)
    }

    /// One request through it, retried until it answers 200 (rig needs its endpoints first).
    pub async fn wait_serving(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + procs::START_TIMEOUT;
        loop {
            self.check_alive()?;
            let attempt = async {
                let mut c = Conn::connect(self.addr).await?;
                c.get().await
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
        let up_addr = procs::free_addr()?;
        let me = std::env::current_exe()?;
        let mut upstream = Guard::spawn(
            "upstream",
            &me,
            &["upstream".into(), "--listen".into(), up_addr.to_string()],
            Some(CPU_CLIENT),
            dir.path(),
            &[],
        )?;
        upstream.wait_port(up_addr)?;
        let mut contenders = vec![Contender {
            kind: Kind::Direct,
            addr: up_addr,
            h2c_addr: Some(up_addr),
            guards: Vec::new(),
            main: None,
        }];
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
            _upstream: upstream,
            _control: Some(control),
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
        Contender {
            kind: Kind::Rig,
            addr: outbound,
            h2c_addr: Some(outbound),
            guards: vec![proxy],
            main: Some(0),
        },
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
    Ok(Contender {
        kind: Kind::Haproxy,
        addr: listen,
        h2c_addr: Some(listen_h2),
        guards: vec![g],
        main: Some(0),
    })
}

fn start_nginx(program: &Path, upstream: SocketAddr, dir: &Path) -> anyhow::Result<Contender> {
    let listen = procs::free_addr()?;
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
    Ok(Contender {
        kind: Kind::Nginx,
        addr: listen,
        // nginx 1.22 serves HTTP/2 only over TLS: no h2c entry point.
        h2c_addr: None,
        guards: vec![g],
        main: Some(0),
    })
}

/// Replaces every `{{key}}` in a template.
fn render(template: &str, vars: &[(&str, String)]) -> String {
    vars.iter().fold(template.to_owned(), |t, (k, v)| {
        t.replace(&format!("{{{{{k}}}}}"), v)
    })
}
