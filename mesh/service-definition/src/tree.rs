//! The located value tree of `rigging-mesh-hcl` (see [`rigging_mesh_hcl::tree`]), with
//! service definitions' own JSON syntax messages and bracket check.

use rigging_mesh_hcl::Document;
use rigging_mesh_hcl::tree::{self, Heredoc};

mod braces;
mod json;

pub(crate) use braces::unbalanced;
pub(crate) use json::from_json;
pub(crate) use rigging_mesh_hcl::tree::{Node, Val};

/// The whole HCL file as one object.
pub(crate) fn from_hcl(doc: &Document) -> Node {
    tree::from_hcl(doc, Heredoc::Dedented)
}

/// The value as plain JSON, for opaque maps such as a proxy's `config`; `None` for an
/// expression JSON cannot hold.
pub(crate) fn to_json(node: &Node) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match &node.val {
        Val::Null => J::Null,
        Val::Bool(b) => J::Bool(*b),
        Val::Number(n) => match n.int.and_then(|i| i64::try_from(i).ok()) {
            Some(i) => J::from(i),
            None => serde_json::from_str(&n.text).ok()?,
        },
        Val::String(s) => J::String(s.clone()),
        Val::List(items) => J::Array(items.iter().map(to_json).collect::<Option<_>>()?),
        Val::Object(members) => {
            let mut map = serde_json::Map::new();
            for m in members {
                map.insert(m.key.clone(), to_json(&m.value)?);
            }
            J::Object(map)
        }
        Val::Other(_) => return None,
    })
}
