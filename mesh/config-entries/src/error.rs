//! Located errors and warnings: `file:line:column: message`.

use std::path::Path;

use rigging_mesh_hcl::HclError;
pub use rigging_mesh_hcl::Location;

/// Something wrong (or, in [`crate::Loaded::warnings`], worth knowing) at a place in a
/// config-entry file.
///
/// Displays as `file:line:column: message`, the form editors and `rig validate` understand.
/// The message is lowercase, names the key, says what is wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
#[non_exhaustive]
pub struct LocatedError {
    pub location: Location,
    /// What is wrong, and what was expected instead; no location.
    pub message: String,
}

impl LocatedError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
        }
    }

    /// An error about a whole file (it cannot be read, or is not a config-entry file),
    /// located at its first line.
    pub fn file(path: &Path, message: impl Into<String>) -> Self {
        Self::new(Location::new(path, 1, 1), message)
    }
}

impl From<HclError> for LocatedError {
    fn from(e: HclError) -> Self {
        Self::new(e.location, e.message)
    }
}

/// Where an entry came from, kept for error messages about it.
///
/// Two origins always compare equal, so entries read from different files (or from
/// HCL and from JSON) are equal when their contents are.
#[derive(Debug, Clone, Default)]
pub struct Origin(Option<Location>);

impl Origin {
    pub fn new(location: Location) -> Self {
        Self(Some(location))
    }

    /// Where the entry starts, if it was read from a file.
    pub fn location(&self) -> Option<&Location> {
        self.0.as_ref()
    }

    /// The location for an error about this entry; entries built in code point at
    /// `<config entries>:0:0`.
    pub fn or_unknown(&self) -> Location {
        self.0
            .clone()
            .unwrap_or_else(|| Location::new(Path::new("<config entries>"), 0, 0))
    }
}

impl PartialEq for Origin {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for Origin {}

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
