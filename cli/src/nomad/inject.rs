//! `rig nomad inject`: the job file with Rigging's proxy in it, as HCL or API JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use super::{InjectOptions, Io, JobFileArgs, read_and_inject};

#[derive(Debug, clap::Args)]
pub(super) struct InjectArgs {
    #[command(flatten)]
    file: JobFileArgs,
    /// Print Nomad's API JSON (`{"Job": …}`, for POST /v1/jobs) instead of HCL.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    inject: InjectOptions,
    /// Write the job here instead of to standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
}

/// Injects and writes the job to `--output` or `io.out`.
pub(super) fn inject(args: &InjectArgs, io: &mut Io<'_>) -> anyhow::Result<ExitCode> {
    let job = read_and_inject(&args.file, &args.inject, io)?;
    let mut text = if args.json {
        serde_json::to_string_pretty(&job.to_api_json())?
    } else {
        job.to_hcl()
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => io
            .out
            .write_all(text.as_bytes())
            .context("cannot write to standard output")?,
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use rigging_nomad_inject::Options;
    use rigging_nomad_jobspec::Variables;

    use crate::nomad::test_support::{corpus_file, run_sync};

    #[test]
    fn nomad_inject_writes_hcl_and_api_json() {
        let Some(job) = corpus_file("command-asset-connect.nomad.hcl") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (hcl, json) = (dir.path().join("out.hcl"), dir.path().join("out.json"));
        let job = job.to_str().expect("utf-8 path");
        let out = hcl.to_str().expect("utf-8 path");
        run_sync(&["inject", job, "--pilot", "http://pilot:15010", "-o", out]).expect("inject");
        let text = std::fs::read_to_string(&hcl).expect("hcl written");
        assert!(
            text.contains("task \"connect-proxy-count-api\" {"),
            "{text}"
        );
        assert!(text.contains("= \"connect-proxy:count-api\""), "{text}");
        assert!(text.contains("\"http://pilot:15010\""), "{text}");
        // the output is a job file again, already injected
        let again = rigging_nomad_jobspec::parse(&hcl, &text, &Variables::new()).expect("parses");
        let twice = rigging_nomad_inject::inject(&again, &Options::default()).expect("injects");
        assert_eq!(twice.job.to_hcl(), again.to_hcl());

        let out = json.to_str().expect("utf-8 path");
        let args = [
            "inject", job, "--json", "--driver", "docker", "--image", "rig:t", "-o", out,
        ];
        run_sync(&args).expect("inject --json");
        let api: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).expect("json written"))
                .expect("json");
        let tasks = &api["Job"]["TaskGroups"][0]["Tasks"];
        assert_eq!(tasks[1]["Name"], "connect-proxy-count-api");
        assert_eq!(tasks[1]["Kind"], "connect-proxy:count-api");
        assert_eq!(tasks[1]["Driver"], "docker");
        assert_eq!(tasks[1]["Config"]["image"], "rig:t");
    }

    #[test]
    fn nomad_inject_reports_located_errors_and_bad_vars() {
        let dir = tempfile::tempdir().expect("tempdir");
        let job = dir.path().join("bad.nomad.hcl");
        std::fs::write(
            &job,
            "job \"j\" {\n  group \"g\" {\n    service {\n      name = \"web\"\n      connect {\n        sidecar_service {}\n      }\n    }\n  }\n}\n",
        )
        .expect("write");
        let job = job.to_str().expect("utf-8 path");
        let e = run_sync(&["inject", job]).expect_err("no network");
        assert!(e.to_string().contains("bad.nomad.hcl:5:7"), "{e}");
        let e = run_sync(&["inject", job, "--var", "novalue"]).expect_err("bad var");
        assert!(e.to_string().contains("name=value"), "{e}");
    }
}
