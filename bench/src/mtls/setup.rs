//! The two-hop contenders, each a chain of two proxies in front of the upstream: rig (one mesh
//! in plaintext, one with mTLS, each with its own `rig up`), HAProxy (plaintext and mTLS) and
//! nginx (mTLS). Every proxy process is pinned to the proxy CPU, the control planes and the
//! upstream to the client's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::pki::{Pki, SERVER_NAME};
use crate::contenders::{self, Contender, Kind, RIG_LOG, Setup, render};
use crate::loadgen::Conn;
use crate::procs::{self, CPU_CLIENT, CPU_PROXY, Guard};
use crate::tools::Tools;

const REGISTRY_TMPL: &str = include_str!("../../configs/registry-two-hop.hcl.tmpl");
const HAPROXY_OUT_TMPL: &str = include_str!("../../configs/haproxy-outbound.cfg.tmpl");
const HAPROXY_IN_TMPL: &str = include_str!("../../configs/haproxy-inbound.cfg.tmpl");
const NGINX_OUT_TMPL: &str = include_str!("../../configs/nginx-outbound.conf.tmpl");
const NGINX_IN_TMPL: &str = include_str!("../../configs/nginx-inbound.conf.tmpl");
/// How long the mTLS mesh's bootstrap tokens may be used: each proxy uses its own once, at
/// start.
const TOKEN_TTL: &str = "1h";
/// How long a plaintext request to an mTLS hop may go unanswered before it counts as refused.
const PLAINTEXT_PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// HAProxy's inbound hop passes the caller's certificate on, as rig's inbound sidecar does.
const HAPROXY_XFCC: &str = "    http-request set-header x-forwarded-client-cert \
                            \"Hash=%[ssl_c_sha1,hex];Subject=\\\"%[ssl_c_s_dn]\\\"\"";

/// The ports of one two-hop chain: the client's entry points (HTTP/1.1, h2c, gRPC) and the
/// inbound hop's (HTTP/1.1, h2 and gRPC paths; HAProxy uses its h2 path for gRPC).
#[derive(Debug, Clone, Copy)]
struct Ports {
    listen: SocketAddr,
    listen_h2: SocketAddr,
    listen_grpc: SocketAddr,
    inbound: SocketAddr,
    inbound_h2: SocketAddr,
    inbound_grpc: SocketAddr,
}

impl Ports {
    fn free() -> anyhow::Result<Self> {
        Ok(Self {
            listen: procs::free_addr()?,
            listen_h2: procs::free_addr()?,
            listen_grpc: procs::free_addr()?,
            inbound: procs::free_addr()?,
            inbound_h2: procs::free_addr()?,
            inbound_grpc: procs::free_addr()?,
        })
    }
}

/// Starts the upstream and every two-hop contender that is installed; rig failing is an
/// error, HAProxy or nginx failing is reported unavailable.
pub async fn start(tools: &Tools) -> anyhow::Result<Setup> {
    let dir = tempfile::Builder::new()
        .prefix("rig-bench-mtls-")
        .tempdir()?;
    let (upstream, up) = contenders::start_upstream(dir.path())?;
    let mut setup = Setup {
        contenders: vec![Contender::new(Kind::Direct, up, Some(up), Vec::new()).with_grpc(up)],
        unavailable: Vec::new(),
        support: vec![upstream],
        dir,
    };
    for mtls in [false, true] {
        let (control, c, inbound) = start_rig(tools, up, setup.dir.path(), mtls)
            .with_context(|| format!("start rig's two hops (mtls: {mtls})"))?;
        setup.support.push(control);
        if mtls {
            refuses_plaintext(c.kind, &inbound).await?;
        }
        setup.contenders.push(c);
    }
    let pki = Pki::create(&setup.dir.path().join("pki"))?;
    let dir = setup.dir.path().to_owned();
    let candidates: [(Kind, Option<&PathBuf>); 3] = [
        (Kind::HaproxyPlain2, tools.haproxy.as_ref()),
        (Kind::HaproxyMtls2, tools.haproxy.as_ref()),
        (Kind::NginxMtls2, tools.nginx.as_ref()),
    ];
    for (kind, program) in candidates {
        let Some(program) = program else {
            setup
                .unavailable
                .push((kind, "skipped: not installed".into()));
            continue;
        };
        let started = match kind {
            Kind::HaproxyPlain2 => start_haproxy(program, up, &dir, None),
            Kind::HaproxyMtls2 => start_haproxy(program, up, &dir, Some(&pki)),
            _ => start_nginx(program, up, &dir, &pki),
        };
        match started {
            Ok((c, inbound)) => {
                if kind != Kind::HaproxyPlain2 {
                    refuses_plaintext(kind, &inbound).await?;
                }
                setup.contenders.push(c);
            }
            Err(e) => {
                tracing::warn!(contender = kind.name(), error = %format!("{e:#}"), "not available");
                setup
                    .unavailable
                    .push((kind, format!("not available: {e:#}").replace('\n', " ")));
            }
        }
    }
    Ok(setup)
}

/// One mesh: `rig up` (with Citadel unless plaintext) on the two-hop registry, then the
/// client's proxy and the three upstream sidecars (HTTP/1.1, HTTP/2 and gRPC services).
fn start_rig(
    tools: &Tools,
    upstream: SocketAddr,
    parent: &Path,
    mtls: bool,
) -> anyhow::Result<(Guard, Contender, Vec<SocketAddr>)> {
    let kind = if mtls {
        Kind::RigMtls2
    } else {
        Kind::RigPlain2
    };
    let dir = parent.join(kind.name());
    std::fs::create_dir_all(&dir)?;
    let p = Ports::free()?;
    let registry = dir.join("registry.hcl");
    let port = |a: SocketAddr| a.port().to_string();
    let text = render(
        REGISTRY_TMPL,
        &[
            ("upstream_port", port(upstream)),
            ("inbound_port", port(p.inbound)),
            ("inbound_h2_port", port(p.inbound_h2)),
            ("inbound_grpc_port", port(p.inbound_grpc)),
            ("client_port", port(procs::free_addr()?)),
            ("client_inbound_port", port(procs::free_addr()?)),
            ("outbound_port", port(p.listen)),
            ("outbound_h2_port", port(p.listen_h2)),
            ("outbound_grpc_port", port(p.listen_grpc)),
        ],
    );
    std::fs::write(&registry, text)?;
    let (xds, debug, citadel) = (
        procs::free_addr()?,
        procs::free_addr()?,
        procs::free_addr()?,
    );
    let state = dir.join("citadel");
    let mut up = vec![
        "up".into(),
        "--registry".into(),
        registry.display().to_string(),
        "--xds-addr".into(),
        xds.to_string(),
        "--debug-addr".into(),
        debug.to_string(),
    ];
    if mtls {
        up.extend([
            "--citadel-addr".into(),
            citadel.to_string(),
            "--citadel-state".into(),
            state.display().to_string(),
        ]);
    } else {
        up.push("--plaintext".into());
    }
    let log = [("RUST_LOG", RIG_LOG)];
    let mut control = Guard::spawn("rig-up", &tools.rig, &up, Some(CPU_CLIENT), &dir, &log)?;
    control.wait_port(xds)?;
    let bundle = state.join("trust-bundle.pem");
    if mtls {
        wait_file(&mut control, &bundle)?;
    }
    let chain = [
        (
            "bench-client",
            "client",
            vec![p.listen, p.listen_h2, p.listen_grpc],
        ),
        ("bench-upstream-1", "bench-upstream", vec![p.inbound]),
        (
            "bench-upstream-h2-1",
            "bench-upstream-h2",
            vec![p.inbound_h2],
        ),
        (
            "bench-upstream-grpc-1",
            "bench-upstream-grpc",
            vec![p.inbound_grpc],
        ),
    ];
    let mut proxies = Vec::new();
    for (id, service, listeners) in chain {
        let admin = procs::free_addr()?;
        let mut args = vec![
            "proxy".into(),
            "--id".into(),
            id.into(),
            "--pilot".into(),
            format!("http://{xds}"),
            "--admin".into(),
            admin.to_string(),
        ];
        if mtls {
            let token_file = dir.join(format!("{id}.token"));
            std::fs::write(&token_file, token(&tools.rig, &state, service)?)?;
            args.extend([
                "--citadel".into(),
                citadel.to_string(),
                "--citadel-ca".into(),
                bundle.display().to_string(),
                "--token-file".into(),
                token_file.display().to_string(),
            ]);
        }
        let g = Guard::spawn(id, &tools.rig, &args, Some(CPU_PROXY), &dir, &log)?;
        proxies.push((g, admin, listeners));
    }
    for (g, admin, listeners) in &mut proxies {
        g.wait_port(*admin)?;
        for l in listeners.iter() {
            g.wait_port(*l)
                .with_context(|| format!("{}'s listener {l}", g.name))?;
        }
    }
    let guards = proxies.into_iter().map(|(g, _, _)| g).collect();
    Ok((
        control,
        Contender::new(kind, p.listen, Some(p.listen_h2), guards).with_grpc(p.listen_grpc),
        vec![p.inbound, p.inbound_h2, p.inbound_grpc],
    ))
}

/// Fails if an mTLS contender's inbound hop answers a plaintext request: the chain serving
/// requests then proves its hops speak TLS to each other.
async fn refuses_plaintext(kind: Kind, inbound: &[SocketAddr]) -> anyhow::Result<()> {
    for &addr in inbound {
        let probe = async {
            let mut c = Conn::connect(addr).await?;
            c.get().await
        };
        if let Ok(Ok(())) = tokio::time::timeout(PLAINTEXT_PROBE_TIMEOUT, probe).await {
            anyhow::bail!(
                "{}'s inbound hop {addr} answered a plaintext request: its hops do not require \
                 TLS",
                kind.name()
            );
        }
    }
    Ok(())
}

/// A one-time bootstrap token for `service`, made as an operator would:
/// `rig citadel token create`.
fn token(rig: &Path, state: &Path, service: &str) -> anyhow::Result<String> {
    let out = Command::new(rig)
        .args(["citadel", "token", "create", "--state"])
        .arg(state)
        .args(["--service", service, "--ttl", TOKEN_TTL])
        .output()
        .context("run rig citadel token create")?;
    anyhow::ensure!(
        out.status.success(),
        "rig citadel token create failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let token = text.lines().last().unwrap_or("").trim().to_owned();
    anyhow::ensure!(
        !token.is_empty(),
        "rig citadel token create printed nothing"
    );
    Ok(token)
}

/// Waits for `rig up` to write its trust bundle, failing early if it exits.
fn wait_file(control: &mut Guard, path: &Path) -> anyhow::Result<()> {
    let deadline = Instant::now() + procs::START_TIMEOUT;
    while !path.is_file() {
        control.check_alive()?;
        anyhow::ensure!(
            Instant::now() < deadline,
            "{} did not appear: {}",
            path.display(),
            procs::tail(&control.log)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Two HAProxy processes: the inbound hop (in front of the upstream), then the outbound one;
/// with `pki`, TLS 1.3 and client certificates between them.
fn start_haproxy(
    program: &Path,
    upstream: SocketAddr,
    parent: &Path,
    pki: Option<&Pki>,
) -> anyhow::Result<(Contender, Vec<SocketAddr>)> {
    let kind = if pki.is_some() {
        Kind::HaproxyMtls2
    } else {
        Kind::HaproxyPlain2
    };
    let dir = parent.join(kind.name());
    std::fs::create_dir_all(&dir)?;
    let p = Ports::free()?;
    let (hop_h1, hop_h2, bind_h1, bind_h2, xfcc) = match pki {
        None => (
            String::new(),
            " proto h2".to_owned(),
            String::new(),
            " proto h2".to_owned(),
            "",
        ),
        Some(pki) => {
            let client = format!(
                " ssl crt {} ca-file {} verify required verifyhost {SERVER_NAME} \
                 sni str({SERVER_NAME}) ssl-min-ver TLSv1.3",
                pki.client.combined.display(),
                pki.ca.display()
            );
            let server = format!(
                " ssl crt {} ca-file {} verify required ssl-min-ver TLSv1.3",
                pki.server.combined.display(),
                pki.ca.display()
            );
            (
                format!("{client} alpn http/1.1"),
                format!("{client} alpn h2"),
                format!("{server} alpn http/1.1"),
                format!("{server} alpn h2"),
                HAPROXY_XFCC,
            )
        }
    };
    let inbound_cfg = dir.join("inbound.cfg");
    std::fs::write(
        &inbound_cfg,
        render(
            HAPROXY_IN_TMPL,
            &[
                ("inbound", p.inbound.to_string()),
                ("inbound_h2", p.inbound_h2.to_string()),
                ("bind_h1", bind_h1),
                ("bind_h2", bind_h2),
                ("xfcc", xfcc.to_owned()),
                ("upstream", upstream.to_string()),
            ],
        ),
    )?;
    let outbound_cfg = dir.join("outbound.cfg");
    std::fs::write(
        &outbound_cfg,
        render(
            HAPROXY_OUT_TMPL,
            &[
                ("listen", p.listen.to_string()),
                ("listen_h2", p.listen_h2.to_string()),
                ("inbound", p.inbound.to_string()),
                ("inbound_h2", p.inbound_h2.to_string()),
                ("hop_h1", hop_h1),
                ("hop_h2", hop_h2),
            ],
        ),
    )?;
    let haproxy = |name: &str, cfg: &Path| {
        let args = ["-f".into(), cfg.display().to_string(), "-db".into()];
        Guard::spawn(name, program, &args, Some(CPU_PROXY), &dir, &[])
    };
    let mut inbound = haproxy("haproxy-inbound", &inbound_cfg)?;
    inbound.wait_port(p.inbound)?;
    inbound.wait_port(p.inbound_h2)?;
    let mut outbound = haproxy("haproxy-outbound", &outbound_cfg)?;
    outbound.wait_port(p.listen)?;
    outbound.wait_port(p.listen_h2)?;
    // HAProxy proxies gRPC as any HTTP/2 traffic (mode http, h2 on both sides): its gRPC
    // entry point is its h2c one.
    let c = Contender::new(kind, p.listen, Some(p.listen_h2), vec![outbound, inbound])
        .with_grpc(p.listen_h2);
    Ok((c, vec![p.inbound, p.inbound_h2]))
}

/// Two nginx processes (master and one worker each), TLS 1.3 and client certificates between
/// them. No h2c path (nginx's HTTP proxy speaks HTTP/1.x to its upstreams); gRPC through a
/// server of its own in each, with the grpc module (HTTP/2 on both sides).
fn start_nginx(
    program: &Path,
    upstream: SocketAddr,
    parent: &Path,
    pki: &Pki,
) -> anyhow::Result<(Contender, Vec<SocketAddr>)> {
    let dir = parent.join(Kind::NginxMtls2.name());
    let p = Ports::free()?;
    let common = |prefix: &Path| {
        [
            ("dir", prefix.display().to_string()),
            ("ca", pki.ca.display().to_string()),
            ("upstream", upstream.to_string()),
            ("inbound", p.inbound.to_string()),
            ("inbound_grpc", p.inbound_grpc.to_string()),
        ]
    };
    let inbound_dir = dir.join("inbound");
    let mut vars = common(&inbound_dir).to_vec();
    vars.extend([
        ("server_cert", pki.server.cert.display().to_string()),
        ("server_key", pki.server.key.display().to_string()),
    ]);
    let mut inbound = spawn_nginx(program, &inbound_dir, "nginx-inbound", NGINX_IN_TMPL, &vars)?;
    inbound.wait_port(p.inbound)?;
    inbound.wait_port(p.inbound_grpc)?;
    let outbound_dir = dir.join("outbound");
    let mut vars = common(&outbound_dir).to_vec();
    vars.extend([
        ("listen", p.listen.to_string()),
        ("listen_grpc", p.listen_grpc.to_string()),
        ("client_cert", pki.client.cert.display().to_string()),
        ("client_key", pki.client.key.display().to_string()),
        ("server_name", SERVER_NAME.to_owned()),
    ]);
    let mut outbound = spawn_nginx(
        program,
        &outbound_dir,
        "nginx-outbound",
        NGINX_OUT_TMPL,
        &vars,
    )?;
    outbound.wait_port(p.listen)?;
    outbound.wait_port(p.listen_grpc)?;
    let c = Contender::new(Kind::NginxMtls2, p.listen, None, vec![outbound, inbound])
        .with_grpc(p.listen_grpc);
    Ok((c, vec![p.inbound, p.inbound_grpc]))
}

/// One nginx in the foreground, its configuration and files under `prefix`.
fn spawn_nginx(
    program: &Path,
    prefix: &Path,
    name: &str,
    template: &str,
    vars: &[(&str, String)],
) -> anyhow::Result<Guard> {
    std::fs::create_dir_all(prefix)?;
    let cfg = prefix.join("nginx.conf");
    std::fs::write(&cfg, render(template, vars))?;
    let args = [
        "-p".into(),
        prefix.display().to_string(),
        "-e".into(),
        prefix.join("nginx-error.log").display().to_string(),
        "-c".into(),
        cfg.display().to_string(),
        "-g".into(),
        "daemon off;".into(),
    ];
    Guard::spawn(name, program, &args, Some(CPU_PROXY), prefix, &[])
}
