//! The facts a result is worthless without: the machine, the kernel, and every version.

use std::process::Command;

use crate::procs::which;
use crate::tools;

/// `(fact, value)` rows for the report.
pub fn facts() -> Vec<(String, String)> {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let kernel = Command::new("uname")
        .arg("-r")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let rig = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.join("rig")))
        .filter(|p| p.is_file())
        .map_or_else(|| "unknown".into(), |p| tools::rig_version(&p));
    vec![
        ("nproc".into(), cpus.to_string()),
        ("CPU".into(), model),
        ("kernel".into(), kernel),
        ("rig".into(), rig),
        (
            "haproxy".into(),
            tools::version(which("haproxy").as_deref(), "-v"),
        ),
        (
            "nginx".into(),
            tools::version(which("nginx").as_deref(), "-v"),
        ),
        (
            "h2load".into(),
            tools::version(which("h2load").as_deref(), "--version"),
        ),
        ("wrk".into(), tools::version(which("wrk").as_deref(), "-v")),
        (
            "pinning".into(),
            if crate::procs::can_pin(crate::procs::CPU_PROXY) {
                "load generator and upstream on CPU 0, proxy under test on CPU 1 (taskset)".into()
            } else {
                "none (needs taskset and 2 CPUs)".into()
            },
        ),
    ]
}
