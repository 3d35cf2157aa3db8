//! One located value tree for both input formats, so HCL and JSON decode with the same code.
//!
//! Consul reads both formats into a `map[string]interface{}` and decodes that with
//! mapstructure; this tree plays the map's part, with a location on every key and value.
//! HCL blocks become object members flagged `block` (a repeated block is a repeated
//! member, which list fields take as a list, as HCL1 does).

use rigging_mesh_hcl::Location;

mod hcl;
mod json;

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
    Number(Num),
    String(String),
    List(Vec<Node>),
    Object(Vec<Member>),
    /// An expression this format cannot hold (an HCL template, variable or call), by kind.
    Other(String),
}

/// A number, as written and as values.
#[derive(Debug, Clone)]
pub(crate) struct Num {
    pub text: String,
    pub float: f64,
    /// The exact value when the number is whole.
    pub int: Option<i128>,
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

impl Num {
    pub fn whole(v: i128, text: String) -> Self {
        // precision loss past 2^53 only affects fractional uses, which never see such values
        #[allow(clippy::cast_precision_loss)]
        let float = v as f64;
        Self {
            text,
            float,
            int: Some(v),
        }
    }

    pub fn fraction(float: f64, text: String) -> Self {
        Self {
            text,
            float,
            int: None,
        }
    }

    pub fn negated(self) -> Self {
        Self {
            text: format!("-{}", self.text),
            float: -self.float,
            int: self.int.map(|i| -i),
        }
    }
}

impl Node {
    /// How the value reads in "found …": literals as written, others by kind.
    pub fn describe(&self) -> String {
        match &self.val {
            Val::Null => "null".to_owned(),
            Val::Bool(b) => b.to_string(),
            Val::Number(n) => n.text.clone(),
            Val::String(s) => format!("{s:?}"),
            Val::List(_) => "a list".to_owned(),
            Val::Object(_) => "an object".to_owned(),
            Val::Other(what) => what.clone(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self.val, Val::Null)
    }
}
