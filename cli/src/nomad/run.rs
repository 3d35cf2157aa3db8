//! `rig nomad run`: the injected job registered with Nomad, its evaluation followed and
//! printed as `nomad job run` prints it.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use rigging_nomad_api::{ApiError, RegisterOptions};

use super::connection::{ConnectionArgs, api_error};
use super::{InjectOptions, Io, JobFileArgs, injected_api_job};

/// How long the evaluation and its allocations are followed unless told otherwise: enough
/// for image pulls of a usual job. `nomad job run` waits without end; a script wants one.
const DEFAULT_MONITOR_TIMEOUT: &str = "5m";
/// `nomad job run`'s exit code when the evaluation could not place every allocation.
const EXIT_PLACEMENT_FAILED: u8 = 2;
/// What Nomad's refusal of a stale `-check-index` starts with (`api.RegisterEnforceIndexErrPrefix`).
const ENFORCE_INDEX_PREFIX: &str = "Enforcing job modify index";

#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    #[command(flatten)]
    file: JobFileArgs,
    #[command(flatten)]
    inject: InjectOptions,
    #[command(flatten)]
    nomad: ConnectionArgs,
    /// Register only if the job's modify index is still this one (`rig nomad plan` prints
    /// it); 0 registers only a job that does not exist yet.
    #[arg(long, value_name = "INDEX")]
    check_index: Option<u64>,
    /// Print the evaluation ID and return without following it.
    #[arg(long)]
    detach: bool,
    /// How long to follow the evaluation and its allocations (e.g. 90s, 5m).
    #[arg(long, value_parser = crate::citadel::parse_duration, default_value = DEFAULT_MONITOR_TIMEOUT)]
    monitor_timeout: Duration,
}

/// Registers the injected job and, unless detached, follows its evaluation; 2 when
/// placement failed.
pub(super) async fn run(args: &RunArgs, io: &mut Io<'_>) -> anyhow::Result<ExitCode> {
    let job = injected_api_job(&args.file, &args.inject, io)?;
    let client = args.nomad.client(io.env)?;
    let id = job.id().unwrap_or_default().to_owned();
    let options = RegisterOptions {
        check_index: args.check_index,
    };
    let registered = client
        .register(&job, &options)
        .await
        .map_err(|e| register_error(e, &id))?;
    let out = |e| anyhow::Error::new(e).context("cannot write to standard output");
    if !registered.warnings.is_empty() {
        writeln!(
            io.out,
            "Job Warnings:\n{}\n",
            registered.warnings.trim_end()
        )
        .map_err(out)?;
    }
    // periodic and parameterized jobs create no evaluation
    if args.detach || registered.eval_id.is_empty() {
        writeln!(io.out, "Job registration successful").map_err(out)?;
        if !registered.eval_id.is_empty() {
            writeln!(io.out, "Evaluation ID: {}", registered.eval_id).map_err(out)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = client
        .monitor(&registered.eval_id, args.monitor_timeout)
        .await
        .map_err(|e| {
            let eval = &registered.eval_id;
            api_error(
                e,
                format!("job {id:?} registered; cannot follow evaluation {eval}"),
            )
        })?;
    write!(io.out, "{report}").context("cannot write to standard output")?;
    Ok(match report.succeeded() {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(EXIT_PLACEMENT_FAILED),
    })
}

/// A refused registration; a stale `--check-index` says the job was left as it was.
fn register_error(e: ApiError, id: &str) -> anyhow::Error {
    if e.body()
        .is_some_and(|b| b.starts_with(ENFORCE_INDEX_PREFIX))
    {
        return api_error(e, format!("job {id:?} not updated (--check-index)"));
    }
    api_error(e, format!("cannot register job {id:?}"))
}

#[cfg(test)]
mod tests {
    use rigging_mesh_test_util::fake_nomad::FakeNomad;
    use serde_json::Value;

    use crate::nomad::test_support::{corpus_file, count_job, nomad};

    #[tokio::test]
    async fn nomad_run_injects_registers_and_follows_a_corpus_job() {
        let Some(job) = corpus_file("command-asset-connect.nomad.hcl") else {
            return;
        };
        let fake = FakeNomad::start().await;
        fake.set_eval_polls(2);
        let job = job.to_str().expect("utf-8 path");
        let run = nomad(&["run", job, "--address", &fake.url()], &[]).await;
        assert_eq!(run.code, Some(0), "{run:?}");

        let submitted = fake.submitted();
        assert_eq!(submitted[0].path, "/v1/jobs");
        let groups = submitted[0].body["Job"]["TaskGroups"]
            .as_array()
            .expect("groups");
        for (group, service) in [(&groups[0], "count-api"), (&groups[1], "count-dashboard")] {
            let proxy = group["Tasks"]
                .as_array()
                .expect("tasks")
                .iter()
                .find(|t| t["Name"] == format!("connect-proxy-{service}"))
                .unwrap_or_else(|| panic!("no proxy for {service}: {group}"));
            assert_eq!(proxy["Kind"], format!("connect-proxy:{service}"));
            assert_eq!(proxy["Lifecycle"]["Sidecar"], true);
            let args = proxy["Config"]["args"].as_array().expect("args");
            assert_eq!(args[0], "proxy");
            assert!(args.contains(&Value::from("--nomad-jwt-file")), "{args:?}");
        }
        assert!(fake.job("default", "countdash").is_some());

        let out = &run.out;
        assert!(out.starts_with("==> Monitoring evaluation \""), "{out}");
        assert!(
            out.contains("Evaluation status changed: \"pending\" -> \"complete\""),
            "{out}"
        );
        assert!(
            out.contains("created: node \"7406e90b\", group \"api\""),
            "{out}"
        );
        assert!(
            out.contains("status \"running\" (countdash.dashboard[0])"),
            "{out}"
        );
    }

    #[tokio::test]
    async fn nomad_run_detach_and_check_index() {
        let fake = FakeNomad::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let job = count_job(&dir, 1);
        let addr = fake.url();
        let args = [
            "run",
            &job,
            "--address",
            &addr,
            "--detach",
            "--check-index",
            "0",
        ];
        let run = nomad(&args, &[]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        assert!(
            run.out
                .starts_with("Job registration successful\nEvaluation ID: ")
        );
        assert_eq!(fake.requests_to("/v1/jobs").len(), 1);
        assert!(
            fake.requests()
                .iter()
                .all(|r| !r.path.starts_with("/v1/evaluation/"))
        );
        assert_eq!(fake.submitted()[0].body["EnforceIndex"], true);

        let again = nomad(&args, &[]).await;
        let e = again.error.expect("stale index");
        assert!(
            e.contains("job \"count\" not updated (--check-index)"),
            "{e}"
        );
        assert!(
            e.contains("job exists with conflicting job modify index"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn nomad_run_surfaces_refusals_and_failed_placement() {
        let fake = FakeNomad::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let job = count_job(&dir, 1);
        let addr = fake.url();
        fake.require_token(Some("s3cret"));
        let e = nomad(&["run", &job, "--address", &addr], &[]).await.error;
        let e = e.expect("no token");
        assert!(
            e.contains("Nomad answered 403 to POST /v1/jobs: Permission denied"),
            "{e}"
        );
        assert!(e.contains("check NOMAD_TOKEN or --token"), "{e}");
        let wrong = [("NOMAD_TOKEN", "wrong")];
        let e = nomad(&["run", &job, "--address", &addr], &wrong)
            .await
            .error;
        assert!(e.expect("wrong token").contains("403"));

        let token = [("NOMAD_TOKEN", "s3cret")];
        let no_driver = dir.path().join("nodriver.nomad.hcl");
        let text = "job \"nodriver\" {\n  group \"g\" {\n    task \"t\" {}\n  }\n}\n";
        std::fs::write(&no_driver, text).expect("write");
        let no_driver = no_driver.to_str().expect("utf-8 path");
        let e = nomad(&["run", no_driver, "--address", &addr], &token)
            .await
            .error;
        let e = e.expect("400");
        assert!(
            e.starts_with("cannot register job \"nodriver\": Nomad answered 400"),
            "{e}"
        );
        assert!(e.contains("Task t validation failed"), "{e}");
        assert!(e.contains("Missing task driver"), "{e}");

        fake.fail_scheduling(true);
        let failed = nomad(&["run", &job, "--address", &addr], &token).await;
        assert_eq!(failed.code, Some(2), "{failed:?}");
        assert!(
            failed.out.contains("failed to place all allocations"),
            "{}",
            failed.out
        );
    }

    #[tokio::test]
    async fn nomad_run_over_tls_from_the_environment() {
        let fake = FakeNomad::start_tls().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, fake.ca_pem().expect("tls fake")).expect("write ca");
        let job = count_job(&dir, 1);
        let ca = ca.to_str().expect("utf-8 path");
        let addr = fake.url();
        let env = [
            ("NOMAD_ADDR", addr.as_str()),
            ("NOMAD_CACERT", ca),
            ("NOMAD_TLS_SERVER_NAME", "localhost"),
        ];
        let run = nomad(&["run", &job, "--detach"], &env).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let e = nomad(&["run", &job, "--detach", "--address", &addr], &[])
            .await
            .error;
        assert!(e.expect("untrusted").contains("cannot reach Nomad"));
    }
}
