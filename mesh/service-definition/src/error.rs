//! Located errors and warnings, `file:line:column: message`, and the error of a whole read.

use std::fmt;
use std::path::{Path, PathBuf};

use rigging_mesh_hcl::HclError;
pub use rigging_mesh_hcl::Location;

/// Something wrong (or, as a warning, worth knowing) at a place in a service definition file.
///
/// Displays as `file:line:column: message`, the form editors and `rig validate` understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
#[non_exhaustive]
pub struct LocatedError {
    /// Where the fault is.
    pub location: Location,
    /// What is wrong and what was expected instead; lowercase, no location.
    pub message: String,
}

impl LocatedError {
    /// An error at `location`.
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
        }
    }
}

impl From<HclError> for LocatedError {
    fn from(e: HclError) -> Self {
        Self::new(e.location, e.message)
    }
}

/// Why a service definition file was refused: it could not be read, or it holds errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DefinitionError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a valid service definition; every error found, in file order.
    #[error("{}", Lines(.0))]
    Invalid(Vec<LocatedError>),
}

impl DefinitionError {
    /// The located errors (none for a read failure).
    pub fn errors(&self) -> &[LocatedError] {
        match self {
            Self::Read { .. } => &[],
            Self::Invalid(errors) => errors,
        }
    }

    /// The first located error, the one an editor jumps to.
    pub fn first(&self) -> Option<&LocatedError> {
        self.errors().first()
    }
}

/// Errors one per line.
struct Lines<'a>(&'a [LocatedError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Collects every error and warning of a file, so one run reports them all.
#[derive(Debug, Default)]
pub(crate) struct Diag {
    pub errors: Vec<LocatedError>,
    pub warnings: Vec<LocatedError>,
}

impl Diag {
    pub fn err(&mut self, at: &Location, message: impl Into<String>) {
        self.errors.push(LocatedError::new(at.clone(), message));
    }

    pub fn warn(&mut self, at: &Location, message: impl Into<String>) {
        self.warnings.push(LocatedError::new(at.clone(), message));
    }
}

/// The location of a whole file (its first character), for errors about the file itself.
pub(crate) fn file_start(path: &Path) -> Location {
    Location::new(path, 1, 1)
}
