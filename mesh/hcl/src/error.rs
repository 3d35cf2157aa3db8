//! Where in a file something went wrong, and what.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// A position in a source file: 1-based line, 1-based column counted in characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Location {
    pub file: Arc<Path>,
    pub line: usize,
    pub column: usize,
}

impl Location {
    pub fn new(file: impl Into<Arc<Path>>, line: usize, column: usize) -> Self {
        Self {
            file: file.into(),
            line,
            column,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A located error in an HCL file: a syntax error, or a value that does not fit the schema.
///
/// Displays as `file:line:column: message`, the form editors and `rig validate` understand.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
#[non_exhaustive]
pub struct HclError {
    pub location: Location,
    /// What is wrong, and what was expected instead; lowercase, no location.
    pub message: String,
}

impl HclError {
    pub fn new(location: Location, message: impl Into<String>) -> Self {
        Self {
            location,
            message: message.into(),
        }
    }
}
