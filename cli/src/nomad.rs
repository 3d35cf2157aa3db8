//! `rig nomad`: Nomad job files with Rigging's proxy in them. `inject` prints the job Nomad
//! should run, `plan` shows what running it would change, and `run` submits it and follows
//! its evaluation, each as the `nomad` CLI's command of the same name does.

mod connection;
#[cfg(test)]
mod examples;
mod inject;
mod plan;
mod run;
#[cfg(test)]
mod test_support;

use std::ffi::OsString;
use std::io::Write;
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
    Inject(inject::InjectArgs),
    /// Inject, then ask Nomad what running the job would change (as `nomad job plan`).
    /// Exit code 0: no allocation changes; 1: allocations would change; 255: error.
    Plan(plan::PlanArgs),
    /// Inject, register the job with Nomad and follow its evaluation (as `nomad job run`).
    /// Exit code 0: placed; 1: error; 2: placement failed.
    Run(run::RunArgs),
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

/// Where the injected proxy finds the control plane and how it runs `rig`.
#[derive(Debug, clap::Args)]
struct InjectOptions {
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
}

/// The environment a command reads (`NOMAD_*`): the process's in `rig`, a fixed one in tests,
/// which cannot change the process's own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Env(Vec<(String, String)>);

/// Where a command reads its environment and writes its output and diagnostics.
pub(crate) struct Io<'a> {
    pub env: &'a Env,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

/// `rig nomad …` on the process's environment, standard output and standard error.
pub async fn run(args: NomadArgs) -> anyhow::Result<ExitCode> {
    let env = Env::process();
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let mut io = Io {
        env: &env,
        out: &mut out,
        err: &mut err,
    };
    execute(args, &mut io).await
}

/// `rig nomad …` with the given environment and writers.
async fn execute(args: NomadArgs, io: &mut Io<'_>) -> anyhow::Result<ExitCode> {
    match args.command {
        NomadCommand::Inject(a) => inject::inject(&a, io),
        NomadCommand::Plan(a) => match plan::plan(&a, io).await {
            Ok(code) => Ok(code),
            // `nomad job plan` keeps 1 for "allocations change": errors are 255
            Err(e) => {
                writeln!(io.err, "rig: {e:#}").context("cannot write to standard error")?;
                Ok(ExitCode::from(plan::EXIT_ERROR))
            }
        },
        NomadCommand::Run(a) => run::run(&a, io).await,
    }
}

impl Env {
    /// The process's environment; variables that are not Unicode are left out, as no
    /// `NOMAD_*` setting can use them.
    pub(crate) fn process() -> Self {
        Self(
            std::env::vars_os()
                .filter_map(|(k, v): (OsString, OsString)| {
                    Some((k.into_string().ok()?, v.into_string().ok()?))
                })
                .collect(),
        )
    }

    /// A fixed environment.
    #[cfg(test)]
    pub(crate) fn of(vars: &[(&str, &str)]) -> Self {
        Self(
            vars.iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    /// The value of `name`, if set.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl JobFileArgs {
    /// The job, variables applied as Nomad does: NOMAD_VAR_*, then var files, then --var.
    fn read(&self, env: &Env) -> anyhow::Result<Job> {
        let mut vars = Variables::new();
        vars.add_env(env.0.iter().cloned());
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

    /// The job file as the user named it, for messages and hints.
    fn display(&self) -> String {
        self.job.display().to_string()
    }
}

impl InjectOptions {
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

/// The job file read and injected, injection warnings written to `io.err`.
fn read_and_inject(
    file: &JobFileArgs,
    options: &InjectOptions,
    io: &mut Io<'_>,
) -> anyhow::Result<Job> {
    let job = file.read(io.env)?;
    let injected = rigging_nomad_inject::inject(&job, &options.options())?;
    for w in &injected.warnings {
        writeln!(io.err, "{w}").context("cannot write to standard error")?;
    }
    Ok(injected.job)
}

/// As [`read_and_inject`], in the API's JSON form for submitting.
fn injected_api_job(
    file: &JobFileArgs,
    options: &InjectOptions,
    io: &mut Io<'_>,
) -> anyhow::Result<rigging_nomad_api::Job> {
    let job = read_and_inject(file, options, io)?;
    rigging_nomad_api::Job::from_value(job.to_api_json())
        .with_context(|| format!("{}: the injected job is not an API job", file.display()))
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}
