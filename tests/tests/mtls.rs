//! mTLS end to end with the real `rig` binary: identities from Citadel, mTLS between proxies
//! by default, certificates and roots rotating under load, and Citadel paused.
//!
//! Every process is its own `rig`, on free loopback ports, in a temporary folder; each test
//! prints every process's log when it fails.

#[path = "mtls/admin.rs"]
mod admin;
#[path = "mtls/fixture.rs"]
mod fixture;
#[path = "mtls/nomad.rs"]
mod nomad;
#[path = "mtls/nomad_inject.rs"]
mod nomad_inject;
#[path = "mtls/paused.rs"]
mod paused;
#[path = "mtls/traffic.rs"]
mod traffic;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use admin::{Identity, identity, metric_sum, proxy_status, ready, unix_now};
use anyhow::Context;
use fixture::{Credential, Instance, Mesh, STARTUP, TRUST_DOMAIN, loopback, spiffe_id};
use http::Method;
use rigging_tests::{eventually, free_port, request};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;
use traffic::{Report, Tap, Traffic};

/// The shortest leaf lifetime Citadel issues, so that renewals come every few seconds.
const LEAF_TTL: Duration = Duration::from_secs(10);
const LEAF_TTL_ARG: &str = "10s";
/// How often Citadel re-reads its state folder (`DEFAULT_RELOAD_INTERVAL`), so how long a
/// `rotate-root` step may take to reach the certificates it issues.
const CITADEL_RELOAD: Duration = Duration::from_secs(5);
/// How long a rotation step may take to reach every proxy: the trust bundle is refreshed every
/// 30 s at worst (and with every renewal), with room for a slow machine.
const ROTATION_STEP: Duration = Duration::from_secs(40);
/// One HTTP request every 20 ms (50 per second), alternating between two services.
const HTTP_EVERY: Duration = Duration::from_millis(20);
/// A new TCP connection (so a new mTLS handshake between proxies) every 200 ms.
const TCP_EVERY: Duration = Duration::from_millis(200);
/// How long the steady load runs while certificates rotate.
const LOAD_FOR: Duration = Duration::from_secs(25);
/// How long a refusal may take to show in logs and metrics.
const SHOWS_WITHIN: Duration = Duration::from_secs(10);
/// How long a proxy with another service's certificate is watched not becoming ready.
const NEVER_READY_FOR: Duration = Duration::from_secs(3);
/// Metric names, as `/metrics` spells them.
const HANDSHAKE_FAILURES: &str = "rig_downstream_tls_handshake_failures_total";
const UPSTREAM_TLS_FAILURES: &str = "rig_upstream_tls_failures_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mesh_runs_mtls_by_default() -> anyhow::Result<()> {
    let mut mesh = Mesh::new().await?;
    let api = Instance::new("api", "http", "api-1", &[]);
    let db = Instance::new("db", "tcp", "db-1", &[]);
    let web = Instance::new("web", "http", "web-1", &[]);
    let client = Instance::new("client", "http", "client-1", &["api", "db"]);
    mesh.write_registry(&[&api, &db, &web, &client])?;
    // no flag: mTLS is the default
    mesh.up(&[]).await?;
    // each app behind a tap that counts what reaches it
    let (api_port, db_port) = (free_port(), free_port());
    let api_tap = Tap::start(api.app, loopback(api_port)).await?;
    let db_tap = Tap::start(db.app, loopback(db_port)).await?;
    mesh.spawn_app("http", &api, api_port)?;
    mesh.spawn_app("tcp", &db, db_port)?;
    mesh.spawn_proxies_with_tokens(&[&api, &db, &client])
        .await?;
    mesh.wait_ready(&["api-1", "db-1", "client-1"]).await?;

    // through the mesh, and the app is told who called
    let caller = client.spiffe_id();
    let body = eventually("api answers through client-1", STARTUP, async || {
        let reply = request(client.upstream("api"), Method::GET, "/", &[], "", false).await?;
        anyhow::ensure!(reply.status == 200, "{}: {}", reply.status, reply.body);
        Ok(reply.body)
    })
    .await?;
    assert_eq!(
        body,
        format!("hello from api v1 (api-1); caller {caller}\n")
    );
    let (banner, echoed) = eventually("db echoes through client-1", STARTUP, async || {
        Ok(rigging_examples_apps::tcp_echo(client.upstream("db"), b"over mtls").await?)
    })
    .await?;
    assert_eq!(banner, "db v1 (db-1) ready");
    assert_eq!(echoed, b"over mtls");

    // every proxy holds its own service's identity
    for i in [&api, &db, &client] {
        let id = identity(mesh.admin(&i.id)).await?;
        assert_eq!(id.spiffe_id, i.spiffe_id(), "{}", i.id);
        assert_eq!(id.trust_domain, TRUST_DOMAIN, "{}", i.id);
        assert_eq!(id.roots, 1, "{}", i.id);
        assert!(id.not_after as f64 > unix_now(), "{}: {id:?}", i.id);
    }

    // plaintext straight to a sidecar's inbound port: closed unanswered, nothing reaches the app
    refuses_plaintext(
        &mesh,
        &api,
        &api_tap,
        b"GET / HTTP/1.1\r\nhost: api\r\n\r\n",
    )
    .await?;
    refuses_plaintext(&mesh, &db, &db_tap, b"hello in the clear\n").await?;

    // a token for db, used by web-1: the proxy is db, and Pilot keeps web's configuration
    let token = mesh.token("db").await?;
    let web_admin = mesh.spawn_proxy("web-1", &Credential::Token(token))?;
    let got = eventually("web-1 gets a certificate", STARTUP, async || {
        mesh.check_running()?;
        identity(web_admin).await
    })
    .await?;
    assert_eq!(
        got.spiffe_id,
        spiffe_id("db"),
        "the token's identity, not the proxy's"
    );
    eventually("pilot refuses web-1", SHOWS_WITHIN, async || {
        let log = mesh.process("rig-up").log();
        let refused = log
            .lines()
            .any(|l| l.contains("certificate of another service") && l.contains("proxy=web-1"));
        anyhow::ensure!(refused, "no refusal of web-1 in rig up's log");
        Ok(())
    })
    .await?;
    let watched = Instant::now();
    while watched.elapsed() < NEVER_READY_FOR {
        assert!(
            !ready(web_admin).await?,
            "web-1 became ready with db's certificate"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let syncz = mesh.syncz().await?;
    let connected = proxy_status(&syncz, "web-1").is_some_and(|p| p["connected"] == true);
    assert!(!connected, "pilot shows web-1 connected: {syncz}");
    mesh.pass();
    Ok(())
}

/// Sends `bytes` in the clear to `instance`'s inbound (mTLS) port: the connection must close
/// without an answer, the proxy count and log the refusal, and nothing reach the app behind
/// `tap`.
async fn refuses_plaintext(
    mesh: &Mesh,
    instance: &Instance,
    tap: &Tap,
    bytes: &[u8],
) -> anyhow::Result<()> {
    let (id, admin) = (&instance.id, mesh.admin(&instance.id));
    let tap_before = (tap.connections(), tap.bytes());
    let refused_before = metric_sum(admin, HANDSHAKE_FAILURES).await?;
    let answer = plaintext(instance.inbound(), bytes).await?;
    assert!(
        answer.is_empty(),
        "{id}'s sidecar answered plaintext: {answer:?}"
    );
    eventually(
        &format!("{id} counts the refusal"),
        SHOWS_WITHIN,
        async || {
            let now = metric_sum(admin, HANDSHAKE_FAILURES).await?;
            anyhow::ensure!(now > refused_before, "{HANDSHAKE_FAILURES} still {now}");
            Ok(())
        },
    )
    .await?;
    let log = mesh.process(&format!("{id}-proxy")).log();
    assert!(
        log.contains("plaintext_on_strict_port"),
        "{id}'s log names no reason"
    );
    let tap_after = (tap.connections(), tap.bytes());
    assert_eq!(
        tap_before, tap_after,
        "plaintext reached {id}'s app (connections, bytes)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_under_load_without_a_failed_request() -> anyhow::Result<()> {
    let (mut mesh, client) = loaded_mesh().await?;
    let watch = traffic::CertWatch::start(mesh.proxies());
    let mut load = steady_load(&client);
    run_for(&mut mesh, LOAD_FOR).await?;
    let report = load.finish().await;
    let expiries = watch.expiries();
    print_report(&report);
    eprintln!("not_after seen per proxy: {expiries:?}");

    assert!(
        report.failures().is_empty(),
        "failed: {:#?}",
        report.failures()
    );
    enough_load(&report);
    for (id, _) in mesh.proxies() {
        let seen = expiries.get(&id).cloned().unwrap_or_default();
        assert!(
            seen.len() >= 3 && seen.is_sorted(),
            "{id}'s certificate did not advance twice: {seen:?}"
        );
    }
    mesh.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_rotation_under_load_without_a_failed_request() -> anyhow::Result<()> {
    let (mut mesh, client) = loaded_mesh().await?;
    let state = mesh.state.display().to_string();
    let old = std::fs::read_to_string(mesh.state.join("signer"))?
        .trim()
        .to_owned();
    let mut load = steady_load(&client);
    run_for(&mut mesh, Duration::from_secs(2)).await?;

    // 1. a new root joins every bundle
    let out = mesh
        .rig_ok(&["citadel", "rotate-root", "--state", &state, "add"])
        .await?;
    let new = out
        .trim()
        .strip_prefix("added root ")
        .with_context(|| format!("rotate-root add printed {out:?}"))?
        .to_owned();
    let step = Instant::now();
    every_proxy(&mut mesh, "trusts both roots", |i| i.roots == 2).await?;
    eprintln!("add: every proxy trusts 2 roots after {:?}", step.elapsed());

    // 2. the new root signs; wait until every leaf was issued after Citadel re-read its state
    mesh.rig_ok(&["citadel", "rotate-root", "--state", &state, "switch", &new])
        .await?;
    let (step, switched) = (Instant::now(), unix_now());
    let fresh = switched + (CITADEL_RELOAD + LEAF_TTL).as_secs_f64() + 1.0;
    every_proxy(&mut mesh, "holds a leaf of the new root", |i| {
        i.not_after as f64 >= fresh
    })
    .await?;
    eprintln!(
        "switch: every proxy holds a new leaf after {:?}",
        step.elapsed()
    );

    // 3. the old root leaves every bundle; new handshakes go on with the new root alone
    mesh.rig_ok(&["citadel", "rotate-root", "--state", &state, "drop", &old])
        .await?;
    let step = Instant::now();
    every_proxy(&mut mesh, "trusts only the new root", |i| i.roots == 1).await?;
    let dropped = Instant::now();
    eprintln!("drop: every proxy trusts 1 root after {:?}", step.elapsed());
    run_for(&mut mesh, Duration::from_secs(5)).await?;

    let report = load.finish().await;
    print_report(&report);
    assert!(
        report.failures().is_empty(),
        "failed: {:#?}",
        report.failures()
    );
    enough_load(&report);
    let after_drop = report.of("tcp").iter().filter(|p| p.at > dropped).count();
    assert!(
        after_drop >= 15,
        "only {after_drop} new TCP connections after the drop"
    );
    // the proxies' streams to Pilot lived through it all
    mesh.wait_ready(&["web-1", "api-1", "db-1", "client-1"])
        .await?;
    mesh.pass();
    Ok(())
}

/// Citadel stopped (`kill -STOP`) past half the TTL, then past expiry, with Nomad workload
/// identity JWTs as the proxies' credentials: traffic goes on, then fails closed, then recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn citadel_paused_past_half_and_past_expiry() -> anyhow::Result<()> {
    paused::scenario().await
}

/// `rig up --leaf-ttl 10s` with `web-1`, `api-1` (HTTP), `db-1` (TCP echo) and `client-1`
/// calling all three, every proxy with a bootstrap token, ready and answering.
async fn loaded_mesh() -> anyhow::Result<(Mesh, Instance)> {
    let mut mesh = Mesh::new().await?;
    let web = Instance::new("web", "http", "web-1", &[]);
    let api = Instance::new("api", "http", "api-1", &[]);
    let db = Instance::new("db", "tcp", "db-1", &[]);
    let client = Instance::new("client", "http", "client-1", &["web", "api", "db"]);
    mesh.write_registry(&[&web, &api, &db, &client])?;
    mesh.up(&["--leaf-ttl", LEAF_TTL_ARG]).await?;
    mesh.spawn_app("http", &web, web.app)?;
    mesh.spawn_app("http", &api, api.app)?;
    mesh.spawn_app("tcp", &db, db.app)?;
    mesh.spawn_proxies_with_tokens(&[&web, &api, &db, &client])
        .await?;
    mesh.wait_ready(&["web-1", "api-1", "db-1", "client-1"])
        .await?;
    for service in ["web", "api"] {
        eventually(&format!("{service} answers"), STARTUP, async || {
            let reply = request(client.upstream(service), Method::GET, "/", &[], "", false).await?;
            anyhow::ensure!(reply.status == 200, "{}: {}", reply.status, reply.body);
            Ok(())
        })
        .await?;
    }
    eventually("db answers", STARTUP, async || {
        Ok(rigging_examples_apps::tcp_echo(client.upstream("db"), b"hello").await?)
    })
    .await?;
    Ok((mesh, client))
}

/// 50 HTTP requests a second through `client` to web and api, and a new TCP connection to db
/// every 200 ms.
fn steady_load(client: &Instance) -> Traffic {
    let mut load = Traffic::start();
    let targets = vec![
        (client.upstream("web"), "web-1".to_owned()),
        (client.upstream("api"), "api-1".to_owned()),
    ];
    load.http(targets, client.spiffe_id(), HTTP_EVERY);
    load.tcp(
        client.upstream("db"),
        "db v1 (db-1) ready".to_owned(),
        TCP_EVERY,
    );
    load
}

/// At least half the planned probes ran: the load was real, even on a slow machine.
fn enough_load(report: &Report) {
    let ran = report
        .probes
        .last()
        .map_or(Duration::ZERO, |p| p.at - report.started);
    for (kind, every) in [("http", HTTP_EVERY), ("tcp", TCP_EVERY)] {
        let planned = ran.as_secs_f64() / every.as_secs_f64();
        let done = report.of(kind).len() as f64;
        assert!(
            done >= planned / 2.0,
            "{kind}: {done} probes of {planned:.0} planned"
        );
    }
}

fn print_report(report: &Report) {
    for kind in ["http", "tcp"] {
        if !report.of(kind).is_empty() {
            eprintln!("{}", report.summary(kind));
        }
    }
}

fn failures_of(probes: &[traffic::Probe]) -> Vec<String> {
    probes
        .iter()
        .filter_map(|p| p.result.as_ref().err().cloned())
        .collect()
}

/// Lets time pass, failing early if a process exits.
async fn run_for(mesh: &mut Mesh, time: Duration) -> anyhow::Result<()> {
    let until = Instant::now() + time;
    while Instant::now() < until {
        mesh.check_running()?;
        let left = until.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_millis(500))).await;
    }
    Ok(())
}

/// Waits until `check` holds for every proxy's identity.
async fn every_proxy(
    mesh: &mut Mesh,
    what: &str,
    check: impl Fn(&Identity) -> bool,
) -> anyhow::Result<()> {
    eventually(&format!("every proxy {what}"), ROTATION_STEP, async || {
        mesh.check_running()?;
        let all = mesh.identities().await?;
        let lagging: Vec<_> = all.iter().filter(|(_, i)| !check(i)).collect();
        anyhow::ensure!(lagging.is_empty(), "not yet: {lagging:?}");
        Ok(())
    })
    .await
}

/// Waits until every proxy holds a later certificate than in `held`; returns the new ones.
async fn renewed_since(
    mesh: &mut Mesh,
    held: &BTreeMap<String, Identity>,
    within: Duration,
) -> anyhow::Result<BTreeMap<String, Identity>> {
    eventually("every proxy renewed its certificate", within, async || {
        mesh.check_running()?;
        let now = mesh.identities().await?;
        for (id, before) in held {
            let after = now
                .get(id)
                .with_context(|| format!("no identity for {id}"))?;
            anyhow::ensure!(after.not_after > before.not_after, "{id} still {before:?}");
        }
        Ok(now)
    })
    .await
}

/// `(client-1's outbound mTLS failures, db-1's inbound handshake failures)`.
async fn tls_failures(mesh: &Mesh) -> anyhow::Result<(f64, f64)> {
    Ok((
        metric_sum(mesh.admin("client-1"), UPSTREAM_TLS_FAILURES).await?,
        metric_sum(mesh.admin("db-1"), HANDSHAKE_FAILURES).await?,
    ))
}

/// Sends `bytes` in the clear on a new connection to `addr` and reads until the peer closes;
/// what came back (a reset counts as closed).
async fn plaintext(addr: SocketAddr, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(bytes).await?;
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => return Err(e.into()),
        }
        anyhow::Ok(answer)
    };
    tokio::time::timeout(SHOWS_WITHIN, exchange)
        .await
        .with_context(|| format!("{addr} kept a plaintext connection open"))?
}
