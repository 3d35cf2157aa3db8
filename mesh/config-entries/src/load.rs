//! Reading files and folders of config entries, in every form Consul reads them.

use std::fs;
use std::path::{Path, PathBuf};

use rigging_mesh_hcl::Document;

use crate::decode::{self, norm};
use crate::error::Diag;
use crate::tree::{self, Node, Val};
use crate::{ConfigEntry, LocatedError};

/// The file name extensions read from a folder.
pub const EXTENSIONS: [&str; 2] = ["hcl", "json"];

/// What reading some files gave: the entries without errors, every error, and warnings
/// about settings that are accepted but have no effect.
#[derive(Debug, Default)]
pub struct Loaded {
    pub entries: Vec<ConfigEntry>,
    pub errors: Vec<LocatedError>,
    pub warnings: Vec<LocatedError>,
}

impl Loaded {
    fn absorb(&mut self, other: Loaded) {
        self.entries.extend(other.entries);
        self.errors.extend(other.errors);
        self.warnings.extend(other.warnings);
    }
}

/// Reads each path: a file (whatever its name), or a folder, whose `.hcl` and `.json`
/// files are read recursively in name order (hidden entries skipped).
///
/// Every error of every file is reported; an entry with an error is left out of
/// `entries`, the other entries of the same file are kept. Rules across entries are
/// [`crate::validate_set`]'s, which this does not apply.
pub fn load_files(paths: &[PathBuf]) -> Loaded {
    let mut out = Loaded::default();
    for path in paths {
        let (files, errors) = list_files(path);
        out.errors.extend(errors);
        for file in files {
            out.absorb(load_file(&file));
        }
    }
    out
}

/// The files [`load_files`] reads for `path`: the path itself when it is a file
/// (whatever its name), or the `.hcl` and `.json` files under a folder, recursively, in
/// name order, hidden entries skipped; and the folders that could not be listed.
pub fn list_files(path: &Path) -> (Vec<PathBuf>, Vec<LocatedError>) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    list_path(path, true, &mut files, &mut errors);
    (files, errors)
}

fn list_path(path: &Path, named: bool, files: &mut Vec<PathBuf>, errors: &mut Vec<LocatedError>) {
    if path.is_dir() {
        let mut children: Vec<PathBuf> = match fs::read_dir(path) {
            Ok(rd) => rd.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(e) => {
                errors.push(LocatedError::file(path, format!("cannot read folder: {e}")));
                return;
            }
        };
        children.sort();
        for child in children {
            let hidden = child
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                list_path(&child, false, files, errors);
            }
        }
    } else if named
        || path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e))
    {
        files.push(path.to_owned());
    }
}

/// Reads one file, whatever its name.
pub fn load_file(path: &Path) -> Loaded {
    match fs::read_to_string(path) {
        Ok(text) => parse_str(path, &text),
        Err(e) => Loaded {
            errors: vec![LocatedError::file(path, format!("cannot read file: {e}"))],
            ..Loaded::default()
        },
    }
}

/// Parses one file's text. Like `consul config write`, it is JSON when the first
/// non-blank character is `{` (or `[`, a list as `GET /v1/config/:kind` returns), HCL
/// otherwise; `path` only names locations.
pub fn parse_str(path: &Path, text: &str) -> Loaded {
    let json = matches!(text.trim_start().chars().next(), Some('{' | '['));
    let root = if json {
        tree::from_json(path, text)
    } else {
        Document::parse_hcl1_compat(path, text)
            .map(|doc| tree::from_hcl(&doc))
            .map_err(LocatedError::from)
    };
    let mut out = Loaded::default();
    match root {
        Ok(root) => decode_root(&root, &mut out),
        Err(e) => out.errors.push(e),
    }
    out
}

/// The entries of a file: one entry, a list of entries, or an agent config file's
/// `config_entries { bootstrap { … } … }`.
fn decode_root(root: &Node, out: &mut Loaded) {
    match &root.val {
        Val::List(items) => {
            for item in items {
                entry(item, out);
            }
        }
        Val::Object(members) if members.iter().any(|m| norm(&m.key) == "configentries") => {
            agent_config(members, out);
        }
        _ => entry(root, out),
    }
}

fn entry(node: &Node, out: &mut Loaded) {
    let mut d = Diag::default();
    let decoded = ConfigEntry::decode(&mut d, node);
    out.warnings.extend(d.warnings);
    if d.errors.is_empty() {
        out.entries.extend(decoded);
    } else {
        out.errors.extend(d.errors);
    }
}

/// An agent config file: only `config_entries` is read; other agent settings are
/// reported as warnings, not errors, since they are valid for the Consul agent.
fn agent_config(members: &[tree::Member], out: &mut Loaded) {
    let mut d = Diag::default();
    for m in members {
        match norm(&m.key).as_str() {
            "configentries" => {}
            // the default since Consul 1.5; kept in old test files
            "enablecentralserviceconfig" => {
                decode::boolean(&mut d, &m.value, &m.key);
            }
            _ => d.warn(
                &m.key_at,
                format!(
                    "{:?} is a Consul agent setting, not a config entry; ignored",
                    m.key
                ),
            ),
        }
    }
    // repeated `config_entries` blocks merge, as the agent merges its config files
    let mut bootstrap: Vec<&Node> = Vec::new();
    for m in members.iter().filter(|m| norm(&m.key) == "configentries") {
        if let Some(f) = decode::Fields::of(&mut d, &m.value, "config_entries", &["bootstrap"]) {
            bootstrap.extend(f.list(&mut d, "bootstrap"));
        }
    }
    out.errors.extend(d.errors);
    out.warnings.extend(d.warnings);
    for node in bootstrap {
        entry(node, out);
    }
}
