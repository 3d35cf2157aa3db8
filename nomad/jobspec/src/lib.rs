//! Nomad job files read the way Nomad reads them — HCL2 (jobspec2) with variables, locals,
//! functions, `dynamic` blocks and runtime placeholders kept as text, or the API JSON form —
//! into a lossless job tree with typed views for the mesh, validation of the Connect rules,
//! and rendering back to HCL2 or to API JSON.
//!
//! ```
//! use rigging_nomad_jobspec::{parse, Block, Variables};
//!
//! let text = r#"
//! variable "image" { default = "hashicorpdev/counter-api:v3" }
//! job "countdash" {
//!   group "api" {
//!     network { mode = "bridge" }
//!     service {
//!       name = "count-api"
//!       port = "9001"
//!       connect {
//!         sidecar_service {}
//!       }
//!     }
//!     task "web" {
//!       driver = "docker"
//!       config { image = var.image }
//!       env { NODE = "${attr.unique.hostname}" }
//!     }
//!   }
//! }
//! "#;
//! let mut job = parse("countdash.nomad.hcl", text, &Variables::new()).unwrap();
//! job.validate().unwrap();
//! let group = job.group("api").unwrap();
//! assert!(group.services()[0].connect().unwrap().sidecar_service().is_some());
//!
//! // what an injector does: add a task to the group, drop the sidecar_service
//! let group = job.group_mut("api").unwrap();
//! group.push_block(
//!     Block::new("task", &["rig-proxy"])
//!         .with_attr("driver", "docker")
//!         .with_block(Block::new("lifecycle", &[]).with_attr("hook", "prestart").with_attr("sidecar", true)),
//! );
//! let connect = group.blocks_mut("service").next().unwrap().block_mut("connect").unwrap();
//! connect.remove_blocks("sidecar_service");
//! let hcl = job.to_hcl();
//! assert!(hcl.contains("task \"rig-proxy\" {"));
//! assert!(hcl.contains("NODE = \"${attr.unique.hostname}\""));
//! let api = job.to_api_json();
//! assert_eq!(api["Job"]["TaskGroups"][0]["Tasks"][1]["Lifecycle"]["Hook"], "prestart");
//! ```

mod decode;
mod error;
mod eval;
mod functions;
mod job;
mod json;
mod render;
mod tree;
mod validate;
mod value;
mod variables;
mod views;

use std::path::Path;

pub use error::{Error, Invalid, ValidationError};
pub use job::Job;
pub use rigging_mesh_hcl::{HclError, Location};
pub use tree::{Attribute, Block, Body, Item};
pub use value::{Number, Value};
pub use variables::{ENV_PREFIX, Variables};
pub use views::{
    Check, Connect, ExposePath, Gateway, GatewayKind, Group, Network, Port, Proxy, Service,
    SidecarService, SidecarTask, Task, Upstream,
};

/// Reads a job file: API JSON (`{"Job": {…}}` or a bare job object) when the first
/// non-blank character is `{`, as Nomad decides, HCL2 otherwise. `file` only names locations.
pub fn parse(file: impl AsRef<Path>, text: &str, vars: &Variables) -> Result<Job, Error> {
    if text.trim_start().starts_with('{') {
        parse_json(file, text)
    } else {
        parse_hcl(file, text, vars)
    }
}

/// Reads an HCL2 job file with the caller's variable values.
pub fn parse_hcl(file: impl AsRef<Path>, text: &str, vars: &Variables) -> Result<Job, Error> {
    decode::parse_hcl(file.as_ref(), text, vars)
}

/// Reads a job in Nomad's API JSON form, `{"Job": {…}}` or the bare job object.
pub fn parse_json(file: impl AsRef<Path>, text: &str) -> Result<Job, Error> {
    json::parse(file.as_ref(), text)
}
