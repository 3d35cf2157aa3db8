//! The file registry end to end: loading files and folders, and watching them for edits.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rigging_adapters_core::{Registry, RegistrySnapshot};
use rigging_adapters_file::{FileError, FileRegistry, LoadError, load, validate_files};
use rigging_mesh_model::{MutualTlsMode, ProxyId, ServiceName};
use tokio::sync::watch;

/// How long a test waits for the watcher: the brief's bound on edit-to-snapshot latency.
const WITHIN: Duration = Duration::from_secs(1);

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/example.hcl")
}

fn service(name: &str, port: u16) -> String {
    format!(
        "service \"{name}\" {{\n  instance \"{name}-{port}\" {{\n    address = \"127.0.0.1\"\n    port = {port}\n  }}\n}}\n"
    )
}

fn svc(name: &str) -> ServiceName {
    ServiceName::new(name).expect("a valid name")
}

async fn next(rx: &mut watch::Receiver<Arc<RegistrySnapshot>>) -> Arc<RegistrySnapshot> {
    tokio::time::timeout(WITHIN, rx.changed())
        .await
        .expect("a new snapshot within 1s")
        .expect("the registry is alive");
    rx.borrow_and_update().clone()
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WITHIN;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[test]
fn example_file_loads() {
    let c = load(&example()).unwrap();
    assert_eq!(c.services.len(), 3);
    assert_eq!(c.services[&svc("api")].endpoints.len(), 2);
    assert_eq!(
        c.services[&svc("web")].mutual_tls_mode,
        MutualTlsMode::Permissive
    );
    assert_eq!(
        c.services[&svc("api")].mutual_tls_mode,
        MutualTlsMode::Strict
    );
    assert_eq!(c.proxies.len(), 3);
    let web = &c.proxies[&ProxyId::new("web-1").unwrap()];
    assert_eq!(
        web.upstreams[0].local_bind,
        "127.0.0.1:9191".parse().unwrap()
    );
    assert!(validate_files(&[example()]).is_empty());
}

#[test]
fn a_folder_merges_its_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.hcl"), service("api", 9001)).unwrap();
    std::fs::write(dir.path().join("b.hcl"), service("web", 8080)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not hcl").unwrap();
    std::fs::write(dir.path().join(".#a.hcl"), "editor lock {").unwrap();
    let c = load(dir.path()).unwrap();
    assert_eq!(
        c.services.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["api", "web"]
    );

    std::fs::write(dir.path().join("c.hcl"), service("api", 9002)).unwrap();
    let err = load(dir.path()).unwrap_err();
    let text = err.to_string();
    let first = dir.path().join("a.hcl");
    let expected = format!(
        "c.hcl:1:9: service \"api\" is already defined at {}:1:1",
        first.display()
    );
    assert!(text.ends_with(&expected), "{text}");
}

#[test]
fn validate_reports_every_error_of_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.hcl");
    let b = dir.path().join("b.hcl");
    std::fs::write(
        &a,
        "service \"x\" {\n  protocol = \"udp\"\n}\nservice \"y\" {\n  port = 1\n}\n",
    )
    .unwrap();
    std::fs::write(&b, "service \"z\" {\n").unwrap();
    let missing = dir.path().join("missing.hcl");
    let errors = validate_files(&[a, b, missing]);
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert!(
        lines[0].contains("a.hcl:2:14: protocol: unknown protocol \"udp\""),
        "{lines:#?}"
    );
    assert!(
        lines[1].contains("a.hcl:5:3: unexpected attribute \"port\""),
        "{lines:#?}"
    );
    assert!(
        lines[2].contains("b.hcl:1:15: invalid block body"),
        "{lines:#?}"
    );
    assert!(matches!(errors[3], FileError::Read { .. }), "{lines:#?}");
}

#[test]
fn first_load_must_succeed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("r.hcl");
    std::fs::write(&file, "service \"api\" { port = 1 }\n").unwrap();
    let err = FileRegistry::start(&file, "file").unwrap_err();
    assert!(matches!(err, LoadError::Invalid { .. }));
    assert!(
        err.to_string()
            .contains("r.hcl:1:17: unexpected attribute \"port\""),
        "{err}"
    );
}

#[tokio::test]
async fn edits_are_published_and_bad_edits_kept_out() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.hcl");
    std::fs::write(&file, service("api", 9001)).unwrap();
    let reg = FileRegistry::start(&file, "file").unwrap();
    assert_eq!(reg.name(), "file");
    let mut rx = reg.subscribe();
    assert_eq!(rx.borrow_and_update().version, 1);

    // an edit in place
    std::fs::write(&file, service("api", 9002)).unwrap();
    let snap = next(&mut rx).await;
    assert_eq!(snap.version, 2);
    assert_eq!(
        snap.catalog.services[&svc("api")].endpoints[0]
            .address
            .port(),
        9002
    );

    // an invalid edit: logged, recorded, the last good snapshot stays
    std::fs::write(&file, "service \"api\" {\n  protocol = \"udp\"\n}\n").unwrap();
    until("last_error", || reg.last_error().is_some()).await;
    let err = reg.last_error().unwrap().to_string();
    assert!(err.ends_with("registry.hcl:2:14: protocol: unknown protocol \"udp\"; expected one of tcp, http, http2, grpc"), "{err}");
    assert_eq!(rx.borrow().version, 2);
    assert!(!rx.has_changed().unwrap());

    // fixed, by an atomic rename as editors do
    let tmp = dir.path().join("registry.hcl.tmp");
    std::fs::write(&tmp, service("api", 9003)).unwrap();
    std::fs::rename(&tmp, &file).unwrap();
    let snap = next(&mut rx).await;
    assert_eq!(snap.version, 3);
    assert_eq!(
        snap.catalog.services[&svc("api")].endpoints[0]
            .address
            .port(),
        9003
    );
    assert!(reg.last_error().is_none());

    // deleted: an error, the old snapshot kept
    std::fs::remove_file(&file).unwrap();
    until("last_error after delete", || reg.last_error().is_some()).await;
    assert!(
        reg.last_error()
            .unwrap()
            .to_string()
            .contains("cannot read")
    );
    assert_eq!(rx.borrow().version, 3);

    // and back
    std::fs::write(&file, service("web", 8080)).unwrap();
    let snap = next(&mut rx).await;
    assert_eq!(snap.version, 4);
    assert!(snap.catalog.services.contains_key(&svc("web")));
    assert!(reg.last_error().is_none());
}

#[tokio::test]
async fn unchanged_catalog_is_not_republished() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.hcl");
    std::fs::write(&file, service("api", 9001)).unwrap();
    let reg = FileRegistry::start(&file, "file").unwrap();
    let mut rx = reg.subscribe();
    rx.borrow_and_update();
    // same catalog, other text
    std::fs::write(&file, format!("# a comment\n{}", service("api", 9001))).unwrap();
    // unrelated files in the same folder are not watched
    std::fs::write(dir.path().join("other.hcl"), "not even hcl {").unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!rx.has_changed().unwrap());
    assert!(reg.last_error().is_none());
    std::fs::write(&file, service("api", 9009)).unwrap();
    assert_eq!(next(&mut rx).await.version, 2);
}

#[tokio::test]
async fn a_watched_folder_sees_new_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.hcl"), service("api", 9001)).unwrap();
    let reg = FileRegistry::start(dir.path(), "folder").unwrap();
    let mut rx = reg.subscribe();
    rx.borrow_and_update();
    std::fs::write(dir.path().join("b.hcl"), service("web", 8080)).unwrap();
    let snap = next(&mut rx).await;
    assert_eq!(snap.version, 2);
    assert_eq!(snap.registry, "folder");
    assert_eq!(snap.catalog.services.len(), 2);
}
