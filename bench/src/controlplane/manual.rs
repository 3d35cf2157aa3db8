//! A manual run of the control-plane benchmarks without the harness's command line:
//!
//! ```sh
//! RIG=target/release/rig PROXIES=20,1000 CHANGES=5 EDITS=5 \
//!   cargo test --release -p rigging-bench -- --ignored --nocapture controlplane::manual
//! ```

use std::path::PathBuf;

use crate::controlplane::{ControlPlaneOptions, run};
use crate::registry_edit::{RegistryEditOptions, run as run_edits};
use crate::report::Section;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn show(s: &Section) {
    eprintln!("\n## {}\n", s.title);
    eprintln!("| {} |", s.headers.join(" | "));
    for r in &s.rows {
        eprintln!("| {} |", r.join(" | "));
    }
    for n in &s.notes {
        eprintln!("- {n}");
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "a benchmark: minutes of CPU; run by hand"]
async fn manual() -> anyhow::Result<()> {
    let rig = PathBuf::from(env_or("RIG", "../target/release/rig"));
    let proxies = env_or("PROXIES", "20")
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<usize>, _>>()?;
    let changes = env_or("CHANGES", "2").parse()?;
    let edits = env_or("EDITS", "2").parse()?;
    let started = std::time::Instant::now();
    if edits > 0 {
        show(
            &run_edits(&RegistryEditOptions {
                edits,
                rig: rig.clone(),
            })
            .await?,
        );
    }
    for s in run(&ControlPlaneOptions {
        proxies,
        changes,
        rig,
    })
    .await?
    {
        show(&s);
    }
    eprintln!("\ntook {:?}", started.elapsed());
    Ok(())
}
