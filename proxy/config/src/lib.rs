//! The proxy's configuration model, and its validated conversion from the xDS resources Pilot sends.
//!
//! xDS messages stop here: each resource converts with `TryFrom` into a model type, and anything
//! the proxy does not implement is an error (so the update is NACKed) rather than ignored.

mod types;

pub use types::*;
