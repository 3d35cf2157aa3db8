//! Values for a job's input variables, given by the caller the ways Nomad takes them:
//! `-var name=value`, `-var-file`, and `NOMAD_VAR_<name>` environment variables.

use std::path::Path;

use rigging_mesh_hcl::Document;

use crate::eval::{Fail, Scope};
use crate::{Error, Value};

/// The prefix Nomad reads variable values from the environment with.
pub const ENV_PREFIX: &str = "NOMAD_VAR_";

/// Caller-given variable values; a name set twice keeps the last value, so add them in
/// Nomad's order of precedence: environment, then var files, then `-var`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables {
    values: Vec<(String, VarValue)>,
}

/// One given value: already typed, or raw text converted by the declared type.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum VarValue {
    Typed(Value),
    Raw(String),
}

impl Variables {
    /// No values: every variable takes its default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name` to a typed value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<Value>) -> &mut Self {
        self.put(name.into(), VarValue::Typed(value.into()));
        self
    }

    /// Sets `name` from text, as `-var name=text` does: a string variable takes the text
    /// as it is; other types read it as an HCL expression (`8080`, `true`, `["a", "b"]`).
    pub fn set_raw(&mut self, name: impl Into<String>, text: impl Into<String>) -> &mut Self {
        self.put(name.into(), VarValue::Raw(text.into()));
        self
    }

    /// Adds one `-var` argument, `name=value`.
    pub fn add_var_arg(&mut self, arg: &str) -> Result<&mut Self, Error> {
        let (name, value) = arg.split_once('=').ok_or_else(|| Error::Variable {
            name: arg.to_owned(),
            message: "expected name=value".to_owned(),
        })?;
        Ok(self.set_raw(name.trim(), value))
    }

    /// Adds the `NOMAD_VAR_<name>` entries of an environment (other entries are ignored).
    pub fn add_env<K, V>(&mut self, env: impl IntoIterator<Item = (K, V)>) -> &mut Self
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in env {
            if let Some(name) = k.as_ref().strip_prefix(ENV_PREFIX) {
                self.set_raw(name, v.as_ref());
            }
        }
        self
    }

    /// Adds the values of a var file (`name = value` lines, HCL), as `-var-file` does.
    /// Values must be constants; errors are located in `file`.
    pub fn add_var_file(&mut self, file: impl AsRef<Path>, text: &str) -> Result<&mut Self, Error> {
        let doc = Document::parse(file, text)?;
        let body = hcl_edit::parser::parse_body(doc.text()).map_err(|e| Error::Variable {
            name: String::new(),
            message: e.to_string(),
        })?;
        let (empty_vars, empty_locals) = (Value::Object(Vec::new()), Value::Object(Vec::new()));
        let mut scope = Scope {
            doc: &doc,
            vars: &empty_vars,
            locals: &empty_locals,
            resolving_locals: false,
            bound: Vec::new(),
        };
        for attr in body.attributes() {
            let at = hcl_edit::Span::span(&attr.key).map_or(0, |s| s.start);
            let v = scope.eval(&attr.value, at).map_err(|f| match f {
                Fail::Error(e) => Error::Hcl(e),
                Fail::PendingLocal(l) => Error::Variable {
                    name: attr.key.as_str().to_owned(),
                    message: format!("a var file cannot use local.{l}"),
                },
            })?;
            self.set(attr.key.as_str(), v);
        }
        Ok(self)
    }

    /// Adds every value of `other` after this one's (so `other` wins).
    pub fn extend(&mut self, other: Variables) -> &mut Self {
        for (k, v) in other.values {
            self.put(k, v);
        }
        self
    }

    fn put(&mut self, name: String, value: VarValue) {
        self.values.retain(|(n, _)| *n != name);
        self.values.push((name, value));
    }

    pub(crate) fn entries(&self) -> &[(String, VarValue)] {
        &self.values
    }
}
