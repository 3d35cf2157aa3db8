//! The programs a run needs: the `rig` binary (built if missing), and HAProxy, nginx, h2load and
//! wrk from Debian packages (installed if missing, unless told not to).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::Context;

/// The tools of this run; `None` is a contender or tool not available.
#[derive(Debug, Clone)]
pub struct Tools {
    pub rig: PathBuf,
    pub haproxy: Option<PathBuf>,
    pub nginx: Option<PathBuf>,
    pub h2load: Option<PathBuf>,
    pub wrk: Option<PathBuf>,
    /// Why something is missing, for the report.
    pub notes: Vec<String>,
}

/// `(program, Debian package)`.
const PACKAGES: [(&str, &str); 4] = [
    ("haproxy", "haproxy"),
    ("nginx", "nginx"),
    ("h2load", "nghttp2-client"),
    ("wrk", "wrk"),
];

impl Tools {
    /// Finds (and with `install`, installs) every tool; builds `rig` when absent.
    pub fn prepare(rig: Option<PathBuf>, install: bool) -> anyhow::Result<Self> {
        let rig = match rig {
            Some(p) => p,
            None => default_rig()?,
        };
        anyhow::ensure!(rig.is_file(), "no rig binary at {}", rig.display());
        let missing: Vec<&str> = PACKAGES
            .iter()
            .filter(|(p, _)| crate::procs::which(p).is_none())
            .map(|(_, pkg)| *pkg)
            .collect();
        let mut notes = Vec::new();
        if !missing.is_empty()
            && install
            && let Err(e) = apt_install(&missing)
        {
            tracing::warn!(error = %format!("{e:#}"), "installing failed");
            notes.push(format!(
                "apt-get install {} failed: {e:#}",
                missing.join(" ")
            ));
        }
        let find = |p: &str, notes: &mut Vec<String>| {
            let found = crate::procs::which(p);
            if found.is_none() {
                notes.push(format!("{p}: skipped: not installed"));
            }
            found
        };
        Ok(Self {
            haproxy: find("haproxy", &mut notes),
            nginx: find("nginx", &mut notes),
            h2load: find("h2load", &mut notes),
            wrk: find("wrk", &mut notes),
            rig,
            notes,
        })
    }
}

/// `rig` next to this binary (target/<profile>/), built with cargo in the same profile if absent.
fn default_rig() -> anyhow::Result<PathBuf> {
    let me = std::env::current_exe()?;
    let dir = me.parent().context("binary without folder")?;
    // Test binaries live one level down, in target/<profile>/deps.
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap_or(dir)
    } else {
        dir
    };
    let rig = dir.join("rig");
    if rig.is_file() {
        return Ok(rig);
    }
    let release = dir.ends_with("release");
    tracing::info!(
        path = %rig.display(),
        "rig binary missing: building it with cargo build -p rigging-cli{}",
        if release { " --release" } else { "" }
    );
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "-p", "rigging-cli"])
        .current_dir(workspace_root());
    if release {
        cmd.arg("--release");
    }
    let status = cmd.status().context("run cargo")?;
    anyhow::ensure!(status.success() && rig.is_file(), "building rig failed");
    Ok(rig)
}

/// The workspace root: this crate's parent folder.
pub fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    tracing::info!(packages = %packages.join(" "), "installing missing contenders and tools with apt-get");
    let quiet = |args: &[&str]| -> anyhow::Result<()> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(Stdio::null())
            .status()
            .context("run apt-get")?;
        anyhow::ensure!(status.success(), "apt-get {} failed: {status}", args[0]);
        Ok(())
    };
    quiet(&["update"])?;
    let mut args = vec!["install", "-y"];
    args.extend_from_slice(packages);
    quiet(&args)
}

/// The first line a command prints (to stdout or stderr), or "not available".
pub fn version(program: Option<&Path>, arg: &str) -> String {
    let Some(p) = program else {
        return "not available".into();
    };
    match Command::new(p).arg(arg).output() {
        Ok(out) => {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        }
        Err(e) => format!("unknown ({e})"),
    }
}

/// rig's version, the binary's path and build time, and the commit of the source tree it was
/// built in (the folder above its `target/`, else this workspace; `-dirty` when that tree has
/// uncommitted changes). The tree's commit is what the tree is at now, not necessarily what the
/// binary was built from (a profiled build takes twenty minutes and is reused across commits):
/// a binary older than that commit says so.
pub fn rig_version(rig: &Path) -> String {
    let from_rig = version(Some(rig), "--version");
    let rig = &rig.canonicalize().unwrap_or_else(|_| rig.to_path_buf());
    let tree = rig
        .ancestors()
        .find(|d| d.file_name().is_some_and(|n| n == "target"))
        .and_then(Path::parent)
        .unwrap_or_else(|| workspace_root());
    let built = std::fs::metadata(rig)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs());
    let commit = git_commit(tree).map(|c| (c, git_commit_time(tree)));
    describe_build(
        &from_rig,
        rig.strip_prefix(tree).unwrap_or(rig),
        built,
        tree,
        commit,
    )
}

/// The sentence of [`rig_version`]; times in seconds since the epoch.
fn describe_build(
    from_rig: &str,
    path: &Path,
    built: Option<u64>,
    tree: &Path,
    commit: Option<(String, Option<u64>)>,
) -> String {
    let mut s = format!("{from_rig}, {}", path.display());
    if let Some(b) = built {
        s.push_str(&format!(" built {}", utc(b)));
    }
    if let Some((c, at)) = commit {
        s.push_str(&format!("; source tree {} at commit {c}", tree.display()));
        if let (Some(b), Some(at)) = (built, at)
            && b < at
        {
            s.push_str(&format!(
                " of {}: the binary is older than that commit and may not contain it",
                utc(at)
            ));
        }
    }
    s
}

/// `2026-11-28 13:35 UTC` for seconds since the epoch.
fn utc(secs: u64) -> String {
    match i64::try_from(secs).map(time::OffsetDateTime::from_unix_timestamp) {
        Ok(Ok(t)) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        _ => format!("@{secs}"),
    }
}

/// The committer time of `dir`'s HEAD, in seconds since the epoch.
fn git_commit_time(dir: &Path) -> Option<u64> {
    let out = Command::new("git")
        .args(["log", "-1", "--format=%ct"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// `git describe` of `dir` (read only): the full commit, `-dirty` with uncommitted changes.
pub fn git_commit(dir: &Path) -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty", "--abbrev=40"])
        .current_dir(dir)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[cfg(test)]
mod build_tests {
    use std::path::Path;

    use super::{describe_build, utc};

    #[test]
    fn a_binary_older_than_the_tree_commit_says_so() {
        let (built, committed) = (1_764_336_959, 1_764_344_116);
        let older = describe_build(
            "rig 0.1.0",
            Path::new("target/pgo/release/rig"),
            Some(built),
            Path::new("/w"),
            Some(("abc".into(), Some(committed))),
        );
        assert_eq!(
            older,
            "rig 0.1.0, target/pgo/release/rig built 2025-11-28 13:35 UTC; source tree /w at \
             commit abc of 2025-11-28 15:35 UTC: the binary is older than that commit and may \
             not contain it"
        );
        let newer = describe_build(
            "rig 0.1.0",
            Path::new("target/release/rig"),
            Some(committed + 60),
            Path::new("/w"),
            Some(("abc".into(), Some(committed))),
        );
        assert!(!newer.contains("older"), "{newer}");
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
    }
}
