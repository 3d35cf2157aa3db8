//! Conformance over the Nomad jobs in the shared corpus, and golden files of injected jobs.
//!
//! Every job with Connect that Nomad accepts injects into a job Nomad accepts again;
//! injecting that again changes nothing (HCL and API JSON); jobs without Connect come back
//! unchanged; jobs Nomad refuses are refused with located errors. `UPDATE_GOLDEN=1` rewrites
//! `tests/golden/<file>.injected.hcl`.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::expect_used)]

use std::path::{Path, PathBuf};

use rigging_nomad_inject::{InjectError, Options, inject};
use rigging_nomad_jobspec::{Job, Variables, parse};

/// `$RIGGING_CORPUS` (relative to the workspace root), or `../shared/corpus` from there.
fn corpus() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("RIGGING_CORPUS") {
        Some(d) => root.join(d),
        None => root.join("../shared/corpus"),
    };
    if dir.join("nomad").is_dir() {
        Some(dir)
    } else {
        println!("skipped: corpus folder {} is absent", dir.display());
        None
    }
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

fn read(path: &Path) -> Job {
    let text = std::fs::read_to_string(path).unwrap();
    parse(path, &text, &Variables::new()).unwrap_or_else(|e| panic!("{}: {e}", name(path)))
}

/// Files Nomad refuses, and a word of the first error. The first five are the HCL1 parser
/// fixtures with Connect sidecars but no bridge network (jobspec's EXPECTED_INVALID); the
/// gateway fixtures have no network either, which Nomad's `groupConnectGatewayValidate`
/// refuses; the native fixture names a task the group lacks (`getNamedTaskForNativeService`).
const EXPECTED_INVALID: &[(&str, &str)] = &[
    (
        "jobspec-test-fixtures-tg-service-check-expose.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-sidecar_disablecheck.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-sidecar_meta.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-sidecar_task-name.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-proxy-expose.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-gateway-ingress.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-gateway-mesh.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-gateway-terminating.hcl",
        "exactly one network block",
    ),
    (
        "jobspec-test-fixtures-tg-service-connect-native.hcl",
        "does not exist",
    ),
];

fn has_connect(job: &Job) -> bool {
    job.groups().iter().any(|g| {
        g.services().iter().any(|s| s.connect().is_some())
            || g.tasks()
                .iter()
                .any(|t| t.services().iter().any(|s| s.connect().is_some()))
    })
}

#[test]
fn every_corpus_job_injects_validly_and_idempotently() {
    let Some(corpus) = corpus() else { return };
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus.join("nomad"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 20, "expected the Nomad corpus");
    let options = Options::default();
    for path in &files {
        let n = name(path);
        let job = read(path);
        let expected = EXPECTED_INVALID.iter().find(|(f, _)| *f == n);
        let verdict = match (inject(&job, &options), expected) {
            (Ok(done), None) => {
                done.job.validate().unwrap_or_else(|e| panic!("{n}: {e}"));
                let again = inject(&done.job, &options).unwrap_or_else(|e| panic!("{n}: {e}"));
                assert_eq!(again.job.to_hcl(), done.job.to_hcl(), "{n}: HCL changed");
                assert_eq!(
                    again.job.to_api_json(),
                    done.job.to_api_json(),
                    "{n}: JSON changed"
                );
                // the rendering reads back as the same job
                let back = parse("injected.hcl", &done.job.to_hcl(), &Variables::new()).unwrap();
                assert_eq!(back.to_api_json(), done.job.to_api_json(), "{n}");
                if has_connect(&job) {
                    let added = done
                        .job
                        .groups()
                        .iter()
                        .map(|g| g.tasks().len())
                        .sum::<usize>()
                        - job.groups().iter().map(|g| g.tasks().len()).sum::<usize>();
                    format!(
                        "injected {added} task(s), {} warning(s); valid; re-injection identical",
                        done.warnings.len()
                    )
                } else {
                    assert_eq!(done.job, job, "{n}: a job without connect changed");
                    "no connect: unchanged".to_owned()
                }
            }
            (Err(InjectError::Invalid(errors)), Some((_, word))) => {
                assert!(
                    errors[0].to_string().contains(word),
                    "{n}: {word:?} in {errors:?}"
                );
                assert!(
                    errors.iter().all(|e| e.location.is_some()),
                    "{n}: unlocated"
                );
                format!("refused as expected: {}", errors[0])
            }
            (Ok(_), Some(_)) => panic!("{n}: expected a refusal"),
            (Err(e), _) => panic!("{n}: unexpected error:\n{e}"),
        };
        println!("{n}: {verdict}");
    }
}

/// Corpus files whose injected HCL is kept in `tests/golden/<file>.injected.hcl`.
const GOLDEN: &[&str] = &[
    "jobspec2-test-fixtures-connect-example.hcl",
    "command-asset-connect.nomad.hcl",
    "e2e-connect-input-multi-service.nomad",
    "e2e-connect-input-terminating-gateway.nomad",
    "e2e-connect-input-expose-custom.nomad",
    "e2e-exec2-input-countdash.hcl",
    "website-docs-job-specification-upstreams-example.nomad.hcl",
];

#[test]
fn injected_jobs_match_golden_files() {
    let Some(corpus) = corpus() else { return };
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    for case in GOLDEN {
        let job = read(&corpus.join("nomad").join(case));
        let got = inject(&job, &Options::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .job
            .to_hcl();
        let file = golden.join(format!("{case}.injected.hcl"));
        if update {
            std::fs::write(&file, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&file).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; run with UPDATE_GOLDEN=1 to create it",
                file.display()
            )
        });
        if let Some((i, (w, g))) = want
            .lines()
            .zip(got.lines())
            .enumerate()
            .find(|(_, (w, g))| w != g)
        {
            panic!(
                "{case}: injected job differs from {} at line {}:\n  want: {w:?}\n  got:  {g:?}\n(UPDATE_GOLDEN=1 rewrites it)",
                file.display(),
                i + 1
            );
        }
        assert_eq!(
            want.lines().count(),
            got.lines().count(),
            "{case}: line count"
        );
    }
}
