//! `rig validate`: the same errors the daemons log, for any set of files.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// Registry files or folders, checked together as one registry.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[allow(clippy::print_stdout)]
pub fn run(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    let errors = rigging_adapters_file::validate_files(&args.files);
    if errors.is_empty() {
        println!("ok: {} checked", args.files.len());
        return Ok(ExitCode::SUCCESS);
    }
    for e in &errors {
        eprintln!("{e}");
    }
    eprintln!("{} error(s)", errors.len());
    Ok(ExitCode::FAILURE)
}
