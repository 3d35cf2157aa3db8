//! One located value tree for both input formats, so HCL and JSON decode with the same code.
//!
//! Consul reads both formats into a `map[string]interface{}` and decodes that with
//! mapstructure; this tree plays the map's part, with a location on every key and value.
//! HCL blocks become object members flagged `block` (a repeated block is a repeated
//! member, which list fields take as a list, as HCL1 does).
//!
//! Build a tree with [`from_hcl`] or [`from_json`], then read it with [`Fields`] and the
//! value decoders, which report through a [`Report`]: keys match case-insensitively and
//! with or without `_` ([`norm`]), and values are weakly typed as in Consul.

use crate::{HclError, Location};

mod decode;
mod fields;
mod hcl;
mod json;

pub use decode::{Report, as_object, boolean, duration, expected, float, int, norm, string};
pub use fields::Fields;
pub use hcl::{Heredoc, from_hcl};
pub use json::{MAX_JSON_DEPTH, from_json};

/// A value with where it is written.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the value starts.
    pub at: Location,
    /// The value.
    pub val: Val,
}

/// A value of either format.
#[derive(Debug, Clone)]
pub enum Val {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, possibly negative.
    Number(Num),
    /// A string, unescaped (an HCL template without interpolation included).
    String(String),
    /// A list (JSON array, HCL tuple).
    List(Vec<Node>),
    /// An object or block body: its members in file order, repeated keys kept.
    Object(Vec<Member>),
    /// An expression this format cannot hold (an HCL template, variable or call), by kind.
    Other(String),
}

/// A number, as written and as values.
#[derive(Debug, Clone)]
pub struct Num {
    /// The number as written, with its sign.
    pub text: String,
    /// The value as a float (`NaN` when it cannot be read as one).
    pub float: f64,
    /// The exact value when the number is whole.
    pub int: Option<i128>,
}

/// One key of an object (or one block of a body) and its value.
#[derive(Debug, Clone)]
pub struct Member {
    /// The key as written.
    pub key: String,
    /// Where the key is written.
    pub key_at: Location,
    /// The value written for the key.
    pub value: Node,
    /// Written as an HCL block `key { … }` rather than `key = …`.
    pub block: bool,
}

/// Why a JSON text could not be read into the tree: the first fault, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The text is not JSON; the message says what was expected and what was found.
    #[error(transparent)]
    Syntax(HclError),
    /// Values nest deeper than [`MAX_JSON_DEPTH`].
    #[error(transparent)]
    TooDeep(HclError),
}

impl From<JsonError> for HclError {
    fn from(e: JsonError) -> Self {
        match e {
            JsonError::Syntax(e) | JsonError::TooDeep(e) => e,
        }
    }
}

impl Num {
    /// A whole number `v`, written `text`.
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

    /// A number with a fraction or an exponent, written `text`.
    pub fn fraction(float: f64, text: String) -> Self {
        Self {
            text,
            float,
            int: None,
        }
    }

    /// The number with its sign flipped, as `-` before it writes it.
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

    /// Whether the value is `null`.
    pub fn is_null(&self) -> bool {
        matches!(self.val, Val::Null)
    }
}
