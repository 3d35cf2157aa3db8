//! What the injector is told: where the control plane is, how to run `rig`, which identity.

/// Pilot's xDS address as seen from a task: the Nomad client's own IP, where `rig pilot` (or
/// `rig up`) listens on its default port 15010 (ARCHITECTURE.md's port table). Nomad
/// interpolates `${attr.…}` on the client at run time.
pub const DEFAULT_PILOT: &str = "http://${attr.unique.network.ip-address}:15010";
/// Citadel's gRPC address as seen from a task, on its default port 15012; `rig proxy
/// --citadel` takes `host:port` (cli identity.rs `DEFAULT_CITADEL`).
pub const DEFAULT_CITADEL: &str = "${attr.unique.network.ip-address}:15012";
/// The roots Citadel's certificate chains to, as installed on each Nomad client (`rig citadel
/// bundle` prints them). `/etc` is inside the `exec` driver's default chroot.
pub const DEFAULT_CITADEL_CA: &str = "/etc/rigging/trust-bundle.pem";
/// The `aud` Citadel expects in Nomad workload identities (`rig citadel serve
/// --nomad-audience`, default `rigging-citadel`).
pub const DEFAULT_AUDIENCE: &str = "rigging-citadel";
/// Where the `rig` binary is on Nomad clients, for the `exec` driver.
pub const DEFAULT_RIG_PATH: &str = "/usr/local/bin/rig";
/// The container image holding `rig` as its entrypoint, for the `docker` driver: the release
/// matching this injector.
pub const DEFAULT_IMAGE: &str = concat!("rigging/rig:", env!("CARGO_PKG_VERSION"));
/// The name of the workload identity the proxy task asks Nomad for; Nomad writes it to
/// `${NOMAD_SECRETS_DIR}/nomad_<name>.jwt`.
pub const IDENTITY_NAME: &str = "rigging";

/// How the injected proxy task runs `rig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Driver {
    /// Nomad's `exec` driver: `config { command = <rig path> args = […] }`.
    #[default]
    Exec,
    /// Nomad's `docker` driver: `config { image = <image> args = […] }`.
    Docker,
}

/// Injection settings; [`Options::default`] gives the documented defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Pilot's xDS URL, passed as `rig proxy --pilot`.
    pub pilot: String,
    /// Citadel's `host:port`, passed as `rig proxy --citadel`.
    pub citadel: String,
    /// The trust bundle file on the client, passed as `rig proxy --citadel-ca`.
    pub citadel_ca: String,
    /// The audience of the workload identity the proxy presents to Citadel.
    pub audience: String,
    /// The task driver of injected tasks (a `sidecar_task.driver` still wins, as in Nomad).
    pub driver: Driver,
    /// The `rig` binary for command-based drivers.
    pub rig_path: String,
    /// The image for container drivers (`docker`, `podman`).
    pub image: String,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            pilot: DEFAULT_PILOT.to_owned(),
            citadel: DEFAULT_CITADEL.to_owned(),
            citadel_ca: DEFAULT_CITADEL_CA.to_owned(),
            audience: DEFAULT_AUDIENCE.to_owned(),
            driver: Driver::Exec,
            rig_path: DEFAULT_RIG_PATH.to_owned(),
            image: DEFAULT_IMAGE.to_owned(),
        }
    }
}

impl Driver {
    /// The Nomad driver name.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Exec => "exec",
            Driver::Docker => "docker",
        }
    }
}

/// Drivers whose `config` names an image rather than a command.
pub(crate) fn is_container_driver(driver: &str) -> bool {
    matches!(driver, "docker" | "podman")
}
