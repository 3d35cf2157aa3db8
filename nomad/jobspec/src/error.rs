//! What can go wrong reading a job.

use std::fmt;

use rigging_mesh_hcl::{HclError, Location};

/// Why a job file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A syntax or evaluation error in the file, located (`file:line:column: message`).
    #[error(transparent)]
    Hcl(#[from] HclError),
    /// A variable value given by the caller (`-var`, var file, `NOMAD_VAR_*`) that the job
    /// does not declare or that does not fit the declared type.
    #[error("variable {name:?}: {message}")]
    Variable {
        /// The variable's name.
        name: String,
        /// What is wrong.
        message: String,
    },
}

/// One broken rule found by [`crate::Job::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ValidationError {
    /// Where the offending block or attribute is written; `None` for jobs read from JSON or
    /// parts added by code, in which case `file` names the source.
    pub location: Option<Location>,
    /// The job's source file.
    pub file: String,
    /// Which part of the job, such as `group "api" service "web"`.
    pub path: String,
    /// What is wrong and what was expected; lowercase.
    pub message: String,
}

impl fmt::Display for ValidationError {
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

impl std::error::Error for ValidationError {}

/// Every rule a job breaks, in the order found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct Invalid {
    /// The broken rules; never empty.
    pub errors: Vec<ValidationError>,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}
