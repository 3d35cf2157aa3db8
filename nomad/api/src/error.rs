//! What can go wrong: building the client, reading a job, and talking to Nomad.

use std::path::PathBuf;
use std::time::Duration;

use crate::types::EvalStatus;

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("invalid Nomad address {address:?}: {reason}")]
    Address { address: String, reason: String },
    #[error("{name}={value:?} is not a boolean")]
    NotABool { name: &'static str, value: String },
    #[error(
        "NOMAD_SKIP_VERIFY is refused: jobs and tokens are never sent without verifying Nomad's \
         certificate; set NOMAD_CACERT (and NOMAD_TLS_SERVER_NAME) instead"
    )]
    SkipVerifyRefused,
    #[error("NOMAD_TLS_SERVER_NAME needs NOMAD_CACERT: the name is checked against that CA only")]
    ServerNameWithoutCa,
    #[error("NOMAD_TLS_SERVER_NAME {0:?} is not a DNS name or IP address")]
    ServerName(String),
    #[error("cannot read the Nomad CA file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Nomad CA file {} is not PEM certificates: {reason}", path.display())]
    CaCertificate { path: PathBuf, reason: String },
    #[error("the Nomad CA file {} holds no certificate", path.display())]
    EmptyCaFile { path: PathBuf },
    #[error("cannot read the Nomad client certificate or key {}: {source}", path.display())]
    ClientIdentityFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Nomad client certificate {} or its key is not PEM: {reason}", cert.display())]
    ClientIdentity { cert: PathBuf, reason: String },
    #[error("a Nomad client certificate needs its key, and a key its certificate")]
    ClientIdentityHalf,
    #[error("the Nomad token has characters that cannot go in an HTTP header")]
    Token,
    #[error("cannot set up TLS for Nomad: {0}")]
    Tls(String),
    #[error("cannot build the HTTP client for Nomad: {0}")]
    Client(#[source] reqwest::Error),
}

/// Why a job document cannot be submitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    #[error("the job is not JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("the job is not a JSON object (nor {{\"Job\": {{…}}}})")]
    NotAnObject,
    #[error("the job has no \"ID\"; planning needs it for /v1/job/:id/plan")]
    MissingId,
}

/// A failed call to Nomad.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Nothing listens at the address (TCP connection refused).
    #[error("connection refused by Nomad at {url}: is the agent running and NOMAD_ADDR right?")]
    ConnectionRefused { url: String },
    /// Any other transport failure: DNS, TLS, reset, timeout.
    #[error("cannot reach Nomad at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// Nomad answered with a non-2xx status; `body` is its plain-text explanation.
    #[error("Nomad answered {status} to {method} {path}: {body}")]
    Status {
        method: String,
        path: String,
        status: u16,
        body: String,
    },
    /// Nomad answered 2xx with a body that is not the documented JSON.
    #[error("Nomad's answer to {path} is not the expected JSON: {source}")]
    Decode {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// The job cannot be submitted as it is.
    #[error(transparent)]
    Job(#[from] JobError),
    /// `monitor` was given an empty evaluation ID (periodic and parameterized jobs have none).
    #[error("there is no evaluation to monitor (periodic and parameterized jobs create none)")]
    NoEvaluation,
    /// The evaluation did not finish in time.
    #[error("evaluation {eval_id} still {status} after {after:?}")]
    MonitorTimeout {
        eval_id: String,
        status: EvalStatus,
        after: Duration,
    },
}

impl ApiError {
    /// The HTTP status Nomad answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Nomad's error text (`"Permission denied"`, `"1 error occurred: …"`), if it answered.
    pub fn body(&self) -> Option<&str> {
        match self {
            Self::Status { body, .. } => Some(body),
            _ => None,
        }
    }
}
