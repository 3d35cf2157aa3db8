//! HCL decoding with located errors: file, line, column and what was expected.
//!
//! Parse a file with [`Document::parse`], then walk it with the cursor types:
//! [`Body`] (a block body, or an object expression written `name = { … }`),
//! [`Block`] and [`Value`]. Every getter returns an [`HclError`] located at the
//! offending token, formatted `file:line:column: message`.
//!
//! Consul's own files (config entries, service definitions), HCL or JSON, are read into
//! the located value tree of [`tree`] instead, and decoded from it the way Consul does.
//!
//! ```
//! use rigging_mesh_hcl::Document;
//!
//! let doc = Document::parse("app.hcl", "port = 70000\n").unwrap();
//! let err = doc.body().required("port").and_then(|v| v.u16()).unwrap_err();
//! assert_eq!(err.to_string(), "app.hcl:1:8: port: expected a number from 0 to 65535, found 70000");
//! ```

mod body;
mod compat;
mod document;
mod duration;
mod error;
pub mod tree;
mod value;

pub use body::{Block, Body, Label};
pub use document::Document;
pub use duration::{DurationError, parse_duration};
pub use error::{HclError, Location};
pub use value::Value;
