//! Decoding the located tree into typed fields, the way Consul's agent decodes definitions.
//!
//! Consul's agent accepts each field as snake_case and CamelCase (`local_bind_port`,
//! `LocalBindPort`); here a key matches a field when both are equal after lower-casing and
//! dropping `_`. Values are weakly typed as in Consul: a number may be written as a string,
//! a bool as `"true"`, an object as a one-element list (HCL1 decodes every block as a list).
//! Unknown keys are errors, listing the keys that were expected.
//!
//! The decoders are shared with config entries ([`rigging_mesh_hcl::tree`]); this module
//! says how service definitions differ ([`Report`] for [`Diag`]) and keeps opaque maps.

use rigging_mesh_hcl::Location;
use rigging_mesh_hcl::tree::Report;
pub(crate) use rigging_mesh_hcl::tree::{Fields, as_object, expected, norm, string};

use crate::error::Diag;
use crate::tree::to_json;

/// The agent decodes service definitions without mapstructure's `WeaklyTypedInput`
/// extras; a repeated field says by line and column where it was first written, a
/// repeated map key does not say.
impl Report for Diag {
    const DURATION_EXPECTED: &'static str = "a duration such as \"10s\", \"150ms\" or \"1m30s\"";

    fn report(&mut self, at: &Location, message: String) {
        self.err(at, message);
    }

    fn repeated_field(&mut self, name: &str, first: &Location, second: &Location) {
        self.err(
            second,
            format!(
                "{name} is given more than once (first at line {}, column {}); expected one",
                first.line, first.column
            ),
        );
    }

    fn repeated_key(&mut self, name: &str, key: &str, _first: &Location, second: &Location) {
        self.err(
            second,
            format!("{name}: key {key:?} is given more than once"),
        );
    }
}

/// The free-form object `name` of `f` kept as JSON (a proxy's or upstream's `config`).
pub(crate) fn opaque(
    d: &mut Diag,
    f: &Fields<'_>,
    name: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    for m in f.map(d, name) {
        match to_json(&m.value) {
            Some(v) => {
                out.insert(m.key.clone(), v);
            }
            None => {
                expected::<()>(d, &m.value, &m.key, "a literal value");
            }
        }
    }
    out
}
