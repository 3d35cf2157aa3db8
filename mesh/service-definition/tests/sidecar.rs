//! Consul's sidecar defaults as a plan: names, ports, local app, inherited tags and meta,
//! checks, and the registration bodies in the CamelCase of Consul's API.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::Path;

use rigging_mesh_service_definition::{
    Endpoint, PlanError, PlanOptions, SidecarPlan, go_duration, parse_str, plan_sidecars,
};
use serde_json::json;

fn plans(text: &str, opts: &PlanOptions) -> Result<Vec<SidecarPlan>, PlanError> {
    let parsed = parse_str(Path::new("s.hcl"), text).unwrap_or_else(|e| panic!("{e}"));
    plan_sidecars(&parsed.services, opts)
}

const THREE: &str = r#"
services {
  name = "a"
  port = 21000
}
services {
  name = "b"
  port = 8080
  connect { sidecar_service {} }
}
services {
  name = "c"
  port = 8081
  connect { sidecar_service { port = 21001 } }
}
services {
  name = "d"
  port = 8082
  connect { sidecar_service {} }
}
"#;

#[test]
fn ports_are_the_lowest_free_in_the_range_skipping_those_of_the_set() {
    let p = plans(THREE, &PlanOptions::default()).unwrap();
    let ports: Vec<(&str, u16, bool)> = p
        .iter()
        .map(|p| (p.sidecar_id.as_str(), p.sidecar_port, p.port_assigned))
        .collect();
    // 21000 is a's port and 21001 c's sidecar's, so b gets 21002 and d 21003
    assert_eq!(
        ports,
        [
            ("b-sidecar-proxy", 21002, true),
            ("c-sidecar-proxy", 21001, false),
            ("d-sidecar-proxy", 21003, true),
        ]
    );
    // the same files plan the same ports again
    assert_eq!(p, plans(THREE, &PlanOptions::default()).unwrap());
}

#[test]
fn the_range_is_configurable_and_can_run_out() {
    let opts = PlanOptions {
        sidecar_ports: 30000..=30001,
        reserved_ports: BTreeSet::from([30000]),
    };
    let err = plans(THREE, &opts).unwrap_err();
    assert_eq!(
        err,
        PlanError::NoPortLeft {
            service: "d".into(),
            min: 30000,
            max: 30001
        }
    );
    assert!(
        err.to_string().contains("none left in 30000..=30001"),
        "{err}"
    );
    let opts = PlanOptions {
        sidecar_ports: 30000..=30010,
        ..PlanOptions::default()
    };
    let ports: Vec<u16> = plans(THREE, &opts)
        .unwrap()
        .iter()
        .map(|p| p.sidecar_port)
        .collect();
    assert_eq!(ports, [30000, 21001, 30001]);
}

const WEB: &str = r#"
service {
  name    = "web"
  id      = "web-1"
  address = "10.0.0.5"
  port    = 8080
  tags    = ["v1"]
  meta    = { team = "a" }
  token   = "t-web"
  connect {
    sidecar_service {
      tags = ["proxy"]
      proxy {
        upstreams = [
          { destination_name = "api", local_bind_port = 9191 },
          { destination_name = "db", local_bind_address = "127.0.0.2", local_bind_port = 5432, datacenter = "dc2" },
        ]
      }
    }
  }
}
"#;

#[test]
fn a_nested_sidecar_gets_consuls_defaults() {
    let p = plans(WEB, &PlanOptions::default()).unwrap().remove(0);
    assert_eq!(
        (p.service_name.as_str(), p.service_id.as_str()),
        ("web", "web-1")
    );
    assert_eq!(
        (p.sidecar_id.as_str(), p.sidecar_name.as_str()),
        ("web-1-sidecar-proxy", "web-sidecar-proxy")
    );
    assert_eq!(p.sidecar_address.as_deref(), Some("10.0.0.5"));
    assert_eq!(
        p.local_app,
        Endpoint::Tcp {
            address: "127.0.0.1".into(),
            port: 8080
        }
    );
    assert_eq!(
        p.local_app.socket_addr(),
        Some(([127, 0, 0, 1], 8080).into())
    );
    // tags given on the sidecar win; meta, not given, comes from the service
    assert_eq!(p.tags, ["proxy"]);
    assert_eq!(p.meta.get("team").map(String::as_str), Some("a"));
    assert_eq!(p.token.as_deref(), Some("t-web"));
    let binds: Vec<_> = p
        .upstreams
        .iter()
        .map(|u| (u.destination_name.as_str(), u.bind.socket_addr().unwrap()))
        .collect();
    assert_eq!(
        binds,
        [
            ("api", ([127, 0, 0, 1], 9191).into()),
            ("db", ([127, 0, 0, 2], 5432).into())
        ]
    );
    assert_eq!(p.upstreams[1].datacenter, "dc2");
    // the two default checks, on the sidecar's own address
    assert_eq!(p.checks[0].name, "Connect Sidecar Listening");
    assert_eq!(p.checks[0].tcp, "10.0.0.5:21000");
    assert_eq!(go_duration(p.checks[0].interval.unwrap()), "10s");
    assert_eq!(p.checks[1].name, "Connect Sidecar Aliasing web-1");
}

#[test]
fn the_registration_body_nests_the_sidecar_with_its_port_pinned() {
    let p = plans(WEB, &PlanOptions::default()).unwrap().remove(0);
    let body = serde_json::to_value(&p.registration).unwrap();
    assert_eq!(
        body,
        json!({
            "ID": "web-1",
            "Name": "web",
            "Tags": ["v1"],
            "Address": "10.0.0.5",
            "Meta": { "team": "a" },
            "Port": 8080,
            "Connect": {
                "SidecarService": {
                    "Tags": ["proxy"],
                    "Port": 21000,
                    "Proxy": {
                        "Upstreams": [
                            { "DestinationType": "service", "DestinationName": "api", "LocalBindPort": 9191 },
                            { "DestinationType": "service", "DestinationName": "db", "Datacenter": "dc2",
                              "LocalBindAddress": "127.0.0.2", "LocalBindPort": 5432 }
                        ]
                    }
                }
            }
        })
    );
}

#[test]
fn the_expanded_sidecar_registration_is_what_the_agent_would_register() {
    let p = plans(WEB, &PlanOptions::default()).unwrap().remove(0);
    let body = serde_json::to_value(&p.sidecar_registration).unwrap();
    assert_eq!(body["ID"], "web-1-sidecar-proxy");
    assert_eq!(body["Name"], "web-sidecar-proxy");
    assert_eq!(body["Kind"], "connect-proxy");
    assert_eq!(body["Port"], 21000);
    assert_eq!(body["Proxy"]["DestinationServiceName"], "web");
    assert_eq!(body["Proxy"]["DestinationServiceID"], "web-1");
    assert_eq!(body["Proxy"]["LocalServiceAddress"], "127.0.0.1");
    assert_eq!(body["Proxy"]["LocalServicePort"], 8080);
    assert_eq!(
        body["Checks"][0],
        json!({ "Name": "Connect Sidecar Listening", "TCP": "10.0.0.5:21000", "Interval": "10s" })
    );
    assert_eq!(
        body["Checks"][1],
        json!({ "Name": "Connect Sidecar Aliasing web-1", "AliasService": "web-1" })
    );
    assert!(
        body.get("Token").is_none(),
        "a token goes in the header, never the body"
    );
}

#[test]
fn checks_given_on_the_sidecar_replace_the_defaults() {
    let text = r#"service {
  name = "w"
  port = 80
  connect { sidecar_service { check { name = "mine", ttl = "30s" } } }
}"#;
    let p = plans(text, &PlanOptions::default()).unwrap().remove(0);
    assert_eq!(p.checks.len(), 1);
    assert_eq!(p.checks[0].name, "mine");
}

#[test]
fn a_socket_service_is_reached_on_its_socket() {
    let text = "service {\n  name = \"w\"\n  socket_path = \"/run/w.sock\"\n  connect { sidecar_service {} }\n}\n";
    let p = plans(text, &PlanOptions::default()).unwrap().remove(0);
    assert_eq!(
        p.local_app,
        Endpoint::Unix {
            path: "/run/w.sock".into()
        }
    );
}

#[test]
fn plans_refuse_what_a_sidecar_cannot_run() {
    let cases: &[(&str, &str)] = &[
        // no port on the service and none on the proxy: nowhere to send inbound traffic
        (
            "service {\n  name = \"w\"\n  connect { sidecar_service {} }\n}\n",
            "has no local service port",
        ),
        // an upstream listening on the sidecar's own port
        (
            "service {\n  name = \"w\"\n  port = 80\n  connect { sidecar_service { port = 21000\n    proxy { upstreams = [{ destination_name = \"a\", local_bind_port = 21000 }] } } }\n}\n",
            "the upstream \"a\" uses port 21000",
        ),
        // a standalone proxy on a socket path: Rigging's sidecar listens on TCP
        (
            "service {\n  name = \"p\"\n  kind = \"connect-proxy\"\n  socket_path = \"/p.sock\"\n  proxy { destination_service_name = \"w\" }\n}\n",
            "has no port",
        ),
    ];
    for (text, message) in cases {
        let err = plans(text, &PlanOptions::default()).unwrap_err();
        assert!(err.to_string().contains(message), "{text}: {err}");
    }
}

#[test]
fn a_standalone_proxy_takes_its_local_port_from_its_service_in_the_set() {
    let text = r#"
services {
  name = "web"
  port = 8080
}
services {
  name = "web-proxy"
  kind = "connect-proxy"
  port = 21050
  proxy { destination_service_name = "web" }
}
"#;
    let p = plans(text, &PlanOptions::default()).unwrap().remove(0);
    assert_eq!(
        (p.sidecar_id.as_str(), p.sidecar_port),
        ("web-proxy", 21050)
    );
    assert_eq!(
        p.local_app,
        Endpoint::Tcp {
            address: "127.0.0.1".into(),
            port: 8080
        }
    );
    assert!(
        p.checks.is_empty(),
        "Consul adds no default checks to a standalone proxy"
    );
}

#[test]
fn go_durations() {
    use std::time::Duration;
    assert_eq!(go_duration(Duration::from_secs(90 * 60)), "5400s");
    assert_eq!(go_duration(Duration::from_millis(1500)), "1500ms");
    assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
}
