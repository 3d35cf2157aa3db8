//! Validation as Nomad applies it to Connect jobs, each error located at the offending block
//! or attribute.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigging_nomad_jobspec::{Job, Variables, parse};

fn job(text: &str) -> Job {
    parse("v.nomad.hcl", text, &Variables::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// Each case: a job, and the start of the first validation error (`file:line:column: …`).
#[test]
fn validation_errors_are_located() {
    let wrap = |group: &str| format!("job \"j\" {{\n  group \"g\" {{\n{group}\n  }}\n}}\n");
    let cases: Vec<(String, &str)> = vec![
        (
            wrap(
                "    service {\n      name = \"a\"\n      connect {\n        sidecar_service {}\n      }\n    }",
            ),
            "v.nomad.hcl:5:7: group \"g\" service \"a\": a group with a Consul Connect sidecar must have exactly one network block",
        ),
        (
            wrap(
                "    network { mode = \"host\" }\n    service {\n      name = \"a\"\n      connect {\n        sidecar_service {}\n      }\n    }",
            ),
            "v.nomad.hcl:3:5: group \"g\": invalid network mode \"host\"",
        ),
        (
            wrap("    network { mode = \"bridge\" }\n    network { mode = \"bridge\" }"),
            "v.nomad.hcl:4:5: group \"g\": only one network block is allowed",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    service {\n      name = \"Bad_Name\"\n    }",
            ),
            "v.nomad.hcl:5:7: group \"g\" service \"Bad_Name\": service name \"Bad_Name\" must be valid per RFC 1123",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    service {\n      name = \"Web\"\n      connect {\n        sidecar_service {}\n      }\n    }",
            ),
            "v.nomad.hcl:5:7: group \"g\" service \"Web\": service names must be lowercase",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    service {\n      name = \"a\"\n      port = \"nope\"\n    }",
            ),
            "v.nomad.hcl:6:7: group \"g\" service \"a\": port label \"nope\" is not defined",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    service {\n      name = \"a\"\n      connect {\n        sidecar_service {\n          proxy {\n            upstreams { destination_name = \"b\" }\n          }\n        }\n      }\n    }",
            ),
            "v.nomad.hcl:9:13: group \"g\" service \"a\": upstreams needs local_bind_port",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    service {\n      name = \"a\"\n      connect {\n        sidecar_service {\n          proxy {\n            upstreams {\n              destination_name = \"b\"\n              local_bind_port = 80\n            }\n            upstreams {\n              destination_name = \"c\"\n              local_bind_port = 80\n            }\n          }\n        }\n      }\n    }",
            ),
            "v.nomad.hcl:15:15: group \"g\" service \"a\": upstreams in one group must not share",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    task \"t\" {\n      service {\n        name = \"a\"\n        connect {\n        sidecar_service {}\n      }\n      }\n    }",
            ),
            "v.nomad.hcl:7:9: group \"g\" task \"t\" service \"a\": connect sidecar_service, sidecar_task and gateway are only allowed in group-level services",
        ),
        (
            wrap(
                "    network { mode = \"bridge\" }\n    service {\n      name = \"a\"\n      connect {\n        native = true\n        sidecar_service {}\n      }\n    }",
            ),
            "v.nomad.hcl:6:7: group \"g\" service \"a\": connect must be exactly one of",
        ),
        (
            wrap(
                "    service {\n      name = \"a\"\n      provider = \"nomad\"\n      connect { native = true }\n    }",
            ),
            "v.nomad.hcl:5:7: group \"g\" service \"a\": service with provider nomad cannot include connect",
        ),
    ];
    for (text, want) in &cases {
        let err = job(text).validate().unwrap_err();
        let first = err.errors[0].to_string();
        assert!(
            first.starts_with(want),
            "{text}\n  got  {first}\n  want {want}…"
        );
    }
}
