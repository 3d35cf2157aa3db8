//! Gateways: ingress and terminating get `rig proxy --gateway` tasks; mesh is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigging_nomad_inject::{Driver, InjectError, Options, inject};
use rigging_nomad_jobspec::{Job, Variables, parse};

fn job(text: &str) -> Job {
    parse("t.nomad.hcl", text, &Variables::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn args(j: &Job, group: &str, task: &str) -> Vec<String> {
    let t = j.group(group).unwrap().task(task).unwrap();
    t.block().block("config").unwrap().get_strings("args")
}

const GATEWAYS: &str = r#"job "gw" {
  group "ingress" {
    network {
      mode = "host"
    }
    service {
      name = "ig"
      port = "8080"
      connect {
        gateway {
          ingress {
            listener {
              port = 8080
              service { name = "api" }
            }
          }
        }
      }
    }
  }
  group "terminating" {
    network {
      mode = "bridge"
    }
    service {
      name = "tg"
      connect {
        gateway {
          terminating {
            service { name = "legacy" }
          }
        }
      }
    }
  }
}
"#;

#[test]
fn gateways_get_their_own_tasks() {
    let mut o = Options::default();
    o.driver = Driver::Docker;
    let out = inject(&job(GATEWAYS), &o).unwrap();
    let ig = out
        .job
        .group("ingress")
        .unwrap()
        .task("connect-ingress-ig")
        .unwrap();
    assert_eq!(ig.kind(), Some("connect-ingress:ig"));
    assert_eq!(ig.lifecycle(), None, "a gateway is not a lifecycle sidecar");
    let cfg = ig.block().block("config").unwrap();
    assert_eq!(cfg.get_str("network_mode"), Some("host"));
    let a = args(&out.job, "ingress", "connect-ingress-ig");
    assert_eq!(a[..5], ["proxy", "--gateway", "ingress", "--id", "ig"]);
    let tg = out
        .job
        .group("terminating")
        .unwrap()
        .task("connect-terminating-tg")
        .unwrap();
    assert_eq!(tg.kind(), Some("connect-terminating:tg"));
    assert!(
        tg.block()
            .block("config")
            .unwrap()
            .get("network_mode")
            .is_none()
    );
    assert_eq!(
        args(&out.job, "terminating", "connect-terminating-tg")[2],
        "terminating"
    );
    // gateways get no sidecar port: Nomad injects the terminating port itself
    assert!(
        out.job
            .group("terminating")
            .unwrap()
            .port_labels()
            .is_empty()
    );
}

#[test]
fn mesh_gateways_are_refused_with_the_block_located() {
    let text = GATEWAYS.replace(
        "terminating {\n            service { name = \"legacy\" }\n          }",
        "mesh {}",
    );
    let Err(InjectError::Refused(errors)) = inject(&job(&text), &Options::default()) else {
        panic!("mesh gateway accepted")
    };
    let e = errors[0].to_string();
    assert!(e.starts_with("t.nomad.hcl:"), "{e}");
    assert!(e.contains("mesh gateways are not supported"), "{e}");
    assert!(e.contains("group \"terminating\" service \"tg\""), "{e}");
}

#[test]
fn gateway_injection_is_idempotent() {
    let once = inject(&job(GATEWAYS), &Options::default()).unwrap();
    let twice = inject(&once.job, &Options::default()).unwrap();
    assert_eq!(twice.job.to_hcl(), once.job.to_hcl());
}
