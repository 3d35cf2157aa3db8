//! `rig`: one binary for every part of the Rigging mesh.

mod app;
mod citadel;
mod control;
mod demo;
mod embedded;
mod gateway_names;
mod identity;
mod logging;
mod nomad;
mod proxy;
mod registries;
mod status;
mod validate;
mod vm;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Rigging: a service mesh for Nomad, Consul, VMs and Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "rig", version, about, propagate_version = true)]
struct Cli {
    /// Log format for daemons.
    #[arg(long, global = true, value_enum, default_value_t = logging::Format::Text, env = "RIG_LOG_FORMAT")]
    log_format: logging::Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The whole control plane in one process, on the embedded defaults (static registry, loopback).
    Up(Box<control::UpArgs>),
    /// Pilot alone: registries in, xDS out.
    Pilot(Box<control::PilotArgs>),
    /// Citadel, the certificate authority: serve, bootstrap tokens, root rotation, trust bundle.
    Citadel(citadel::CitadelArgs),
    /// The sidecar proxy of one workload.
    Proxy(proxy::ProxyArgs),
    /// What Pilot sent each proxy, and what each proxy ACKed or NACKed.
    Status(status::StatusArgs),
    /// Check registry files; prints every error with file, line and column.
    Validate(validate::ValidateArgs),
    /// Nomad job files with Rigging's proxy: `inject`, `plan`, `run`.
    Nomad(nomad::NomadArgs),
    /// Run a small mesh on this machine: control plane, example services, their proxies, traffic.
    Demo(demo::DemoArgs),
    /// One of the demo's example applications (used by `rig demo`).
    #[command(hide = true)]
    ExampleApp(app::AppArgs),
}

/// Every part of `rig` allocates through mimalloc: a proxied HTTP/1.1 request makes 14 small
/// allocations, on which glibc's malloc and free spent about 2,300 instructions (10 % of the
/// proxy's user-space instructions per request, counted with callgrind) and mimalloc about
/// half as many. Built without its huge-page advice (`no_thp`): with it, an idle proxy held
/// 8 MiB of transparent huge pages. See bench/README.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The proxy's runtime: `--workers` threads, else one per CPU it may run on. A one-worker
/// multi-thread runtime measured less CPU per request than the current-thread scheduler
/// (bench: 30 µs against 37 µs per proxied HTTP/1.1 request on one core).
fn runtime_builder(command: &Command) -> tokio::runtime::Builder {
    let mut b = tokio::runtime::Builder::new_multi_thread();
    if let Command::Proxy(args) = command
        && let Some(n) = args.workers
    {
        b.worker_threads(n.get());
    }
    b
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    let mut builder = runtime_builder(&cli.command);
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rig: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => control::up(*args).await,
            Command::Pilot(args) => control::pilot(*args).await,
            Command::Citadel(args) => citadel::run(args).await,
            Command::Proxy(args) => proxy::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Validate(args) => validate::run(&args),
            Command::Nomad(args) => nomad::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::ExampleApp(args) => app::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rig: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
