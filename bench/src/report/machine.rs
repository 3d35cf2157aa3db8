//! The facts a result is worthless without: the machine, the kernel, and every version.

use std::path::Path;
use std::process::Command;

use crate::procs::which;
use crate::tools;

/// How this process (and so every process it starts) is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheduling {
    Normal { nice: i64 },
    RealTime { policy: &'static str, priority: i64 },
}

impl std::fmt::Display for Scheduling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Normal { nice } => write!(f, "SCHED_OTHER, nice {nice}"),
            Self::RealTime { policy, priority } => write!(f, "{policy}, priority {priority}"),
        }
    }
}

/// `(fact, value)` rows for the report; `rig` is the binary measured.
pub fn facts(rig: &Path) -> Vec<(String, String)> {
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
    let date = Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    // Other work on the machine shows here: builds running beside the benchmark, and whether
    // it was run at a raised priority (`nice -n -20`, `chrt -f`) to keep ahead of them.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let scheduling = scheduling().map_or_else(|| "unknown".into(), |s| s.to_string());
    let bench = tools::git_commit(tools::workspace_root()).unwrap_or_else(|| "unknown".into());
    vec![
        ("date".into(), date),
        ("nproc".into(), cpus.to_string()),
        ("CPU".into(), model),
        ("kernel".into(), kernel),
        ("load average (1, 5, 15 min) when written".into(), load),
        (
            "scheduling of the harness and its children".into(),
            scheduling,
        ),
        ("rig".into(), tools::rig_version(rig)),
        ("rig-bench".into(), format!("commit {bench}")),
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
            "openssl (HAProxy's and nginx's TLS)".into(),
            tools::version(which("openssl").as_deref(), "version"),
        ),
        (
            "pinning".into(),
            if crate::procs::can_pin(crate::procs::CPU_PROXY) {
                "load generator and upstream on CPU 0, proxy under test on CPU 1 (both hops of a \
                 two-hop contender) (taskset)"
                    .into()
            } else {
                "none (needs taskset and 2 CPUs)".into()
            },
        ),
    ]
}

/// From `/proc/self/stat`: after the command's `)`, the 17th field is the nice value, the 38th
/// and 39th the real-time priority and the policy.
fn scheduling() -> Option<Scheduling> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<i64> = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let priority = *fields.get(37)?;
    Some(match fields.get(38)? {
        1 => Scheduling::RealTime {
            policy: "SCHED_FIFO (chrt -f)",
            priority,
        },
        2 => Scheduling::RealTime {
            policy: "SCHED_RR (chrt -r)",
            priority,
        },
        _ => Scheduling::Normal {
            nice: *fields.get(16)?,
        },
    })
}

/// The `chrt` or `nice` that reproduces this process's scheduling, with a trailing space;
/// empty for the default.
pub fn launch_prefix() -> String {
    match scheduling() {
        Some(Scheduling::RealTime { policy, priority }) => {
            let flag = if policy.starts_with("SCHED_RR") {
                "-r"
            } else {
                "-f"
            };
            format!("chrt {flag} {priority} ")
        }
        Some(Scheduling::Normal { nice }) if nice != 0 => format!("nice -n {nice} "),
        _ => String::new(),
    }
}

/// What a reader must know about how the run was scheduled, for the report.
pub fn caveats() -> Vec<String> {
    match scheduling() {
        Some(Scheduling::RealTime { .. }) => vec![
            "Run under a real-time policy (`chrt`), every process it started too, so that \
             builds and tests of other work on this shared machine cannot delay the contenders: \
             they preempt ordinary processes at once. Two side effects, the same for every \
             contender: the kernel's real-time throttling (`kernel.sched_rt_runtime_us`, 95 % by \
             default) caps a saturated proxy core near 95 %, and network work the kernel defers \
             to ksoftirqd (an ordinary thread) waits while the contenders run, which can \
             lengthen the p99 and p99.9 under load."
                .into(),
        ],
        Some(Scheduling::Normal { nice }) if nice < 0 => vec![format!(
            "Run at nice {nice}, every process it started too, to keep ahead of other work on \
             this shared machine (see the load average)."
        )],
        _ => Vec::new(),
    }
}
