//! `rig-bench`: measures Rigging's proxy and control plane beside HAProxy and nginx, on this machine.

mod report;

fn main() {}
