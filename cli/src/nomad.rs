//! `rig nomad`: Nomad job files with Rigging's proxy in them. `inject` prints the job Nomad
//! should run; each further action on jobs (`run`, `plan`) is one more [`NomadCommand`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use rigging_nomad_inject::{
    DEFAULT_AUDIENCE, DEFAULT_CITADEL, DEFAULT_CITADEL_CA, DEFAULT_PILOT, DEFAULT_RIG_PATH, Driver,
    Options,
};
use rigging_nomad_jobspec::{Job, Variables};

#[derive(Debug, clap::Args)]
pub struct NomadArgs {
    #[command(subcommand)]
    command: NomadCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NomadCommand {
    /// Inject Rigging's proxy into a job file, as Nomad injects Envoy; prints HCL (or the
    /// API JSON with --json).
    Inject(InjectArgs),
}

/// How a job file is read: the file and its variables, as `nomad job run` takes them.
#[derive(Debug, clap::Args)]
struct JobFileArgs {
    /// The job file: HCL2, or API JSON.
    job: PathBuf,
    /// A variable, `name=value` (wins over --var-file and NOMAD_VAR_*).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// A file of `name = value` lines (wins over NOMAD_VAR_*).
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DriverArg {
    Exec,
    Docker,
}

#[derive(Debug, clap::Args)]
struct InjectArgs {
    #[command(flatten)]
    file: JobFileArgs,
    /// Print Nomad's API JSON (`{"Job": …}`, for POST /v1/jobs) instead of HCL.
    #[arg(long)]
    json: bool,
    /// Pilot's xDS URL as the proxy task sees it.
    #[arg(long, default_value = DEFAULT_PILOT)]
    pilot: String,
    /// Citadel's host:port as the proxy task sees it.
    #[arg(long, default_value = DEFAULT_CITADEL)]
    citadel: String,
    /// The trust bundle on each Nomad client (`rig citadel bundle` prints it).
    #[arg(long, default_value = DEFAULT_CITADEL_CA)]
    citadel_ca: String,
    /// The audience of the workload identity Citadel accepts.
    #[arg(long, default_value = DEFAULT_AUDIENCE)]
    audience: String,
    /// The proxy task's driver (a sidecar_task driver wins).
    #[arg(long, value_enum, default_value_t = DriverArg::Exec)]
    driver: DriverArg,
    /// The image holding `rig`, for container drivers.
    #[arg(long)]
    image: Option<String>,
    /// Where `rig` is on Nomad clients, for command drivers.
    #[arg(long, default_value = DEFAULT_RIG_PATH)]
    rig_path: String,
    /// Write the job here instead of to standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
}

pub fn run(args: NomadArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NomadCommand::Inject(a) => inject(&a),
    }
}

impl JobFileArgs {
    /// The job, variables applied as Nomad does: NOMAD_VAR_*, then var files, then --var.
    fn read(&self) -> anyhow::Result<Job> {
        let mut vars = Variables::new();
        vars.add_env(std::env::vars());
        for f in &self.var_files {
            let text = read_text(f)?;
            vars.add_var_file(f, &text)
                .with_context(|| format!("var file {}", f.display()))?;
        }
        for v in &self.vars {
            vars.add_var_arg(v)?;
        }
        let text = read_text(&self.job)?;
        Ok(rigging_nomad_jobspec::parse(&self.job, &text, &vars)?)
    }
}

impl InjectArgs {
    fn options(&self) -> Options {
        let mut o = Options::default();
        o.pilot.clone_from(&self.pilot);
        o.citadel.clone_from(&self.citadel);
        o.citadel_ca.clone_from(&self.citadel_ca);
        o.audience.clone_from(&self.audience);
        o.rig_path.clone_from(&self.rig_path);
        o.driver = match self.driver {
            DriverArg::Exec => Driver::Exec,
            DriverArg::Docker => Driver::Docker,
        };
        if let Some(image) = &self.image {
            o.image.clone_from(image);
        }
        o
    }
}

fn inject(args: &InjectArgs) -> anyhow::Result<ExitCode> {
    let job = args.file.read()?;
    let injected = rigging_nomad_inject::inject(&job, &args.options())?;
    for w in &injected.warnings {
        eprintln!("{w}");
    }
    let mut text = if args.json {
        serde_json::to_string_pretty(&injected.job.to_api_json())?
    } else {
        injected.job.to_hcl()
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            use std::io::Write as _;
            std::io::stdout()
                .write_all(text.as_bytes())
                .context("cannot write to standard output")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        nomad: NomadArgs,
    }

    fn corpus_file(name: &str) -> Option<PathBuf> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = match std::env::var_os("RIGGING_CORPUS") {
            Some(d) => root.join(d),
            None => root.join("../shared/corpus"),
        };
        let file = dir.join("nomad").join(name);
        if file.is_file() {
            Some(file)
        } else {
            eprintln!("skipped: corpus file {} is absent", file.display());
            None
        }
    }

    fn run_cli(args: &[&str]) -> anyhow::Result<ExitCode> {
        let cli = Cli::try_parse_from(std::iter::once("nomad").chain(args.iter().copied()))?;
        run(cli.nomad)
    }

    #[test]
    fn nomad_inject_writes_hcl_and_api_json() {
        let Some(job) = corpus_file("command-asset-connect.nomad.hcl") else {
            return;
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let (hcl, json) = (dir.path().join("out.hcl"), dir.path().join("out.json"));
        let job = job.to_str().expect("utf-8 path");
        let out = hcl.to_str().expect("utf-8 path");
        run_cli(&["inject", job, "--pilot", "http://pilot:15010", "-o", out]).expect("inject");
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
        run_cli(&args).expect("inject --json");
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
        let e = run_cli(&["inject", job]).expect_err("no network");
        assert!(e.to_string().contains("bad.nomad.hcl:5:7"), "{e}");
        let e = run_cli(&["inject", job, "--var", "novalue"]).expect_err("bad var");
        assert!(e.to_string().contains("name=value"), "{e}");
    }
}
