//! A client of Nomad's jobs API that registers, plans and monitors jobs the way the `nomad`
//! CLI does (`nomad job run`, `nomad job plan`), with typed answers and CLI-like renderings.
//!
//! # Reaching Nomad
//!
//! [`ClientConfig::from_env`] reads what the `nomad` CLI reads: `NOMAD_ADDR` (default
//! [`DEFAULT_ADDRESS`]), `NOMAD_TOKEN` (sent as `X-Nomad-Token`), `NOMAD_NAMESPACE`
//! (`?namespace=`), `NOMAD_REGION` (`?region=`), and for TLS `NOMAD_CACERT`,
//! `NOMAD_CLIENT_CERT`, `NOMAD_CLIENT_KEY` and `NOMAD_TLS_SERVER_NAME`.
//!
//! `NOMAD_SKIP_VERIFY` is **refused** when true: a job submission carries the job's secrets and
//! an ACL token that can run code on every client, so this library never sends them over an
//! unverified connection. Set `NOMAD_CACERT` (and `NOMAD_TLS_SERVER_NAME`, usually
//! `server.<region>.nomad`, when Nomad's certificate does not name the address) instead.
//!
//! # Example
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use rigging_nomad_api::{ClientConfig, Job, NomadClient, PlanReport, RegisterOptions};
//!
//! let client = NomadClient::new(&ClientConfig::from_env(|k| std::env::var(k).ok())?)?;
//! let job = Job::from_json(&std::fs::read_to_string("example.json")?)?;
//! let plan = client.plan(&job, true).await?;
//! print!("{}", PlanReport::new(plan).with_job_file("example.json"));
//! let registered = client.register(&job, &RegisterOptions::default()).await?;
//! let report = client.monitor(&registered.eval_id, Duration::from_secs(60)).await?;
//! print!("{report}");
//! # Ok(()) }
//! ```

mod client;
mod config;
mod error;
mod job;
mod monitor;
mod plan;
mod render;
mod tls;
mod types;

pub use client::{NomadClient, RegisterOptions};
pub use config::{
    CONNECT_TIMEOUT, ClientConfig, DEFAULT_ADDRESS, REQUEST_TIMEOUT, TlsConfig, parse_address,
};
pub use error::{ApiError, ConfigError, JobError};
pub use job::Job;
pub use monitor::{MAX_POLL_WAIT, MIN_POLL_INTERVAL, RunReport};
pub use plan::PlanReport;
pub use reqwest::Url;
pub use types::{
    AllocationListStub, AllocationMetric, DesiredUpdates, DiffType, EvalStatus, Evaluation,
    FieldDiff, JobDiff, ObjectDiff, PlanAnnotations, PlanResponse, RegisterResponse, TaskDiff,
    TaskEvent, TaskGroupDiff, TaskState,
};
