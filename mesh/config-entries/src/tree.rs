//! The located value tree of `rigging-mesh-hcl`, built as config entries have always been
//! read; see [`rigging_mesh_hcl::tree`].

use std::path::Path;

use rigging_mesh_hcl::tree::{self, Heredoc};
use rigging_mesh_hcl::{Document, HclError};

pub(crate) use rigging_mesh_hcl::tree::{Member, Node, Val};

use crate::LocatedError;

/// The whole HCL file as one object.
pub(crate) fn from_hcl(doc: &Document) -> Node {
    tree::from_hcl(doc, Heredoc::DedentedTwice)
}

/// Parses strict JSON `text` (read from `file`) into the tree, or the first syntax error.
pub(crate) fn from_json(file: &Path, text: &str) -> Result<Node, LocatedError> {
    tree::from_json(file, text).map_err(|e| HclError::from(e).into())
}
