//! Child processes: started on loopback, pinned to a CPU, killed when their guard drops.

use std::fs::File;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long a process may take to open its port: rig, HAProxy and nginx all take well under a
/// second; debug builds and a busy machine take longer.
pub const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process gets to exit after SIGTERM before SIGKILL: nginx's master must stop its
/// worker, which takes milliseconds.
const TERM_GRACE: Duration = Duration::from_secs(2);
/// The CPU of the load generator and the upstream.
pub const CPU_CLIENT: usize = 0;
/// The CPU of the proxy under test, alone on it.
pub const CPU_PROXY: usize = 1;

/// A child process, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Guard {
    pub name: String,
    child: Child,
    /// Where its stderr goes, shown when it fails.
    pub log: std::path::PathBuf,
}

impl Guard {
    /// Starts `cmd` pinned to `cpu` (when `taskset` exists and the machine has that CPU),
    /// its stdout and stderr into `<logdir>/<name>.log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[String],
        cpu: Option<usize>,
        logdir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let log = logdir.join(format!("{name}.log"));
        let out = File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut cmd = match cpu.filter(|c| can_pin(*c)) {
            Some(c) => {
                let mut cmd = Command::new("taskset");
                cmd.arg("-c").arg(c.to_string()).arg(program);
                cmd
            }
            None => Command::new(program),
        };
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .with_context(|| format!("start {name}: {}", program.display()))?;
        tracing::debug!(name, pid = child.id(), "started");
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the tail of its log if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            anyhow::bail!("{} exited ({status}): {}", self.name, tail(&self.log));
        }
        Ok(())
    }

    /// Waits until `addr` accepts TCP connections, failing early if the process dies.
    pub fn wait_port(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            self.check_alive()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!(
            "{} did not listen on {addr}: {}",
            self.name,
            tail(&self.log)
        )
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 right now, below the kernel's ephemeral range: a port from
/// `bind(0)` could be taken by an outgoing connection (a proxy's to Pilot or its upstream)
/// before the process it is meant for binds it, and the proxy then refuses its listener.
pub fn free_addr() -> anyhow::Result<SocketAddr> {
    Ok(SocketAddr::from((
        [127, 0, 0, 1],
        rigging_mesh_test_util::free_port(),
    )))
}

/// Whether pinning to `cpu` makes sense: `taskset` exists and the machine has two CPUs or more.
pub fn can_pin(cpu: usize) -> bool {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    n >= 2 && cpu < n && which("taskset").is_some()
}

/// Moves every thread of `pid` to `cpu` (`taskset -p` on each): a placement changed between
/// runs. A thread that ends meanwhile (a runtime's idle helper) is not an error.
pub fn repin(pid: u32, cpu: usize) -> anyhow::Result<()> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("list the threads of {pid}"))?;
    for tid in tasks.filter_map(|e| e.ok()?.file_name().into_string().ok()) {
        let status = Command::new("taskset")
            .args(["-p", "-c", &cpu.to_string(), &tid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("run taskset")?;
        let gone = !Path::new(&format!("/proc/{pid}/task/{tid}")).exists();
        anyhow::ensure!(
            status.success() || gone,
            "taskset -p -c {cpu} {tid} (a thread of {pid}): {status}"
        );
    }
    Ok(())
}

/// The path of `program` on `PATH`.
pub fn which(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// A `… kB` field of `/proc/<pid>/status`: `VmRSS`, `RssAnon` (private memory, without the
/// program's file-backed pages).
pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}

/// The children of `pid` (nginx's workers), from every `/proc/<n>/stat`.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|n| {
            std::fs::read_to_string(format!("/proc/{n}/stat"))
                .ok()
                .and_then(|s| {
                    // The command name may hold spaces; fields after its `)` are fixed.
                    let rest = s.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.len().saturating_sub(15);
    format!(
        "{} (log {}):\n{}",
        "",
        path.display(),
        lines[start..].join("\n")
    )
}

/// CPU time (user + system) a process has used, in seconds (clock ticks of 1/100 s, Linux's
/// `USER_HZ` on every architecture rig runs on).
pub fn cpu_secs(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest: Vec<&str> = s.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = rest.get(11)?.parse::<u64>().ok()? + rest.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Clock ticks of one CPU since boot, from `/proc/stat`: `(busy, total)`, busy being all but
/// idle and I/O wait (so interrupts, soft interrupts and time stolen by the hypervisor count).
pub fn cpu_ticks(cpu: usize) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let label = format!("cpu{cpu}");
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label.as_str()))?;
    parse_cpu_line(line)
}

/// `cpuN user nice system idle iowait irq softirq steal …`: the first eight counters (guest
/// time is already in user time).
fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    if fields.len() < 5 {
        return None;
    }
    let total: u64 = fields.iter().sum();
    Some((total - fields[3] - fields[4], total))
}

/// The busy share of a CPU, in percent, between two [`cpu_ticks`] readings.
pub fn busy_pct(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let total = after.1.checked_sub(before.1).filter(|&t| t > 0)?;
    let busy = after.0.checked_sub(before.0)?;
    Some(100.0 * busy as f64 / total as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_is_busy_but_when_idle_or_waiting_on_io() {
        let line = "cpu1 100 5 50 800 10 3 7 25 0 0";
        assert_eq!(parse_cpu_line(line), Some((190, 1000)));
        assert_eq!(parse_cpu_line("cpu1 1 2"), None);
        assert_eq!(parse_cpu_line("cpu1 x 2 3 4 5"), None);
        assert_eq!(busy_pct((190, 1000), (280, 1100)), Some(90.0));
        assert_eq!(busy_pct((190, 1000), (190, 1000)), None);
        let now = cpu_ticks(0).unwrap();
        assert!(now.0 <= now.1, "{now:?}");
    }

    /// `Cpus_allowed_list` of every thread of `pid`, by thread id.
    fn allowed(pid: u32) -> std::collections::BTreeMap<String, String> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .unwrap()
            .filter_map(|e| {
                let tid = e.ok()?.file_name().into_string().ok()?;
                let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"));
                let list = status
                    .ok()?
                    .lines()
                    .find_map(|l| Some(l.strip_prefix("Cpus_allowed_list:")?.trim().to_owned()))?;
                Some((tid, list))
            })
            .collect()
    }

    #[test]
    fn repin_moves_every_thread() {
        if which("taskset").is_none() {
            eprintln!("skipped: no taskset");
            return;
        }
        // This test process has several threads (the harness's): all must move. The harness
        // may start one while `repin` runs, placed as the thread that started it was then:
        // only the threads there before and after are checked.
        let me = std::process::id();
        let before = allowed(me);
        repin(me, 0).unwrap();
        let after = allowed(me);
        let kept: Vec<(&String, &String)> = after
            .iter()
            .filter(|(tid, _)| before.contains_key(*tid))
            .collect();
        assert!(kept.len() > 1, "{after:?}");
        assert!(kept.iter().all(|(_, a)| *a == "0"), "{after:?}");
        // Put the test process back where it may run.
        let all = before.values().next().cloned().unwrap_or_default();
        let restored = Command::new("taskset")
            .args(["-a", "-p", "-c", &all, &me.to_string()])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(restored.success());
    }
}
