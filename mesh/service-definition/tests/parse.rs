//! Reading service definitions: every form and spelling Consul's agent takes, and every
//! refusal located at its fault.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use rigging_mesh_service_definition::{DestinationType, ServiceDefinition, ServiceKind, parse_str};

fn parse(file: &str, text: &str) -> Vec<ServiceDefinition> {
    let mut services = parse_str(Path::new(file), text)
        .unwrap_or_else(|e| panic!("{file}: {e}"))
        .services;
    for s in &mut services {
        clear_locations(s);
    }
    services
}

fn clear_locations(s: &mut ServiceDefinition) {
    s.location = None;
    if let Some(p) = &mut s.proxy {
        p.upstreams.iter_mut().for_each(|u| u.location = None);
    }
    if let Some(sc) = s.connect.as_mut().and_then(|c| c.sidecar_service.as_mut()) {
        clear_locations(sc);
    }
}

const SNAKE_HCL: &str = r#"
service {
  name = "web"
  id   = "web-1"
  port = 8080
  meta { version = "v1" }
  check {
    args     = ["/bin/check"]
    interval = "10s"
    deregister_critical_service_after = "90m"
  }
  connect {
    sidecar_service {
      port = 21500
      proxy {
        local_service_port = 8081
        upstreams {
          destination_name = "api"
          local_bind_port  = 9191
          datacenter       = "dc2"
          mesh_gateway { mode = "local" }
        }
      }
    }
  }
}
"#;

const CAMEL_JSON: &str = r#"{
  "service": {
    "Name": "web",
    "ID": "web-1",
    "Port": 8080,
    "Meta": { "version": "v1" },
    "Check": { "ScriptArgs": ["/bin/check"], "Interval": "10s", "DeregisterCriticalServiceAfter": "90m" },
    "Connect": {
      "SidecarService": {
        "Port": 21500,
        "Proxy": {
          "LocalServicePort": 8081,
          "Upstreams": [
            { "DestinationName": "api", "LocalBindPort": 9191, "Datacenter": "dc2", "MeshGateway": { "Mode": "local" } }
          ]
        }
      }
    }
  }
}"#;

const OBJECTS_HCL: &str = r#"
service = {
  Name = "web"
  ID = "web-1"
  Port = 8080
  Meta = { version = "v1" }
  Check = { script_args = ["/bin/check"], interval = "10s", DeregisterCriticalServiceAfter = "90m" }
  Connect = {
    SidecarService = {
      Port = 21500
      Proxy = {
        LocalServicePort = 8081
        Upstreams = [{ DestinationName = "api", LocalBindPort = 9191, Datacenter = "dc2", MeshGateway { Mode = "local" } }]
      }
    }
  }
}
"#;

#[test]
fn snake_case_camel_case_blocks_and_objects_read_the_same() {
    let snake = parse("web.hcl", SNAKE_HCL);
    assert_eq!(snake, parse("web.json", CAMEL_JSON));
    assert_eq!(snake, parse("web.hcl", OBJECTS_HCL));
    let web = &snake[0];
    assert_eq!(web.service_id(), "web-1");
    assert_eq!(web.checks[0].args, ["/bin/check"]);
    assert_eq!(
        web.checks[0].deregister_critical_service_after,
        Some(Duration::from_secs(5400))
    );
    let sc = web.sidecar_service().unwrap();
    let up = &sc.proxy.as_ref().unwrap().upstreams[0];
    assert_eq!(
        (up.destination_name.as_str(), up.local_bind_port),
        ("api", Some(9191))
    );
    assert_eq!(up.destination_type, DestinationType::Service);
}

#[test]
fn the_top_level_forms() {
    let blocks = parse(
        "s.hcl",
        "services {\n  name = \"a\"\n}\nservices {\n  name = \"b\"\n}\n",
    );
    let list = parse("s.hcl", "services = [{ name = \"a\" }, { name = \"b\" }]\n");
    let json = parse("s.json", r#"{"services": [{"name": "a"}, {"name": "b"}]}"#);
    let bare = parse(
        "s.json",
        r#"{"Name": "a", "Kind": "mesh-gateway", "Port": 443}"#,
    );
    assert_eq!(blocks, list);
    assert_eq!(blocks, json);
    assert_eq!(
        blocks.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(bare[0].kind, ServiceKind::MeshGateway);
}

#[test]
fn consuls_mixed_check_spellings() {
    // as Consul's own sidecar docs write them: CamelCase and snake_case in one file
    let text = r#"{"service": {"name": "w", "checks": [
        {"Name": "listening", "TCP": "127.0.0.1:20000", "Interval": "10s"},
        {"name": "alias", "alias_service": "web"},
        {"id": "h", "http": "http://localhost/health", "interval": "5s", "timeout": "1s",
         "TLSSkipVerify": true, "Header": {"X-A": ["1"]}},
        {"grpc": "localhost:9000", "GRPCUseTLS": true, "interval": "5s"},
        {"ttl": "30s", "status": "passing"}
    ]}}"#;
    let checks = &parse("c.json", text)[0].checks;
    assert_eq!(checks[0].tcp, "127.0.0.1:20000");
    assert_eq!(checks[1].alias_service, "web");
    assert!(checks[2].tls_skip_verify);
    assert_eq!(checks[2].timeout, Some(Duration::from_secs(1)));
    assert!(checks[3].grpc_use_tls);
    assert_eq!(checks[4].ttl, Some(Duration::from_secs(30)));
}

/// Each broken definition, the location of its first error, and a piece of the message.
const REFUSED: &[(&str, &str, (usize, usize), &str)] = &[
    (
        "a.hcl",
        "service {\n  name = \"a\"\n  prot = 80\n}\n",
        (3, 3),
        "unknown key \"prot\" in service definition",
    ),
    (
        "a.hcl",
        "service {\n  name = \"a\"\n  port = 70000\n}\n",
        (3, 10),
        "port: expected a whole number from 0 to 65535",
    ),
    (
        "a.hcl",
        "service {\n  port = 80\n}\n",
        (1, 1),
        "missing required key \"name\"",
    ),
    (
        "a.json",
        "{\"service\": {\"name\": \"a\",\n \"Name\": \"b\"}}",
        (2, 2),
        "name is given more than once",
    ),
    (
        "a.json",
        "{\"service\": {\"name\": \"a\",\n  \"tagz\": []}}",
        (2, 3),
        "unknown key \"tagz\"",
    ),
    (
        "a.hcl",
        "service {\n  name = \"p\"\n  kind = \"connect-proxy\"\n  port = 21000\n}\n",
        (1, 1),
        "needs proxy.destination_service_name",
    ),
    (
        "a.hcl",
        "service {\n  name = \"p\"\n  kind = \"connect-proxy\"\n  proxy { destination_service_name = \"web\" }\n}\n",
        (1, 1),
        "needs a port",
    ),
    (
        "a.hcl",
        "service {\n  name = \"p\"\n  kind = \"sidecar\"\n}\n",
        (3, 3),
        "kind: expected one of",
    ),
    (
        "a.hcl",
        "service {\n  name = \"g\"\n  kind = \"mesh-gateway\"\n}\n",
        (1, 1),
        "port must be non-zero for a mesh-gateway",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect {\n    sidecar_service {\n      id = \"x\"\n    }\n  }\n}\n",
        (5, 7),
        "sidecar_service cannot set id",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect { sidecar_service {\n    connect { sidecar_service {} }\n  } }\n}\n",
        (4, 5),
        "cannot have a nested sidecar_service",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect { sidecar_service { proxy {\n    upstreams = [{ local_bind_port = 1 }]\n  } } }\n}\n",
        (4, 18),
        "destination_name is required",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect { sidecar_service { proxy {\n    upstreams = [{ destination_name = \"a\" }]\n  } } }\n}\n",
        (4, 18),
        "local_bind_port (or local_bind_socket_path) is required",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect { sidecar_service { proxy {\n    upstreams = [{ destination_name = \"a\", local_bind_port = 9 },\n      { destination_name = \"b\", local_bind_port = 9 }]\n  } } }\n}\n",
        (5, 7),
        "127.0.0.1:9 is used twice",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect { sidecar_service { proxy {\n    upstreams = [{ destination_type = \"dns\", destination_name = \"a\", local_bind_port = 9 }]\n  } } }\n}\n",
        (4, 20),
        "unknown upstream destination_type \"dns\"",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  check {\n    http = \"http://x/\"\n  }\n}\n",
        (3, 3),
        "interval must be set",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  check {\n    interval = \"10\"\n    tcp = \"x:1\"\n  }\n}\n",
        (4, 16),
        "interval: expected a duration",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  check {\n    name = \"nothing\"\n  }\n}\n",
        (3, 3),
        "expected one of args, http, tcp",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  meta { consul-x = \"1\" }\n}\n",
        (3, 3),
        "reserved prefix",
    ),
    (
        "a.hcl",
        "service {\n  name = \"w\"\n  connect { proxy {} }\n}\n",
        (3, 13),
        "managed proxies",
    ),
    (
        "a.hcl",
        "service {\n  name = \"a\"\n}\nservice {\n  name = \"b\"\n}\n",
        (4, 1),
        "use services",
    ),
    (
        "a.hcl",
        "datacenter = \"dc1\"\nservice { name = \"a\" }\n",
        (1, 1),
        "unknown key \"datacenter\"",
    ),
];

#[test]
fn refusals_are_located_at_the_fault() {
    for (file, text, (line, column), message) in REFUSED {
        let err = parse_str(Path::new(file), text).expect_err(text);
        let first = err.first().unwrap();
        assert_eq!(
            (first.location.line, first.location.column),
            (*line, *column),
            "{text}\n{err}"
        );
        assert!(first.message.contains(message), "{text}\n{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{file}:{line}:{column}: ")),
            "{err}"
        );
    }
}

#[test]
fn every_error_of_a_file_is_reported_in_file_order() {
    let text = "service {\n  name = \"w\"\n  prot = 1\n  port = \"x\"\n}\n";
    let err = parse_str(Path::new("a.hcl"), text).unwrap_err();
    let lines: Vec<usize> = err.errors().iter().map(|e| e.location.line).collect();
    assert_eq!(lines, [3, 4], "{err}");
}

#[test]
fn deprecated_proxy_destination_is_a_warning() {
    let text = "service {\n  name = \"p\"\n  kind = \"connect-proxy\"\n  port = 21000\n  proxy_destination = \"web\"\n  proxy {}\n}\n";
    let parsed = parse_str(Path::new("p.hcl"), text).unwrap();
    assert_eq!(parsed.warnings[0].location.line, 5);
    assert_eq!(
        parsed.services[0]
            .proxy
            .as_ref()
            .unwrap()
            .destination_service_name,
        "web"
    );
}
