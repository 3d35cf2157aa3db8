//! Citadel paused (SIGSTOP) under TCP traffic: `rig citadel serve` alone, `rig pilot` and the
//! proxies with Nomad workload identity JWTs, and a new connection every 200 ms from
//! `client-1` through `db-1` to a TCP echo, so every probe is a new mTLS handshake.
//!
//! First Citadel sleeps past the leaves' renewal point but not past their expiry: no probe
//! fails and renewal resumes. Then it sleeps past their expiry: new connections fail closed,
//! with nothing reaching the app, and (when checked) come back once Citadel does.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use rigging_tests::{eventually, free_port};
use tokio::time::Instant;

use crate::admin::{Identity, identity, ready, unix_now};
use crate::fixture::{Credential, Instance, Mesh, STARTUP, loopback};
use crate::nomad::Nomad;
use crate::traffic::{Probe, Report, Tap, Traffic};
use crate::{
    LEAF_TTL_ARG, TCP_EVERY, failures_of, print_report, renewed_since, run_for, tls_failures,
};

/// Longest first pause: past the renewal point (half the TTL), short of expiry.
const SHORT_PAUSE: Duration = Duration::from_secs(7);
/// Shortest first pause: still well past the renewal point.
const SHORT_PAUSE_MIN: Duration = Duration::from_secs(6);
/// What the leaves must have left when the first pause ends, in seconds: time for the renewal
/// Citadel resumes into, or a retry half a second later, to land before they expire.
const LEFT_AT_RESUME: f64 = 1.5;
/// How long to wait for a moment when both leaves have [`SHORT_PAUSE_MIN`] and
/// [`LEFT_AT_RESUME`] left: both renewed within about two seconds of each other.
const ALIGNED_WITHIN: Duration = Duration::from_secs(40);
/// The second pause: longer than the TTL, so every leaf expires.
const LONG_PAUSE: Duration = Duration::from_secs(15);
/// Renewal after an expiry backs off; new connections must work again within this.
const RECOVERY: Duration = Duration::from_secs(40);
/// How long traffic runs after the recovery.
const AFTER_RECOVERY: Duration = Duration::from_secs(3);
/// Slack around the first expiry when sorting probes: `not_after` counts whole seconds.
const EXPIRY_MARGIN: Duration = Duration::from_millis(1500);

/// The mesh under test and its traffic.
#[derive(Debug)]
struct Paused {
    mesh: Mesh,
    /// Before the app, counting the connections that reach it.
    tap: Tap,
    /// The tap's count when the traffic started.
    tap_before: u64,
    load: Traffic,
    // kept for its JWKS endpoint, which Citadel reads
    _nomad: Nomad,
}

/// The long pause: when it started and ended, and when the first leaf expired.
#[derive(Debug)]
struct LongPause {
    expired: Instant,
    resumed: Instant,
    metric_before: (f64, f64),
    log_before: [usize; 2],
}

/// Citadel paused past half the TTL (traffic goes on, renewal recovers), then past expiry
/// (new connections fail closed, nothing reaches the app), then back: new connections work
/// again within [`RECOVERY`], and keep working.
pub async fn scenario() -> anyhow::Result<()> {
    let mut p = Paused::start().await?;
    p.short_pause().await?;
    let pause = p.long_pause().await?;
    let recovered = p.recovery(pause.resumed).await?;
    let report = p.load.finish().await;
    print_report(&report);
    p.check_fail_closed(&report, &pause).await?;
    let after_recovery = probes(&report, |p| p.at >= recovered);
    let failed = failures_of(&after_recovery);
    assert!(failed.is_empty(), "failed after the recovery: {failed:#?}");
    // renewal goes on, and the proxies' streams to Pilot lived through it all
    let held = p.mesh.identities().await?;
    renewed_since(&mut p.mesh, &held, STARTUP).await?;
    p.mesh.wait_ready(&["db-1", "client-1"]).await?;
    p.mesh.pass();
    Ok(())
}

impl Paused {
    /// Citadel trusting our Nomad, Pilot, the echo app behind a tap, both proxies ready, and
    /// the TCP probes running.
    async fn start() -> anyhow::Result<Self> {
        let mut mesh = Mesh::new().await?;
        let nomad = Nomad::start(free_port()).await?;
        let db = Instance::new("db", "tcp", "db-1", &[]);
        let client = Instance::new("client", "http", "client-1", &["db"]);
        mesh.write_registry(&[&db, &client])?;
        let mut args = vec!["--leaf-ttl".to_owned(), LEAF_TTL_ARG.to_owned()];
        args.extend(nomad.citadel_args());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mesh.citadel_serve(&args).await?;
        let pilot_jwt = nomad.service_jwt("rigging-pilot")?;
        mesh.pilot(&Credential::NomadJwt(pilot_jwt)).await?;
        let app_port = free_port();
        let tap = Tap::start(db.app, loopback(app_port)).await?;
        mesh.spawn_app("tcp", &db, app_port)?;
        // started together, so that their renewals keep close phases
        for i in [&db, &client] {
            let jwt = nomad.service_jwt(&i.service)?;
            mesh.spawn_proxy(&i.id, &Credential::NomadJwt(jwt))?;
        }
        mesh.wait_ready(&["db-1", "client-1"]).await?;
        let target = client.upstream("db");
        eventually("db echoes through client-1", STARTUP, async || {
            Ok(rigging_examples_apps::tcp_echo(target, b"hello").await?)
        })
        .await?;
        for i in [&db, &client] {
            let id = identity(mesh.admin(&i.id)).await?;
            assert_eq!(id.spiffe_id, i.spiffe_id(), "{}", i.id);
        }
        let tap_before = tap.connections();
        let mut load = Traffic::start();
        load.tcp(target, "db v1 (db-1) ready".to_owned(), TCP_EVERY);
        Ok(Self {
            mesh,
            tap,
            tap_before,
            load,
            _nomad: nomad,
        })
    }

    /// Pauses Citadel past the leaves' renewal point but not past their expiry: every probe
    /// succeeds, and every proxy renews after the resume.
    async fn short_pause(&mut self) -> anyhow::Result<()> {
        let needed = SHORT_PAUSE_MIN.as_secs_f64() + LEFT_AT_RESUME;
        let mesh = &mut self.mesh;
        let (held, left) = eventually(
            "both leaves fresh enough to pause",
            ALIGNED_WITHIN,
            async || {
                let held = mesh.identities().await?;
                let left = seconds_left(&held);
                anyhow::ensure!(left >= needed, "{left:.1}s left");
                Ok((held, left))
            },
        )
        .await?;
        let pause = Duration::from_secs_f64(left - LEFT_AT_RESUME).min(SHORT_PAUSE);
        self.mesh.signal("citadel", "STOP")?;
        tokio::time::sleep(pause).await;
        self.mesh.signal("citadel", "CONT")?;
        let resumed = Instant::now();
        eprintln!("citadel paused for {pause:?} with {left:.1}s left on the leaves");
        renewed_since(&mut self.mesh, &held, STARTUP).await?;
        eprintln!("renewal recovered {:?} after the resume", resumed.elapsed());
        let failed = failures_of(&self.load.so_far());
        assert!(
            failed.is_empty(),
            "failed during the short pause: {failed:#?}"
        );
        Ok(())
    }

    /// Pauses Citadel for [`LONG_PAUSE`], past every leaf's expiry.
    async fn long_pause(&mut self) -> anyhow::Result<LongPause> {
        let metric_before = tls_failures(&self.mesh).await?;
        let log_before = [
            self.mesh.process("db-1-proxy").log().len(),
            self.mesh.process("client-1-proxy").log().len(),
        ];
        self.mesh.signal("citadel", "STOP")?;
        let stopped = Instant::now();
        // read once Citadel is stopped (and an answer it sent just before has landed)
        tokio::time::sleep(Duration::from_millis(300)).await;
        let held = self.mesh.identities().await?;
        let expired = Instant::now() + Duration::from_secs_f64(seconds_left(&held).max(0.0));
        eprintln!("leaves held while paused: {held:?}");
        tokio::time::sleep(LONG_PAUSE.saturating_sub(stopped.elapsed())).await;
        // expired leaves: no proxy calls itself ready
        for id in ["db-1", "client-1"] {
            let admin = self.mesh.admin(id);
            assert!(!ready(admin).await?, "{id} ready with an expired leaf");
        }
        self.mesh.signal("citadel", "CONT")?;
        Ok(LongPause {
            expired,
            resumed: Instant::now(),
            metric_before,
            log_before,
        })
    }

    /// Waits until a probe started after `resumed` succeeds; returns when it started.
    async fn recovery(&mut self, resumed: Instant) -> anyhow::Result<Instant> {
        let (mesh, load) = (&mut self.mesh, &self.load);
        let recovered = eventually("new connections succeed again", RECOVERY, async || {
            mesh.check_running()?;
            let first_ok = load
                .so_far()
                .into_iter()
                .filter(|p| p.at >= resumed && p.result.is_ok())
                .map(|p| p.at)
                .min();
            first_ok.context("no successful connection since the resume")
        })
        .await?;
        eprintln!(
            "connections work again {:?} after the resume",
            recovered.duration_since(resumed)
        );
        run_for(&mut self.mesh, AFTER_RECOVERY).await?;
        Ok(recovered)
    }

    /// No probe failed before the first expiry; every probe failed, closed and with nothing
    /// reaching the app, from then until Citadel came back; the proxies counted and logged why.
    async fn check_fail_closed(&self, report: &Report, pause: &LongPause) -> anyhow::Result<()> {
        let before_expiry = probes(report, |p| p.at + EXPIRY_MARGIN < pause.expired);
        let failed = failures_of(&before_expiry);
        assert!(
            failed.is_empty(),
            "failed before any leaf expired: {failed:#?}"
        );
        let expired = probes(report, |p| {
            p.at > pause.expired + EXPIRY_MARGIN && p.at < pause.resumed
        });
        assert!(
            expired.len() >= 10,
            "{} probes while expired",
            expired.len()
        );
        let through: Vec<_> = expired.iter().filter(|p| p.result.is_ok()).collect();
        assert!(
            through.is_empty(),
            "connections made with expired leaves: {through:?}"
        );

        // never a plaintext fallback: only the connections that succeeded reached the app
        let ok = report.probes.iter().filter(|p| p.result.is_ok()).count() as u64;
        let reached = self.tap.connections() - self.tap_before;
        assert_eq!(
            reached, ok,
            "connections that reached the app, against successes"
        );

        let metric_after = tls_failures(&self.mesh).await?;
        let before = pause.metric_before;
        eprintln!(
            "tls failures (client-1 upstream, db-1 downstream): {before:?} -> {metric_after:?}"
        );
        assert!(
            metric_after.0 > before.0 || metric_after.1 > before.1,
            "no tls failure counted: {before:?} -> {metric_after:?}"
        );
        let names_expiry = ["db-1-proxy", "client-1-proxy"]
            .into_iter()
            .zip(pause.log_before)
            .any(|(name, from)| {
                let log = self.mesh.process(name).log();
                log.get(from..)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.contains("handshake") && l.to_lowercase().contains("expired"))
            });
        assert!(
            names_expiry,
            "no handshake failure naming the expiry in the proxies' logs"
        );
        Ok(())
    }
}

/// Seconds until the first of `held` expires.
fn seconds_left(held: &BTreeMap<String, Identity>) -> f64 {
    let first = held.values().map(|i| i.not_after).min().unwrap_or_default();
    first as f64 - unix_now()
}

/// The probes of `report` that `pick` keeps.
fn probes(report: &Report, pick: impl Fn(&Probe) -> bool) -> Vec<Probe> {
    report.probes.iter().filter(|p| pick(p)).cloned().collect()
}
