//! Injects Rigging's proxy into a Nomad job the way Nomad injects Envoy: a pure function from
//! a parsed job to the job Nomad should run.
//!
//! Each `connect { sidecar_service {…} }` stays, so Nomad still registers the sidecar in
//! Consul (its upstreams and mesh port are how Pilot learns the proxy) and sets
//! `NOMAD_UPSTREAM_*`. Next to it comes a task of kind `connect-proxy:<service>`, which makes
//! Nomad skip Envoy (FORMATS.md 1.4 step 2), running `rig proxy` with Nomad's Envoy defaults
//! (resources, logs, shutdown delay) and any `sidecar_task` merged over them; the
//! `sidecar_task` block then goes, its values being in the task. Ingress and terminating
//! gateways get a `connect-ingress:<svc>` / `connect-terminating:<svc>` task running
//! `rig proxy --gateway …`; mesh gateways are refused (Rigging has none); native services are
//! left as they are. The job is checked against Nomad's rules before and after, and injecting
//! an injected job changes nothing.
//!
//! ```
//! use rigging_nomad_inject::{Options, inject};
//! use rigging_nomad_jobspec::{Variables, parse};
//!
//! let text = r#"
//! job "countdash" {
//!   group "dashboard" {
//!     network { mode = "bridge" }
//!     service {
//!       name = "count-dashboard"
//!       port = "9002"
//!       connect {
//!         sidecar_service {
//!           proxy {
//!             upstreams {
//!               destination_name = "count-api"
//!               local_bind_port  = 8080
//!             }
//!           }
//!         }
//!       }
//!     }
//!     task "dashboard" {
//!       driver = "docker"
//!       config { image = "hashicorpdev/counter-dashboard:v3" }
//!     }
//!   }
//! }
//! "#;
//! let job = parse("countdash.nomad.hcl", text, &Variables::new()).unwrap();
//! let injected = inject(&job, &Options::default()).unwrap();
//! let group = injected.job.group("dashboard").unwrap();
//! let proxy = group.task("connect-proxy-count-dashboard").unwrap();
//! assert_eq!(proxy.kind(), Some("connect-proxy:count-dashboard"));
//! assert_eq!(group.port_labels(), ["connect-proxy-count-dashboard"]);
//! let app = group.task("dashboard").unwrap();
//! assert!(app.env().iter().any(|(k, v)| *k == "NOMAD_UPSTREAM_ADDR_count_api"
//!     && v.as_str() == Some("127.0.0.1:8080")));
//! // idempotent
//! assert_eq!(inject(&injected.job, &Options::default()).unwrap().job, injected.job);
//! ```

mod checks;
mod env;
mod error;
mod group;
mod merge;
mod names;
mod options;
mod task;

use rigging_nomad_jobspec::Job;

pub use error::{InjectError, Located, Warning};
pub use options::{
    DEFAULT_AUDIENCE, DEFAULT_CITADEL, DEFAULT_CITADEL_CA, DEFAULT_IMAGE, DEFAULT_PILOT,
    DEFAULT_RIG_PATH, Driver, IDENTITY_NAME, Options,
};

/// An injected job, and what the injector thinks deserves a look.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Injected {
    /// The job with the proxy tasks, ports and upstream env added.
    pub job: Job,
    /// Settings kept out of the proxy task (Envoy's image or command, say).
    pub warnings: Vec<Warning>,
}

/// Injects Rigging's proxy into `job`; see the crate docs for what changes. Fails, naming
/// every offending block with its location, when Nomad would refuse the job, when it needs
/// something Rigging cannot run, or (an injector bug) when the result would be refused.
pub fn inject(job: &Job, options: &Options) -> Result<Injected, InjectError> {
    let invalid = nomad_errors(job);
    if !invalid.is_empty() {
        return Err(InjectError::Invalid(invalid));
    }
    let refused = checks::unsupported(job);
    if !refused.is_empty() {
        return Err(InjectError::Refused(refused));
    }
    let plans: Vec<(String, Vec<group::Plan>)> = job
        .groups()
        .iter()
        .map(|g| (g.name().to_owned(), group::plan(g)))
        .collect();
    let mut out = job.clone();
    let mut warnings = Vec::new();
    for (name, plans) in &plans {
        if let Some(g) = out.group_mut(name)
            && !plans.is_empty()
        {
            group::apply(job.file(), g, plans, options, &mut warnings);
        }
    }
    let broken = nomad_errors(&out);
    if !broken.is_empty() {
        return Err(InjectError::Broken(broken));
    }
    Ok(Injected { job: out, warnings })
}

/// Every rule of Nomad's the job breaks: jobspec's validation and the connect hook's.
fn nomad_errors(job: &Job) -> Vec<Located> {
    let mut errors = job
        .validate()
        .err()
        .map(error::from_invalid)
        .unwrap_or_default();
    errors.extend(checks::nomad_rules(job));
    errors
}
