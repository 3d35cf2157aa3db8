//! What can stop an injection, and what it only warns about.

use std::fmt;

use rigging_nomad_jobspec::{Block, Invalid, Location};

/// A problem at one place in the job: where it is written (or the file, for parts read from
/// JSON), which part, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Located {
    /// Where the offending block or attribute is written.
    pub location: Option<Location>,
    /// The job's source file.
    pub file: String,
    /// Which part of the job, such as `group "api" service "web"`.
    pub path: String,
    /// What is wrong, lowercase.
    pub message: String,
}

/// Why a job cannot be injected. Each variant holds every problem found, in job order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InjectError {
    /// The job breaks a rule Nomad enforces on submit; nothing was injected.
    #[error("{}", list(.0))]
    Invalid(Vec<Located>),
    /// The job is valid for Nomad but asks for something Rigging cannot run (a mesh
    /// gateway), or that the injector will not guess (a task name already taken).
    #[error("{}", list(.0))]
    Refused(Vec<Located>),
    /// The injected job breaks one of Nomad's rules: a bug in the injector.
    #[error("the injected job is not valid for nomad (an injector bug):\n{}", list(.0))]
    Broken(Vec<Located>),
}

impl InjectError {
    /// The problems, whichever the kind.
    pub fn problems(&self) -> &[Located] {
        match self {
            InjectError::Invalid(v) | InjectError::Refused(v) | InjectError::Broken(v) => v,
        }
    }
}

/// Something injected as asked but worth a look (a setting meant for Envoy, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub Located);

impl Located {
    pub(crate) fn at(file: &str, block: &Block, path: &str, message: impl Into<String>) -> Self {
        Self {
            location: block.location.clone(),
            file: file.to_owned(),
            path: path.to_owned(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: ")?,
            None => write!(f, "{}: ", self.file)?,
        }
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "warning: {}", self.0)
    }
}

fn list(errors: &[Located]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// jobspec's validation errors in this crate's form.
pub(crate) fn from_invalid(invalid: Invalid) -> Vec<Located> {
    invalid
        .errors
        .into_iter()
        .map(|e| Located {
            location: e.location,
            file: e.file,
            path: e.path,
            message: e.message,
        })
        .collect()
}
