//! The watched folder: first load, edits, broken files and broken sets never replacing a
//! good set, deletions.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rigging_adapters_config_entries::{EntriesFolder, EntriesSnapshot, EntrySource, StartError};
use tokio::sync::watch;

const DEFAULTS: &str = r#"
Kind     = "service-defaults"
Name     = "web"
Protocol = "http"
"#;

const SPLITTER: &str = r#"
Kind = "service-splitter"
Name = "web"
Splits = [
  { Weight = 90, ServiceSubset = "v1" },
  { Weight = 10, ServiceSubset = "v2" },
]
"#;

const RESOLVER: &str = r#"
Kind = "service-resolver"
Name = "web"
Subsets = {
  v1 = { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2" }
}
"#;

/// Waits until the published set satisfies `ok`, or fails after 5 s.
async fn wait_for(
    rx: &mut watch::Receiver<Arc<EntriesSnapshot>>,
    what: &str,
    ok: impl Fn(&EntriesSnapshot) -> bool,
) -> Arc<EntriesSnapshot> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let snap = rx.borrow_and_update().clone();
        if ok(&snap) {
            return snap;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!("timed out waiting for {what}; last set: {snap:?}"),
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write file");
}

fn names(snap: &EntriesSnapshot) -> Vec<String> {
    snap.entries
        .iter()
        .map(|e| format!("{}/{}", e.kind(), e.name()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn first_load_must_be_valid_and_names_the_fault() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "web.hcl",
        "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = 7\nBogus = 1\n",
    );
    let err = EntriesFolder::start(dir.path()).expect_err("broken file refused");
    let StartError::Invalid { errors } = &err else {
        panic!("unexpected error {err}");
    };
    let text = err.to_string();
    assert!(!errors.is_empty());
    assert!(text.contains("web.hcl:4:1"), "located error: {text}");
    assert!(text.contains("Bogus"), "names the key: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_set_that_is_invalid_as_a_whole_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    // a splitter needs an L7 protocol and its subsets need a resolver
    write(dir.path(), "split.hcl", SPLITTER);
    let err = EntriesFolder::start(dir.path()).expect_err("invalid set refused");
    assert!(err.to_string().contains("split.hcl"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_are_published_and_bad_edits_keep_the_last_good_set() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "defaults.hcl", DEFAULTS);
    let folder = EntriesFolder::start(dir.path()).expect("valid folder");
    let mut rx = folder.subscribe();
    assert_eq!(names(&rx.borrow_and_update()), ["service-defaults/web"]);
    assert_eq!(folder.version(), 1);

    // a new valid file in a subfolder, in JSON
    std::fs::create_dir(dir.path().join("web")).expect("mkdir");
    write(
        &dir.path().join("web"),
        "resolver.json",
        r#"{"Kind": "service-resolver", "Name": "web", "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}, "v2": {"Filter": "Service.Meta.version == v2"}}}"#,
    );
    let snap = wait_for(&mut rx, "the resolver", |s| s.entries.len() == 2).await;
    assert_eq!(snap.version, 2);

    // a broken edit of the defaults: the old version of that file stays in force
    write(
        dir.path(),
        "defaults.hcl",
        "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"http\n",
    );
    wait_until(|| !folder.errors().is_empty(), "the parse error").await;
    let errors = folder.errors();
    assert!(
        errors[0].to_string().contains("defaults.hcl:"),
        "{errors:?}"
    );
    assert_eq!(rx.borrow().entries.len(), 2, "nothing was lost");
    assert_eq!(folder.version(), 2);

    // a splitter while the defaults file is broken: the set is still valid (the old
    // defaults keep the service on http), so it is published
    write(dir.path(), "split.hcl", SPLITTER);
    let snap = wait_for(&mut rx, "the splitter", |s| s.entries.len() == 3).await;
    assert_eq!(snap.version, 3);
    assert!(
        !folder.errors().is_empty(),
        "the broken file is still reported"
    );

    // fixing the defaults file to tcp makes the set invalid (splitters need L7): the whole
    // last good set stays
    write(
        dir.path(),
        "defaults.hcl",
        "Kind = \"service-defaults\"\nName = \"web\"\nProtocol = \"tcp\"\n",
    );
    wait_until(
        || {
            folder
                .errors()
                .iter()
                .any(|e| e.to_string().contains("split.hcl"))
        },
        "the set error",
    )
    .await;
    assert_eq!(folder.version(), 3);

    // a good edit clears the errors
    write(dir.path(), "defaults.hcl", DEFAULTS);
    wait_until(|| folder.errors().is_empty(), "errors cleared").await;
    assert_eq!(folder.version(), 3, "same set as before: nothing published");

    // deleting a file removes its entries
    std::fs::remove_file(dir.path().join("split.hcl")).expect("rm");
    let snap = wait_for(&mut rx, "the splitter gone", |s| s.entries.len() == 2).await;
    assert_eq!(snap.version, 4);
    assert!(!names(&snap).contains(&"service-splitter/web".to_owned()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_file_is_watched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("entries.hcl");
    std::fs::write(
        &file,
        format!("config_entries {{\n bootstrap {{\n{DEFAULTS}\n }}\n}}\n"),
    )
    .expect("write");
    let folder = EntriesFolder::start(&file).expect("valid file");
    let mut rx = folder.subscribe();
    assert_eq!(rx.borrow_and_update().entries.len(), 1);
    std::fs::write(
        &file,
        format!("config_entries {{\n bootstrap {{\n{DEFAULTS}\n }}\n bootstrap {{\n{RESOLVER}\n }}\n}}\n"),
    )
    .expect("write");
    wait_for(&mut rx, "two entries", |s| s.entries.len() == 2).await;
    // another file in the same folder is not read
    write(dir.path(), "other.hcl", "not hcl at all {");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(folder.errors().is_empty());
}

async fn wait_until(ok: impl Fn() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
