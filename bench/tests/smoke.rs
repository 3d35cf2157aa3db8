//! The harness's smoke mode end to end: every scenario, tiny, so the harness never rots.

use std::process::Command;
use std::time::{Duration, Instant};

/// The whole smoke run's budget (the brief of issue 3: at most a minute).
const BUDGET: Duration = Duration::from_secs(60);

#[test]
fn smoke_runs_every_scenario_and_writes_reports() {
    let out = tempfile::tempdir().unwrap();
    let bench = std::path::Path::new(env!("CARGO_BIN_EXE_rig-bench"));
    // A missing rig is built first (cargo build -p rigging-cli): not the harness's time.
    let rig_was_built = bench.with_file_name("rig").is_file();
    let started = Instant::now();
    let result = Command::new(env!("CARGO_BIN_EXE_rig-bench"))
        .arg("smoke")
        .arg("--out")
        .arg(out.path())
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        result.status.success(),
        "rig-bench smoke failed ({}):\n{}",
        result.status,
        String::from_utf8_lossy(&result.stderr)
    );
    for scenario in [
        "latency",
        "throughput",
        "memory",
        "control-plane",
        "registry-edit",
        "mtls",
    ] {
        let md = out.path().join(format!("{scenario}.md"));
        let text = std::fs::read_to_string(&md)
            .unwrap_or_else(|e| panic!("{} not written: {e}", md.display()));
        assert!(
            text.contains("## Machine"),
            "{scenario}.md has no machine facts"
        );
        if text.contains(&format!("![]({scenario}.svg)")) {
            let svg = out.path().join(format!("{scenario}.svg"));
            assert!(svg.is_file(), "{} not written", svg.display());
        }
    }
    for scenario in ["latency", "throughput", "memory", "mtls"] {
        assert!(
            out.path().join(format!("{scenario}.svg")).is_file(),
            "{scenario}.svg not written"
        );
    }
    // gRPC through every two-hop contender, unless h2load (its load generator) is missing.
    let mtls = std::fs::read_to_string(out.path().join("mtls.md")).unwrap_or_default();
    assert!(
        mtls.contains("## Throughput, gRPC unary calls") || mtls.contains("h2load not installed"),
        "mtls.md has no gRPC table"
    );
    // The throughput targets are judged round by round, for every protocol measured.
    let throughput = std::fs::read_to_string(out.path().join("throughput.md")).unwrap_or_default();
    assert!(
        throughput.contains("| HTTP/1.1 | haproxy |") && throughput.contains("same round"),
        "throughput.md has no per-round targets:\n{throughput}"
    );
    if rig_was_built {
        assert!(elapsed < BUDGET, "smoke took {elapsed:?}, over {BUDGET:?}");
    }
}
