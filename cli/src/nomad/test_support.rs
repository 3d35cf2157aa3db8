//! Shared by the `rig nomad` tests: a command run with a fixed environment and captured
//! output, corpus files, and a small job file to submit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use super::{Env, Io, NomadArgs, execute};

#[derive(Debug, clap::Parser)]
struct Cli {
    #[command(flatten)]
    nomad: NomadArgs,
}

/// What a command did: its exit code (`None` for an error, which `rig` exits 1 on), the
/// error as `rig` prints it, and what it wrote.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub code: Option<u8>,
    pub error: Option<String>,
    pub out: String,
    pub err: String,
}

/// Runs `rig nomad <args>` with only `env` as its environment.
pub(crate) async fn nomad(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let env = Env::of(env);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let result = match Cli::try_parse_from(std::iter::once("nomad").chain(args.iter().copied())) {
        Ok(cli) => {
            let mut io = Io {
                env: &env,
                out: &mut out,
                err: &mut err,
            };
            execute(cli.nomad, &mut io).await
        }
        Err(e) => Err(e.into()),
    };
    let (code, error) = match result {
        Ok(code) => ((0..=u8::MAX).find(|n| ExitCode::from(*n) == code), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Outcome {
        code,
        error,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
    }
}

/// [`nomad`] on a runtime of its own, with an empty environment; the error as `Err`.
pub(crate) fn run_sync(args: &[&str]) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(nomad(args, &[]));
    match &outcome.error {
        Some(e) => Err(anyhow::anyhow!("{e}")),
        None => Ok(outcome),
    }
}

/// The workspace's root folder.
pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file of the corpus (`RIGGING_CORPUS`, default `../shared/corpus` from the workspace
/// root), or `None`, saying "skipped", when it is absent.
pub(crate) fn corpus_file(name: &str) -> Option<PathBuf> {
    let root = workspace_root();
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

/// Writes job `count` (group `api` of `count`, service `count-api` with a sidecar) into
/// `dir`; returns its path.
pub(crate) fn count_job(dir: &tempfile::TempDir, count: u32) -> String {
    let text = format!(
        r#"job "count" {{
  group "api" {{
    count = {count}
    network {{
      mode = "bridge"
    }}
    service {{
      name = "count-api"
      port = "9001"
      connect {{
        sidecar_service {{}}
      }}
    }}
    task "api" {{
      driver = "docker"
      config {{
        image = "hashicorpdev/counter-api:v3"
      }}
    }}
  }}
}}
"#
    );
    let path = dir.path().join("count.nomad.hcl");
    std::fs::write(&path, text).expect("write the job file");
    path.to_string_lossy().into_owned()
}
