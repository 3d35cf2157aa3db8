//! The workspace's layout rules from ARCHITECTURE.md and STYLE.md, checked on `cargo metadata`:
//! crate names follow their paths, and dependencies point the allowed way.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A workspace crate: its folder relative to the root, and its normal dependencies on other workspace crates.
struct Krate {
    dir: String,
    deps: Vec<String>,
}

fn workspace() -> BTreeMap<String, Krate> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut crates = BTreeMap::new();
    for pkg in meta["packages"].as_array().unwrap() {
        let name = pkg["name"].as_str().unwrap().to_owned();
        let manifest = Path::new(pkg["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap().strip_prefix(&root).unwrap();
        let deps = pkg["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null() || d["kind"] == "build")
            .filter_map(|d| d["name"].as_str())
            .filter(|n| n.starts_with("rigging-"))
            .map(str::to_owned)
            .collect();
        crates.insert(
            name,
            Krate {
                dir: dir.to_string_lossy().into_owned(),
                deps,
            },
        );
    }
    crates
}

#[test]
fn crate_names_follow_their_paths() {
    for (name, k) in workspace() {
        let want = format!("rigging-{}", k.dir.replace('/', "-"));
        assert_eq!(name, want, "crate in {} should be named {want}", k.dir);
    }
}

#[test]
fn dependencies_point_the_allowed_way() {
    let crates = workspace();
    let part = |name: &str| {
        crates[name]
            .dir
            .split('/')
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let mut broken = Vec::new();
    for (name, k) in &crates {
        let me = part(name);
        for dep in &k.deps {
            let theirs = part(dep);
            let allowed = match me.as_str() {
                // The shared kernel depends on no part.
                "mesh" => theirs == "mesh",
                // Adapters see only the model and the two seams: registries (core) and
                // config-entry sources (config-entries).
                "adapters" => {
                    theirs == "mesh"
                        || dep == "rigging-adapters-core"
                        || dep == "rigging-adapters-config-entries"
                }
                // The data plane never links a server: only its own crates and the clients.
                "proxy" => {
                    theirs == "mesh"
                        || theirs == "proxy"
                        || dep == "rigging-pilot-client"
                        || dep.ends_with("-client")
                }
                // The compiler is pure: the model, the xDS vocabulary and the (pure)
                // discovery chain only; the chain reads config entries alone.
                "pilot" if name == "rigging-pilot-compiler" => {
                    theirs == "mesh" || dep == "rigging-pilot-chain"
                }
                "pilot" if name == "rigging-pilot-chain" => theirs == "mesh",
                "pilot" => theirs == "mesh" || theirs == "pilot" || theirs == "adapters",
                // Citadel builds on the kernel and on itself, never on Pilot or the proxy.
                "citadel" => theirs == "mesh" || theirs == "citadel",
                "examples" => theirs == "mesh" || theirs == "examples",
                // Nomad integration: job files, injection, Nomad's API; none of the mesh's
                // runtime parts.
                "nomad" => theirs == "mesh" || theirs == "nomad",
                "cli" | "tests" | "bench" => true,
                other => {
                    panic!("crate {name} is in an unknown part {other:?}: add it to this rule")
                }
            };
            // Nothing but the binary and the tests may depend on the binary or the tests.
            let allowed = allowed && !(matches!(theirs.as_str(), "cli" | "tests"));
            if !allowed {
                broken.push(format!("{name} -> {dep}"));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "dependencies against ARCHITECTURE.md's rules: {broken:?}"
    );
}
