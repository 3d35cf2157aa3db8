//! Decoding the located tree into typed fields, the way Consul's mapstructure setup does.
//!
//! Consul matches keys case-insensitively and also accepts each field's snake_case alias
//! (`PathPrefix`, `pathprefix`, `path_prefix`); here a key matches a field when both are
//! equal after lower-casing and dropping `_`. Values are weakly typed as in Consul
//! (`WeaklyTypedInput`): a number may be written as a string, a bool as `"true"`, a
//! struct as a one-element list (HCL1 decodes every block as a list) and a list of one
//! element as that element. Unknown keys are errors, as `consul config write` makes them.
//!
//! The decoders are shared with service definitions ([`rigging_mesh_hcl::tree`]); this
//! module says how config entries differ ([`Report`] for [`Diag`]) and adds the choice
//! among fixed spellings.

use rigging_mesh_hcl::Location;
use rigging_mesh_hcl::tree::Report;
pub(crate) use rigging_mesh_hcl::tree::{Fields, as_object, boolean, expected, int, norm, string};

use crate::error::Diag;

/// Config entries decode as mapstructure with `WeaklyTypedInput` does, and say in full
/// where a repeated key was first written (the default wording).
impl Report for Diag {
    const WEAKLY_TYPED: bool = true;
    const DURATION_EXPECTED: &'static str = "a duration such as \"5s\", \"150ms\" or \"1m30s\"";
    const DURATION_UNIT_HINT: bool = true;

    fn report(&mut self, at: &Location, message: String) {
        self.err(at, message);
    }
}

/// One of a fixed set of spellings; `options` pairs each spelling with its value.
pub(crate) fn one_of<T: Clone>(
    d: &mut Diag,
    f: &Fields<'_>,
    name: &str,
    options: &[(&str, T)],
) -> Option<T> {
    let s = f.string(d, name)?;
    pick(d, &f.value_at(name), name, &s, options)
}

/// `s` matched against `options`, or an error at `at` listing them.
pub(crate) fn pick<T: Clone>(
    d: &mut Diag,
    at: &Location,
    name: &str,
    s: &str,
    options: &[(&str, T)],
) -> Option<T> {
    if let Some((_, v)) = options.iter().find(|(k, _)| *k == s) {
        return Some(v.clone());
    }
    let list: Vec<String> = options
        .iter()
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, _)| format!("{k:?}"))
        .collect();
    d.err(
        at,
        format!("{name}: expected one of {}, found {s:?}", list.join(", ")),
    );
    None
}
