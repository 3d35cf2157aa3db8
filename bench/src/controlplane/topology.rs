//! The registry file of the push benchmark: service `target` (three instances without
//! sidecars, one of which moves to a new port every round) and N simulated proxies of
//! service `sim`, each declaring `target` as its upstream.

use std::fmt::Write as _;

use super::sim::TARGET;

/// Instances of `target`; one of them moves each round, the others are fixed.
const TARGET_INSTANCES: u16 = 3;
/// Port of the fixed `target` instances (never connected to: nothing is bound).
const TARGET_FIXED_PORT: u16 = 18_000;
/// First port of the moving instance; round `r` puts it on `MOVING_BASE + r % MOVING_SPAN`,
/// so every round's endpoint set is new and recognisable by that port alone.
const MOVING_BASE: u16 = 40_000;
const MOVING_SPAN: usize = 20_000;
/// The simulated proxies' application port and the first of their inbound ports: only
/// declared, never bound, since the proxies are simulated.
const SIM_APP_PORT: u16 = 18_100;
const SIM_INBOUND_BASE: u16 = 21_000;
const SIM_INBOUND_SPAN: usize = 10_000;
/// Where each simulated proxy binds `target`: one upstream per proxy, so no collision.
const SIM_LOCAL_BIND_PORT: u16 = 9_000;

/// Names of the simulated proxies: `sim-0` … `sim-{n-1}`.
pub(crate) fn sim_names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("sim-{i}")).collect()
}

/// The port the moving `target` instance listens on in round `round` (0 = initial).
pub(crate) fn moving_port(round: usize) -> u16 {
    // MOVING_BASE + MOVING_SPAN stays below 65536, so the conversion never fails.
    MOVING_BASE + u16::try_from(round % MOVING_SPAN).unwrap_or(0)
}

/// The `sim` service with `n` instances: written once, reused by every round's file.
pub(crate) fn sim_service(n: usize) -> String {
    let mut s = String::with_capacity(200 * n + 64);
    s.push_str("service \"sim\" {\n");
    for i in 0..n {
        let inbound = SIM_INBOUND_BASE + u16::try_from(i % SIM_INBOUND_SPAN).unwrap_or(0);
        // writing to a String cannot fail
        let _ = write!(
            s,
            "  instance \"sim-{i}\" {{\n    address = \"127.0.0.1\"\n    port    = {SIM_APP_PORT}\n    sidecar {{\n      port = {inbound}\n      upstream \"{TARGET}\" {{ local_bind_port = {SIM_LOCAL_BIND_PORT} }}\n    }}\n  }}\n"
        );
    }
    s.push_str("}\n");
    s
}

/// The whole registry for round `round`, with `sim` as made by [`sim_service`].
pub(crate) fn registry(round: usize, sim: &str) -> String {
    let mut s = String::with_capacity(sim.len() + 512);
    s.push_str("# Written by rig-bench (control-plane push benchmark).\n");
    let _ = writeln!(s, "service \"{TARGET}\" {{");
    for i in 0..TARGET_INSTANCES {
        let port = if i == 0 {
            moving_port(round)
        } else {
            TARGET_FIXED_PORT + i
        };
        let _ = write!(
            s,
            "  instance \"{TARGET}-{i}\" {{\n    address = \"127.0.0.1\"\n    port    = {port}\n  }}\n"
        );
    }
    s.push_str("}\n\n");
    s.push_str(sim);
    s
}
