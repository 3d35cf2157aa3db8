//! The file forms and spellings Consul accepts decode to the same entries.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use rigging_mesh_config_entries::{ConfigEntry, Kind, check_files, load_files, parse_str};

fn entries(name: &str, text: &str) -> Vec<ConfigEntry> {
    let loaded = parse_str(Path::new(name), text);
    assert!(loaded.errors.is_empty(), "{name}: {:?}", loaded.errors);
    loaded.entries
}

const CAMEL: &str = r#"
Kind = "service-router"
Name = "web"
Routes = [
  {
    Match { HTTP { PathPrefix = "/admin", Header = [{ Name = "x-debug", Exact = "1" }] } }
    Destination {
      Service        = "admin"
      RequestTimeout = "2s"
      NumRetries     = 3
      RetryOn        = ["5xx"]
      RequestHeaders { Set { x-web = "1" } }
    }
  },
]
"#;

#[test]
fn case_and_snake_case_spellings_are_the_same() {
    let camel = entries("a.hcl", CAMEL);
    let snake = entries(
        "b.hcl",
        r#"
kind = "service-router"
name = "web"
routes = [
  {
    match = { http = { path_prefix = "/admin", header = { name = "x-debug", exact = "1" } } }
    destination = {
      service         = "admin"
      request_timeout = "2s"
      num_retries     = "3"
      retry_on        = "5xx"
      request_headers { set { x-web = "1" } }
    }
  },
]
"#,
    );
    assert_eq!(camel, snake);
    let json = entries(
        "c.json",
        r#"{"Kind": "service-router", "Name": "web", "Routes": [{
            "Match": {"HTTP": {"PathPrefix": "/admin", "Header": [{"Name": "x-debug", "Exact": "1"}]}},
            "Destination": {"Service": "admin", "RequestTimeout": "2s", "NumRetries": 3,
                            "RetryOn": ["5xx"], "RequestHeaders": {"Set": {"x-web": "1"}}}}],
            "CreateIndex": 12, "ModifyIndex": 14}"#,
    );
    assert_eq!(camel, json);
}

#[test]
fn agent_bootstrap_forms() {
    let blocks = entries(
        "agent.hcl",
        "config_entries {\n  bootstrap {\n    kind = \"proxy-defaults\"\n    name = \"global\"\n  }\n  bootstrap {\n    kind = \"mesh\"\n  }\n}\n",
    );
    let list = entries(
        "agent2.hcl",
        "config_entries {\n  bootstrap = [\n    { kind = \"proxy-defaults\", name = \"global\" },\n    { kind = \"mesh\" },\n  ]\n}\n",
    );
    let json = entries(
        "agent.json",
        r#"{"config_entries": {"bootstrap": [{"kind": "proxy-defaults", "name": "global"}, {"kind": "mesh"}]}}"#,
    );
    assert_eq!(blocks, list);
    assert_eq!(blocks, json);
    assert_eq!(
        blocks.iter().map(ConfigEntry::kind).collect::<Vec<_>>(),
        [Kind::ProxyDefaults, Kind::Mesh]
    );
}

#[test]
fn api_list_form_and_labeled_blocks() {
    let list = entries(
        "list.json",
        r#"[{"Kind": "service-resolver", "Name": "web", "Subsets": {"v1": {"Filter": "Service.Meta.version == v1"}}},
            {"Kind": "service-defaults", "Name": "web", "Protocol": "HTTP"}]"#,
    );
    assert_eq!(list.len(), 2);
    let labeled = entries(
        "labeled.hcl",
        "Kind = \"service-resolver\"\nName = \"web\"\nSubsets \"v1\" {\n  Filter = \"Service.Meta.version == v1\"\n}\n",
    );
    assert_eq!(labeled[0], list[0]);
    let ConfigEntry::ServiceDefaults(sd) = &list[1] else {
        panic!("service-defaults expected")
    };
    assert_eq!(
        sd.protocol,
        Some(rigging_mesh_config_entries::Protocol::Http)
    );
}

#[test]
fn agent_settings_are_warnings_and_errors_are_all_reported() {
    let loaded = parse_str(
        Path::new("agent.hcl"),
        "datacenter = \"dc1\"\nconfig_entries {\n  bootstrap {\n    kind = \"service-defaults\"\n    name = \"a\"\n    protocol = 7\n    colour = \"red\"\n  }\n  bootstrap {\n    kind = \"service-defaults\"\n    name = \"b\"\n  }\n}\n",
    );
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "agent.hcl:1:1: \"datacenter\" is a Consul agent setting, not a config entry; ignored",
            // weakly typed as in Consul: the number is its text
            "agent.hcl:6:16: Protocol: \"7\" is not tcp, http, http2 or grpc; it is treated as tcp",
        ]
    );
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors,
        [
            "agent.hcl:7:5: unknown key \"colour\" in service-defaults; expected one of: Kind, Name, Namespace, Partition, Meta, CreateIndex, ModifyIndex, Hash, Protocol, Mode, TransparentProxy, MutualTLSMode, MeshGateway, Expose, ExternalSNI, UpstreamConfig, Destination, MaxInboundConnections, LocalConnectTimeoutMs, LocalRequestTimeoutMs, MaxRequestHeadersKB, BalanceInboundConnections, RateLimits, EnvoyExtensions, Connect",
        ]
    );
    // the entry with the error is refused, the other one is kept
    assert_eq!(loaded.entries.len(), 1);
    assert_eq!(loaded.entries[0].name(), "b");
}

#[test]
fn folders_report_every_file() {
    let dir = std::env::temp_dir().join(format!("rigging-ce-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(
        dir.join("a.hcl"),
        "Kind = \"proxy-defaults\"\nName = \"x\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("sub/b.json"), "{\"Kind\": \"mesh\", \"Bad\": 1}").unwrap();
    std::fs::write(
        dir.join("c.hcl"),
        "Kind = \"service-defaults\"\nName = \"web\"\n",
    )
    .unwrap();
    std::fs::write(dir.join("notes.txt"), "not read").unwrap();
    let loaded = load_files(std::slice::from_ref(&dir));
    let errors: Vec<String> = loaded
        .errors
        .iter()
        .map(|e| {
            let file = e
                .location
                .file
                .strip_prefix(&dir)
                .unwrap()
                .display()
                .to_string();
            format!(
                "{file}:{}:{}: {}",
                e.location.line, e.location.column, e.message
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            "a.hcl:2:8: invalid name \"x\": a proxy-defaults entry must be named \"global\"",
            "sub/b.json:1:18: unknown key \"Bad\" in mesh; expected one of: Kind, Name, Namespace, Partition, Meta, CreateIndex, ModifyIndex, Hash, TransparentProxy, AllowEnablingPermissiveMutualTLS, ValidateClusters, TLS, HTTP, Peering",
        ]
    );
    assert_eq!(loaded.entries.len(), 1);
    let missing = check_files(&[dir.join("missing.hcl")]);
    assert!(
        missing.errors[0].message.starts_with("cannot read file: "),
        "{:?}",
        missing.errors
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn extensions_decode() {
    let e = entries(
        "x.hcl",
        "Kind = \"service-router\"\nName = \"web\"\nRoutes = [{\n  Destination {\n    Fault {\n      Delay { Percent = 10.5, Duration = \"2s\" }\n      Abort { Percent = 1, GRPCStatus = 14 }\n    }\n    Mirror { Service = \"web-shadow\" }\n  }\n}]\n",
    );
    let ConfigEntry::ServiceRouter(r) = &e[0] else {
        panic!("router expected")
    };
    let d = r.routes[0].destination.as_ref().unwrap();
    let fault = d.fault.as_ref().unwrap();
    assert_eq!(fault.delay.as_ref().unwrap().percent.to_string(), "10.50%");
    assert_eq!(
        fault.abort.as_ref().unwrap().status,
        rigging_mesh_config_entries::AbortStatus::Grpc(14)
    );
    let mirror = d.mirror.as_ref().unwrap();
    assert_eq!(
        mirror.percent,
        rigging_mesh_config_entries::DEFAULT_MIRROR_PERCENT
    );
}
