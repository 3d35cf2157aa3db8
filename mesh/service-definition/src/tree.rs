//! One located value tree for both input formats, so HCL and JSON decode with the same code.
//!
//! Consul reads both formats into a `map[string]interface{}` and decodes that with
//! mapstructure; this tree plays the map's part, with a location on every key and value.
//! HCL blocks become object members flagged `block` (a repeated block is a repeated
//! member, which list fields take as a list, as HCL1 does).

use rigging_mesh_hcl::Location;

mod braces;
mod hcl;
mod json;

pub(crate) use braces::unbalanced;

pub(crate) use hcl::from_hcl;
pub(crate) use json::from_json;

/// A value with where it is written.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub at: Location,
    pub val: Val,
}

#[derive(Debug, Clone)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    /// A number as written, and its value when it is whole.
    Number {
        text: String,
        int: Option<i128>,
    },
    String(String),
    List(Vec<Node>),
    Object(Vec<Member>),
    /// An expression the format cannot hold (an HCL template, variable or call), by kind.
    Other(String),
}

/// One key of an object (or one block of a body) and its value.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub key: String,
    pub key_at: Location,
    pub value: Node,
    /// Written as an HCL block `key { … }` rather than `key = …`.
    pub block: bool,
}

impl Node {
    /// How the value reads in "found …": literals as written, others by kind.
    pub fn describe(&self) -> String {
        match &self.val {
            Val::Null => "null".to_owned(),
            Val::Bool(b) => b.to_string(),
            Val::Number { text, .. } => text.clone(),
            Val::String(s) => format!("{s:?}"),
            Val::List(_) => "a list".to_owned(),
            Val::Object(_) => "an object".to_owned(),
            Val::Other(what) => what.clone(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.val, Val::Null)
    }

    /// The value as plain JSON, for opaque maps such as a proxy's `config`; `None` for an
    /// expression JSON cannot hold.
    pub fn to_json(&self) -> Option<serde_json::Value> {
        use serde_json::Value as J;
        Some(match &self.val {
            Val::Null => J::Null,
            Val::Bool(b) => J::Bool(*b),
            Val::Number { text, int } => match int.and_then(|i| i64::try_from(i).ok()) {
                Some(i) => J::from(i),
                None => serde_json::from_str(text).ok()?,
            },
            Val::String(s) => J::String(s.clone()),
            Val::List(items) => J::Array(items.iter().map(Node::to_json).collect::<Option<_>>()?),
            Val::Object(members) => {
                let mut map = serde_json::Map::new();
                for m in members {
                    map.insert(m.key.clone(), m.value.to_json()?);
                }
                J::Object(map)
            }
            Val::Other(_) => return None,
        })
    }
}
