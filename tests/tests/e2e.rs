//! End to end with the real `rig` binary: every part its own process, as a user runs them.
//!
//! Ports are picked free per test, never the defaults, so these tests run in parallel with each
//! other and with a running `rig demo`. Each test prints every process's log when it fails.

#[path = "e2e/fixture.rs"]
mod fixture;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use fixture::{CLIENT_ID, STARTUP, Stack};
use rigging_tests::{Proc, eventually, free_port, rig_binary, rig_command, strip_ansi};

/// The promise of `examples/demo/registry.hcl`: an edit reaches the proxies within a second.
const EDIT_TO_TRAFFIC: Duration = Duration::from_secs(1);
/// The longest `rig demo --requests 3` may take: startup plus three one-second ticks, with room.
const DEMO_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the demo may take to stop its children after a SIGTERM.
const DEMO_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// Every port `rig demo` binds (`cli/src/demo.rs`).
const DEMO_PORTS: [u16; 21] = [
    15010, 15014, 9090, 9091, 9092, 9191, 9192, 18080, 18081, 18082, 18083, 19000, 19001, 19002,
    19003, 19009, 21000, 21001, 21002, 21003, 21009,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_edit_reaches_traffic_within_a_second() -> anyhow::Result<()> {
    let (mut stack, mut instances) = Stack::start(&["api-1"]).await?;
    // the new instance's app and proxy run before the registry names it
    instances.push(stack.spawn_instance("api-2")?);
    let text = stack.registry_text(&instances);

    let written = Instant::now();
    stack.write_registry(&text)?;
    eventually("api-2 answers", STARTUP, async || {
        let by = stack.served_by().await?;
        anyhow::ensure!(by == "api-2", "served by {by}");
        Ok(())
    })
    .await?;
    let took = written.elapsed();
    eprintln!("registry edit → first response from api-2: {took:?}");
    assert!(
        took <= EDIT_TO_TRAFFIC,
        "edit took {took:?} to reach traffic"
    );

    // and both instances now share the traffic
    let mut seen = BTreeSet::new();
    for _ in 0..6 {
        seen.insert(stack.served_by().await?);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");

    // an in-place rewrite (truncate, then write) works as well: api-1 leaves
    let written = Instant::now();
    stack.overwrite_registry(&stack.registry_text(&instances[1..]))?;
    eventually("only api-2 answers", STARTUP, async || {
        for _ in 0..4 {
            let by = stack.served_by().await?;
            anyhow::ensure!(by == "api-2", "served by {by}");
        }
        Ok(())
    })
    .await?;
    let took = written.elapsed();
    eprintln!("in-place registry edit → api-1 out of traffic: {took:?}");
    assert!(
        took <= EDIT_TO_TRAFFIC,
        "edit took {took:?} to reach traffic"
    );
    stack.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pilot_killed_traffic_keeps_flowing() -> anyhow::Result<()> {
    let (mut stack, mut instances) = Stack::start(&["api-1"]).await?;
    stack.kill_control();

    let mut failures = Vec::new();
    for n in 0..50 {
        match stack.served_by().await {
            Ok(by) if by == "api-1" => {}
            Ok(by) => failures.push(format!("#{n}: served by {by}")),
            Err(e) => failures.push(format!("#{n}: {e:#}")),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(failures.is_empty(), "without Pilot: {failures:?}");

    // Pilot back on the same ports; a change made now must reach traffic once proxies reconnect
    instances.push(stack.spawn_instance("api-2")?);
    stack.start_control()?;
    let restarted = Instant::now();
    eventually("pilot ready again", STARTUP, async || {
        stack.check_running()?;
        let (status, _, _) = rigging_examples_apps::http_get(stack.debug, "/ready", false).await?;
        anyhow::ensure!(status == 200, "status {status}");
        Ok(())
    })
    .await?;
    stack.write_registry(&stack.registry_text(&instances))?;
    eventually("api-2 answers after the reconnect", STARTUP, async || {
        let by = stack.served_by().await?;
        anyhow::ensure!(by == "api-2", "served by {by}");
        Ok(())
    })
    .await?;
    eprintln!(
        "pilot restart → change in traffic: {:?}",
        restarted.elapsed()
    );
    stack.wait_synced(&[]).await?;
    stack.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_registry_edit_is_rejected_and_traffic_unchanged() -> anyhow::Result<()> {
    let (mut stack, mut instances) = Stack::start(&["api-1"]).await?;
    let good = stack.registry_text(&instances);
    let app_port = format!("port    = {}", instances[0].app);
    let broken = good.replacen(&app_port, "port    = \"eighty\"", 1);
    let line = 1 + broken
        .lines()
        .position(|l| l.contains("\"eighty\""))
        .expect("the broken line");
    let path = stack.registry.display().to_string();
    let location = format!("{path}:{line}:");

    // `rig validate` names the file and line, on a copy so the running mesh does not see it
    let copy = stack.dir().join("copy").join("registry.hcl");
    std::fs::create_dir_all(copy.parent().expect("a parent"))?;
    std::fs::write(&copy, &broken)?;
    let out = stack
        .rig(&["validate", &copy.display().to_string()])
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "validate accepted it: {stderr}");
    let column = 1 + broken
        .lines()
        .nth(line - 1)
        .and_then(|l| l.find("\"eighty\""))
        .expect("the broken value");
    assert!(
        stderr.contains(&format!("{}:{line}:{column}: ", copy.display())),
        "expected {line}:{column}: {stderr}"
    );
    eprintln!("rig validate: {stderr}");

    // an unknown attribute is named too, at its own line
    let unknown = good.replacen(
        "  protocol      = \"http\"\n",
        "  protocol      = \"http\"\n  colour = \"red\"\n",
        1,
    );
    std::fs::write(&copy, &unknown)?;
    let out = stack
        .rig(&["validate", &copy.display().to_string()])
        .await?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "validate accepted an unknown attribute: {stderr}"
    );
    assert!(
        stderr.contains(&format!("{}:3:", copy.display())) && stderr.contains("colour"),
        "{stderr}"
    );

    // the running `rig up` logs the error and `rig status` reports it
    stack.write_registry(&broken)?;
    eventually("rig up logs the error", STARTUP, async || {
        anyhow::ensure!(
            stack.control_log().contains(&location),
            "no {location} in the log"
        );
        Ok(())
    })
    .await?;
    let debug = stack.debug.to_string();
    let status = eventually(
        "rig status reports the rejected edit",
        STARTUP,
        async || {
            let out = stack.rig(&["status", "--pilot-debug", &debug]).await?;
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            anyhow::ensure!(out.status.success(), "rig status failed: {out:?}");
            anyhow::ensure!(
                stdout.contains("last edit rejected") && stdout.contains(&location),
                "{stdout}"
            );
            Ok(stdout)
        },
    )
    .await?;
    eprintln!("rig status:\n{status}");

    // the last good catalog keeps serving: the same one endpoint
    for _ in 0..10 {
        assert_eq!(stack.served_by().await?, "api-1");
    }

    // a good edit afterwards is taken, and clears the error
    instances.push(stack.spawn_instance("api-2")?);
    stack.write_registry(&stack.registry_text(&instances))?;
    eventually("the fixed registry reaches traffic", STARTUP, async || {
        let by = stack.served_by().await?;
        anyhow::ensure!(by == "api-2", "served by {by}");
        Ok(())
    })
    .await?;
    let out = stack.rig(&["status", "--pilot-debug", &debug]).await?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("last edit rejected"), "{stdout}");
    stack.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_lists_proxies() -> anyhow::Result<()> {
    let (mut stack, _) = Stack::start(&["api-1", "api-2"]).await?;
    // a proxy no registry knows: connected, sent nothing, and its row says why
    stack.spawn_proxy("stranger")?;
    let debug = stack.debug.to_string();
    let stdout = eventually("rig status shows the stranger", STARTUP, async || {
        let out = stack.rig(&["status", "--pilot-debug", &debug]).await?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        anyhow::ensure!(out.status.success(), "{out:?}");
        let stranger = stdout.lines().find(|l| l.starts_with("stranger "));
        anyhow::ensure!(
            stranger.is_some_and(|l| l.contains("not in any registry")),
            "{stdout}"
        );
        Ok(stdout)
    })
    .await?;
    eprintln!("rig status:\n{stdout}");

    let mut lines = stdout.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    let column = |name: &str| header.iter().position(|h| *h == name);
    let (proxy, cds, lds) = (column("PROXY"), column("CDS"), column("LDS"));
    assert!(
        proxy.is_some() && cds.is_some() && lds.is_some(),
        "header: {header:?}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    for id in [CLIENT_ID, "api-1", "api-2"] {
        let row = rows
            .iter()
            .find(|r| r.get(proxy.unwrap_or_default()) == Some(&id))
            .unwrap_or_else(|| panic!("no row for {id}"));
        for col in [cds, lds].into_iter().flatten() {
            assert_eq!(row.get(col), Some(&"SYNCED"), "{id}: {row:?}");
        }
    }
    stack.pass();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_and_stops() -> anyhow::Result<()> {
    let busy: Vec<u16> = DEMO_PORTS.into_iter().filter(|p| !port_free(*p)).collect();
    if !busy.is_empty() {
        eprintln!("skipped: demo ports busy {busy:?}");
        return Ok(());
    }
    let rig = tokio::task::spawn_blocking(rig_binary).await??;
    let dir = tempfile::Builder::new().prefix("rigging-demo-").tempdir()?;
    let demo_dir = dir.path().join("demo");
    let demo_arg = demo_dir.display().to_string();
    let args = ["demo", "--requests", "3", "--dir", &demo_arg];
    let started = Instant::now();
    let mut demo = Proc::spawn("demo", dir.path(), rig_command(&rig, &args))?;
    let status = match demo.wait_timeout(DEMO_TIMEOUT).await {
        Ok(status) => Some(status),
        Err(_) => {
            // SIGTERM lets the demo stop its children; a SIGKILL would leave them running
            demo.terminate()?;
            demo.wait_timeout(DEMO_STOP_TIMEOUT).await.ok();
            None
        }
    };
    let output = demo.log();
    if output.contains("is taken; the demo needs it") {
        // another demo took a port between our check and its own
        eprintln!("skipped: demo ports busy: {output}");
        return Ok(());
    }
    eprintln!("rig demo took {:?}:\n{output}", started.elapsed());
    if !status.is_some_and(|s| s.success()) || !output.contains("3 requests, 0 failed") {
        for entry in std::fs::read_dir(&demo_dir)?.flatten() {
            let log = std::fs::read_to_string(entry.path()).unwrap_or_default();
            eprintln!(
                "===== {} =====\n{}",
                entry.path().display(),
                strip_ansi(&log)
            );
        }
        panic!("rig demo failed or timed out after {DEMO_TIMEOUT:?}: {status:?}");
    }
    // every child stopped with the demo: nothing holds its ports
    let still: Vec<u16> = DEMO_PORTS.into_iter().filter(|p| !port_free(*p)).collect();
    assert!(
        still.is_empty(),
        "ports still bound after the demo: {still:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_give_clear_errors() -> anyhow::Result<()> {
    let stack = Stack::new().await?;
    let stderr_of = async |args: &[&str]| -> anyhow::Result<String> {
        let out = stack.rig(args).await?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        anyhow::ensure!(!out.status.success(), "rig {args:?} succeeded: {stderr}");
        Ok(stderr)
    };

    let stderr = stderr_of(&["proxy"]).await?;
    assert!(
        stderr.contains("--id") && stderr.contains("Usage"),
        "{stderr}"
    );

    let (xds, debug) = (free_addr(), free_addr());
    let up = [
        "up",
        "--plaintext",
        "--registry",
        "/nonexistent/registry.hcl",
        "--xds-addr",
        &xds,
        "--debug-addr",
        &debug,
    ];
    let stderr = stderr_of(&up).await?;
    assert!(stderr.contains("/nonexistent/registry.hcl"), "{stderr}");

    let admin = free_addr();
    let proxy = [
        "proxy",
        "--id",
        "x",
        "--pilot",
        "not a url",
        "--admin",
        &admin,
    ];
    let stderr = stderr_of(&proxy).await?;
    assert!(stderr.contains("not a url"), "{stderr}");

    let stderr = stderr_of(&["validate"]).await?;
    assert!(stderr.contains("Usage"), "{stderr}");

    let nobody = free_addr();
    let stderr = stderr_of(&["status", "--pilot-debug", &nobody]).await?;
    assert!(
        stderr.contains(&nobody) && stderr.contains("rig up"),
        "{stderr}"
    );

    let stderr = stderr_of(&["up", "--plaintext", "--xds-addr", "nowhere"]).await?;
    assert!(
        stderr.contains("nowhere") && stderr.contains("--xds-addr"),
        "{stderr}"
    );
    stack.pass();
    Ok(())
}

/// Whether 127.0.0.1:`port` can be bound now.
fn port_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A free loopback address, as text.
fn free_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}
