//! `rig validate`: the same errors the daemons log, for any set of files.
//!
//! Registry files (`service "…" { … }`) and Consul config entries (`Kind = "…"`, the agent's
//! `config_entries { bootstrap { … } }`, or JSON) can be mixed: each file is told apart by its
//! content, folders are registries unless `--config-entries` says otherwise.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Registry files or folders (checked together as one registry) and config-entry files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Treat every path (folders too) as Consul config entries.
    #[arg(long)]
    config_entries: bool,
}

#[allow(clippy::print_stdout)]
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let (entries, registry): (Vec<PathBuf>, Vec<PathBuf>) = args
        .files
        .iter()
        .cloned()
        .partition(|p| args.config_entries || is_config_entry_file(p));
    let mut errors: Vec<String> = Vec::new();
    if !registry.is_empty() {
        errors.extend(
            rigging_adapters_file::validate_files(&registry)
                .iter()
                .map(ToString::to_string),
        );
    }
    if !entries.is_empty() {
        let checked = rigging_mesh_config_entries::check_files(&entries);
        for w in &checked.warnings {
            eprintln!("warning: {w}");
        }
        errors.extend(checked.errors.iter().map(ToString::to_string));
    }
    if errors.is_empty() {
        println!("ok: {} checked", args.files.len());
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("{e}");
    }
    eprintln!("{} error(s)", errors.len());
    Ok(ExitCode::FAILURE)
}

/// A file (not a folder) that holds config entries: JSON (registry files are HCL only), or
/// HCL with a top-level `Kind` or `config_entries`.
fn is_config_entry_file(path: &Path) -> bool {
    if !path.is_file() {
        return false;
    }
    if path.extension().is_some_and(|e| e == "json") {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    text.lines().map(str::trim_start).any(|line| {
        let key: String = line
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let rest = line[key.len()..].trim_start();
        (key.eq_ignore_ascii_case("kind") && rest.starts_with('='))
            || (key == "config_entries" && (rest.starts_with('{') || rest.starts_with('=')))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_entries_are_told_from_registry_files() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.path().join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let router = write("r.hcl", "Kind = \"service-router\"\nName = \"web\"\n");
        let agent = write("a.hcl", "config_entries {\n  bootstrap {\n  }\n}\n");
        let json = write("e.json", "{\"Kind\": \"service-defaults\"}");
        let registry = write("reg.hcl", "service \"web\" {\n  protocol = \"http\"\n}\n");
        assert!(is_config_entry_file(&router));
        assert!(is_config_entry_file(&agent));
        assert!(is_config_entry_file(&json));
        assert!(!is_config_entry_file(&registry));
        assert!(!is_config_entry_file(dir.path()));
    }
}
