//! `rig nomad plan`: the injected job planned by Nomad, printed as `nomad job plan` prints it.

use std::process::ExitCode;

use anyhow::Context;
use rigging_nomad_api::PlanReport;

use super::connection::{ConnectionArgs, api_error};
use super::{InjectOptions, Io, JobFileArgs, injected_api_job};

/// `nomad job plan`'s exit code when the plan could not be made.
pub(super) const EXIT_ERROR: u8 = 255;
/// `nomad job plan`'s exit code when running the job would create, stop or update
/// allocations.
const EXIT_CHANGES: u8 = 1;

#[derive(Debug, clap::Args)]
pub(super) struct PlanArgs {
    #[command(flatten)]
    file: JobFileArgs,
    #[command(flatten)]
    inject: InjectOptions,
    #[command(flatten)]
    nomad: ConnectionArgs,
}

/// Plans the injected job with its diff and prints the report; 1 when allocations would
/// change, 0 otherwise (errors are the caller's 255).
pub(super) async fn plan(args: &PlanArgs, io: &mut Io<'_>) -> anyhow::Result<ExitCode> {
    let job = injected_api_job(&args.file, &args.inject, io)?;
    let client = args.nomad.client(io.env)?;
    let id = job.id().unwrap_or_default().to_owned();
    let response = client
        .plan(&job, true)
        .await
        .map_err(|e| api_error(e, format!("cannot plan job {id:?}")))?;
    let file = args.file.display();
    let index = response.job_modify_index;
    let report = PlanReport::new(response).with_job_file(file.clone());
    let text = rig_hint(&report.to_string(), index, &file);
    io.out
        .write_all(text.as_bytes())
        .context("cannot write to standard output")?;
    Ok(match report.changes_allocations() {
        true => ExitCode::from(EXIT_CHANGES),
        false => ExitCode::SUCCESS,
    })
}

/// The report's `-check-index` hint names `rig nomad run`: the job file has no proxy in it,
/// so `nomad job run` would submit the job without one.
fn rig_hint(text: &str, index: u64, file: &str) -> String {
    text.replace(
        &format!("nomad job run -check-index {index} {file}"),
        &format!("rig nomad run --check-index {index} {file}"),
    )
}

#[cfg(test)]
mod tests {
    use rigging_mesh_test_util::fake_nomad::FakeNomad;

    use crate::nomad::test_support::{Outcome, count_job, nomad};

    #[tokio::test]
    async fn nomad_plan_of_a_new_job_then_of_a_count_change() {
        let fake = FakeNomad::start().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let job = count_job(&dir, 1);
        let plan = nomad(&["plan", &job, "--address", &fake.url()], &[]).await;
        assert_eq!(plan.code, Some(1), "{plan:?}");
        assert!(plan.out.starts_with("+ Job: \"count\"\n"), "{}", plan.out);
        assert!(
            plan.out.contains("+ Task Group: \"api\" (1 create)"),
            "{}",
            plan.out
        );
        // the proxy is part of what is planned
        assert!(
            plan.out.contains("Task: \"connect-proxy-count-api\""),
            "{}",
            plan.out
        );
        let hint = format!("\nrig nomad run --check-index 0 {job}\n");
        assert!(plan.out.contains(&hint), "{}", plan.out);
        let body = &fake.submitted()[0].body;
        assert_eq!(body["Diff"], true);
        assert_eq!(
            body["Job"]["TaskGroups"][0]["Tasks"][1]["Name"],
            "connect-proxy-count-api"
        );

        let run = nomad(&["run", &job, "--address", &fake.url()], &[]).await;
        assert_eq!(run.code, Some(0), "{run:?}");
        let same = nomad(&["plan", &job, "--address", &fake.url()], &[]).await;
        assert_eq!(same.code, Some(0), "{same:?}");
        assert!(same.out.starts_with("Job: \"count\"\n"), "{}", same.out);

        let job = count_job(&dir, 3);
        let more: Outcome = nomad(&["plan", &job, "--address", &fake.url()], &[]).await;
        assert_eq!(more.code, Some(1), "{more:?}");
        assert!(more.out.starts_with("+/- Job: \"count\"\n"), "{}", more.out);
        assert!(
            more.out.contains("+/- Count: \"1\" => \"3\""),
            "{}",
            more.out
        );
        assert!(more.out.contains("(2 create"), "{}", more.out);
    }

    #[tokio::test]
    async fn nomad_plan_errors_exit_255_with_the_reason() {
        let fake = FakeNomad::start().await;
        fake.require_token(Some("s3cret"));
        let dir = tempfile::tempdir().expect("tempdir");
        let job = count_job(&dir, 1);
        let env = [("NOMAD_ADDR", fake.url())];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let refused = nomad(&["plan", &job], &env).await;
        assert_eq!(refused.code, Some(255), "{refused:?}");
        assert!(refused.err.contains("Permission denied"), "{}", refused.err);
        assert!(refused.err.contains("NOMAD_TOKEN"), "{}", refused.err);
        let mut env = env;
        env.push(("NOMAD_TOKEN", "s3cret"));
        assert_eq!(nomad(&["plan", &job], &env).await.code, Some(1));
    }
}
