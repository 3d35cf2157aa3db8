//! Conformance over the shared corpus of real HashiCorp files: every config-entry file is
//! read as the MANIFEST says (accepted, or refused with a located error), and HCL/JSON
//! twins of one entry decode to the same model.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rigging_mesh_config_entries::{ConfigEntry, Loaded, parse_str, validate_set};

/// `$RIGGING_CORPUS` (relative to the workspace root), or `../shared/corpus` from there.
fn corpus() -> Option<PathBuf> {
    // the workspace root; a relative RIGGING_CORPUS is taken from there, as is the default
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    };
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus folder {} is absent", dir.display());
        None
    }
}

fn folder(corpus: &Path) -> PathBuf {
    corpus.join("consul-config-entries")
}

fn files(corpus: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(folder(corpus))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

fn read(path: &Path) -> Loaded {
    parse_str(path, &std::fs::read_to_string(path).unwrap())
}

/// MANIFEST rows of this folder: (file name, notes).
fn manifest(corpus: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(corpus.join("MANIFEST.md")).unwrap();
    text.lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells.get(1)?.strip_prefix("consul-config-entries/")?;
            Some((
                file.to_owned(),
                cells.get(6).copied().unwrap_or("").to_owned(),
            ))
        })
        .collect()
}

/// The MANIFEST's words for an upstream file that is broken and must be refused.
fn flagged_broken(notes: &str) -> bool {
    notes.contains("NOT VALID") || notes.to_lowercase().contains("negative case")
}

#[test]
fn every_file_is_accepted_or_refused_as_the_manifest_says() {
    let Some(corpus) = corpus() else { return };
    let rows = manifest(&corpus);
    let listed: BTreeSet<&str> = rows.iter().map(|(f, _)| f.as_str()).collect();
    let (mut accepted, mut refused) = (0, 0);
    let mut failures = Vec::new();
    for path in files(&corpus) {
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            listed.contains(name.as_str()),
            "{name} is not in the MANIFEST"
        );
        let notes = &rows.iter().find(|(f, _)| *f == name).unwrap().1;
        let loaded = read(&path);
        if flagged_broken(notes) {
            assert!(
                !loaded.errors.is_empty(),
                "{name}: the MANIFEST flags it broken, but it was accepted"
            );
            for e in &loaded.errors {
                let s = e.to_string();
                assert!(s.starts_with(&format!("{}:", path.display())), "{s}");
                assert!(e.location.line > 0 && e.location.column > 0, "{s}");
            }
            refused += 1;
        } else {
            failures.extend(loaded.errors.iter().map(ToString::to_string));
            if loaded.entries.is_empty() {
                failures.push(format!("{name}: no entry"));
            }
            accepted += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "valid files refused:\n{}",
        failures.join("\n")
    );
    println!("consul-config-entries: {accepted} accepted, {refused} refused as the MANIFEST says");
    assert_eq!(accepted + refused, rows.len());
}

/// The MANIFEST's words for twins that upstream published with different contents.
fn flagged_inconsistent(notes: &str) -> bool {
    notes.contains("INCONSISTENCY")
}

#[test]
fn hcl_and_json_twins_decode_to_the_same_model() {
    let Some(corpus) = corpus() else { return };
    let rows = manifest(&corpus);
    let mut pairs = 0;
    for path in files(&corpus) {
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let hcl = path.with_extension("hcl");
        if !hcl.exists() {
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let notes = &rows.iter().find(|(f, _)| f == name).unwrap().1;
        let (j, h) = (read(&path), read(&hcl));
        assert!(
            j.errors.is_empty() && h.errors.is_empty(),
            "{name}: {:?} {:?}",
            j.errors,
            h.errors
        );
        if flagged_inconsistent(notes) {
            assert_ne!(
                j.entries, h.entries,
                "{name}: the MANIFEST says the twins differ"
            );
            assert_only_wildcard_differs(&j.entries, &h.entries);
        } else {
            assert_eq!(j.entries, h.entries, "{name}");
        }
        pairs += 1;
    }
    println!("{pairs} HCL/JSON twins compared");
    assert!(
        pairs >= 5,
        "expected the corpus's five twins, found {pairs}"
    );
}

/// The terminating-gateway docs twins differ only in the `*` service's TLS files and SNI.
fn assert_only_wildcard_differs(a: &[ConfigEntry], b: &[ConfigEntry]) {
    let ([ConfigEntry::TerminatingGateway(a)], [ConfigEntry::TerminatingGateway(b)]) = (a, b)
    else {
        panic!("expected one terminating-gateway each: {a:?} {b:?}");
    };
    assert_eq!(a.header, b.header);
    assert_eq!(a.services.len(), b.services.len());
    for (x, y) in a.services.iter().zip(&b.services) {
        if x.name == "*" {
            assert_eq!((&x.name, &x.namespace), (&y.name, &y.namespace));
            assert_ne!(x, y);
        } else {
            assert_eq!(x, y);
        }
    }
}

fn entries_of(corpus: &Path, names: &[&str]) -> Vec<ConfigEntry> {
    names
        .iter()
        .flat_map(|n| {
            let loaded = read(&folder(corpus).join(n));
            assert!(loaded.errors.is_empty(), "{n}: {:?}", loaded.errors);
            loaded.entries
        })
        .collect()
}

fn messages(errors: &[rigging_mesh_config_entries::LocatedError]) -> Vec<String> {
    errors.iter().map(|e| e.message.clone()).collect()
}

#[test]
fn agent_config_files_are_complete_sets() {
    let Some(corpus) = corpus() else { return };
    for name in [
        "test-integration-case-centralconf-config_entries.hcl",
        "test-integration-case-cfg-resolver-features-config_entries.hcl",
        "test-integration-case-cfg-router-features-config_entries.hcl",
    ] {
        let entries = entries_of(&corpus, &[name]);
        assert!(entries.len() >= 2, "{name}");
        assert_eq!(
            messages(&validate_set(&entries)),
            Vec::<String>::new(),
            "{name}"
        );
    }
}

#[test]
fn docs_files_form_a_canary_release_set() {
    let Some(corpus) = corpus() else { return };
    let set = entries_of(
        &corpus,
        &[
            "docs-proxy-defaults-protocol-http.hcl",
            "docs-service-defaults-protocol-http.hcl",
            "docs-service-resolver-subsets-by-version.hcl",
            "docs-service-splitter-two-subsets.hcl",
        ],
    );
    assert_eq!(messages(&validate_set(&set)), Vec::<String>::new());
}

#[test]
fn a_router_alone_needs_its_prerequisites() {
    let Some(corpus) = corpus() else { return };
    let router = "docs-service-router-header-query-param.hcl";
    let alone = validate_set(&entries_of(&corpus, &[router]));
    let first = alone.first().unwrap();
    assert_eq!((first.location.line, first.location.column), (1, 1));
    assert!(
        first.message.starts_with("service-router \"web\" needs an L7 protocol (http, http2 or grpc), but service \"web\" uses tcp (the default"),
        "{first}"
    );
    let with_http = validate_set(&entries_of(
        &corpus,
        &["docs-proxy-defaults-protocol-http.hcl", router],
    ));
    assert_eq!(
        messages(&with_http),
        vec![
            "service-router \"web\" uses subset \"canary\" of service \"web\", but no service-resolver for \"web\" defines it";
            2
        ]
    );
}
