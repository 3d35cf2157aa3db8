//! Consul agent service definitions (HCL or JSON) read as Consul's agent reads them, with
//! located errors; Consul's sidecar defaults as a pure [`SidecarPlan`]; and the agent's
//! registration API, so Rigging's sidecar can run on a plain VM from the files users have.
//!
//! # Reading
//!
//! [`load_file`] / [`parse_str`] take `service { … }`, `services { … }` (repeated) or
//! `services = [ … ]`, the JSON `{"service": {…}}` / `{"services": [ … ]}`, and a bare
//! definition (a `PUT /v1/agent/service/register` body). Keys are matched as Consul's agent
//! matches them: snake_case or CamelCase (`local_bind_port`, `LocalBindPort`); nested objects
//! may be blocks or `= { … }`. Unknown keys, a key given twice, values of the wrong type and
//! Consul's registration rules (name required, port ranges, `connect-proxy` needs
//! `proxy.destination_service_name` and a port, no ID or nested sidecar in a
//! `sidecar_service`, upstreams need `destination_name` and `local_bind_port`, no two
//! upstreams on one bind address and port, check timings, `meta` limits, gateways) are
//! errors at `file:line:column`.
//!
//! # A key given twice
//!
//! Consul reads HCL with HCL1, whose decoder keeps the last of two `port = …` lines
//! without a word (so the docs' "all fields" sample registers port 8000, not 80). Rigging
//! refuses such a file at the second key instead, as HCL2 does: a silent override hides
//! exactly the mistake the user will look for later. The same goes for one key under two
//! spellings (`name` and `Name`) in either format.
//!
//! # Planning and registering
//!
//! ```
//! use std::path::Path;
//! use rigging_mesh_service_definition::{PlanOptions, parse_str, plan_sidecars};
//!
//! let hcl = r#"
//! service {
//!   name = "web"
//!   port = 8080
//!   connect { sidecar_service { proxy { upstreams = [{ destination_name = "api", local_bind_port = 9191 }] } } }
//! }
//! "#;
//! let parsed = parse_str(Path::new("web.hcl"), hcl).expect("valid");
//! let plans = plan_sidecars(&parsed.services, &PlanOptions::default()).expect("plan");
//! assert_eq!(plans[0].sidecar_id, "web-sidecar-proxy");
//! assert_eq!(plans[0].sidecar_port, 21000);
//! // then: AgentClient::new(&AgentConfig::default())?.register_plan(&plans[0]).await?
//! ```

mod client;
mod decode;
mod error;
mod model;
mod parse;
mod register;
mod sidecar;
mod tree;

pub use client::{
    AgentClient, AgentConfig, AgentError, DEFAULT_AGENT_ADDRESS, DEFAULT_REQUEST_TIMEOUT,
};
pub use error::{DefinitionError, LocatedError, Location};
pub use model::{
    CheckDefinition, Connect, DestinationType, Expose, ExposePath, Locality, MeshGatewayMode,
    Opaque, ProxyConfig, ProxyMode, ServiceAddress, ServiceDefinition, ServiceKind,
    TransparentProxy, Upstream, Weights,
};
pub use parse::{Format, Parsed, load_file, parse_str};
pub use register::{
    AddressRegistration, CheckRegistration, ConnectRegistration, ExposePathRegistration,
    ExposeRegistration, LocalityRegistration, MeshGatewayRegistration, ProxyRegistration,
    ServiceRegistration, TransparentProxyRegistration, UpstreamRegistration, WeightsRegistration,
    go_duration,
};
pub use sidecar::{
    DEFAULT_LOCAL_ADDRESS, DEFAULT_SIDECAR_PORTS, Endpoint, PlanError, PlanOptions,
    PlannedUpstream, SIDECAR_CHECK_INTERVAL, SIDECAR_SUFFIX, SidecarPlan, SidecarSource,
    plan_sidecars,
};
