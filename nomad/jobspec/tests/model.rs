//! The job model: mesh views, validation with located errors, edits, and API JSON names.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigging_nomad_jobspec::{Block, GatewayKind, Job, Value, Variables, parse};

fn job(text: &str) -> Job {
    parse("v.nomad.hcl", text, &Variables::new()).unwrap_or_else(|e| panic!("{e}"))
}

const MESH_JOB: &str = r#"job "shop" {
  datacenters = ["dc1", "dc2"]
  namespace   = "prod"
  region      = "eu"
  type        = "service"

  group "web" {
    count = 2

    network {
      mode = "bridge"
      port "http" {
        static       = 8080
        to           = 80
        host_network = "public"
      }
      port "health" {}
    }

    service {
      name = "web"
      port = "http"
      tags = ["a"]
      meta {
        version = "1"
      }

      check {
        type     = "http"
        path     = "/health"
        port     = "health"
        interval = "10s"
        timeout  = "2s"
      }

      connect {
        sidecar_service {
          port = "http"
          tags = ["proxy"]
          disable_default_tcp_check = true

          proxy {
            local_service_port = 80
            upstreams {
              destination_name      = "db"
              destination_namespace = "data"
              local_bind_port       = 5432
              datacenter            = "dc2"
              mesh_gateway {
                mode = "local"
              }
              config {
                connect_timeout_ms = 500
              }
            }
            expose {
              path {
                path            = "/metrics"
                protocol        = "http"
                local_path_port = 9102
                listener_port   = "health"
              }
            }
          }
        }

        sidecar_task {
          name   = "envoy"
          driver = "docker"
          kill_timeout = "5s"
          resources {
            cpu    = 100
            memory = 64
          }
        }
      }
    }

    task "app" {
      driver = "docker"
      config {
        image = "shop:1"
        ports = ["http"]
      }
      env {
        DB_ADDR = "${NOMAD_UPSTREAM_ADDR_db}"
      }
      resources {
        cpu    = 500
        memory = 256
      }
      lifecycle {
        hook    = "poststart"
        sidecar = false
      }
      identity {
        env = true
      }
      identity {
        name = "vault"
        aud  = ["vault.io"]
      }
      template {
        data        = "x"
        destination = "local/x"
      }
    }
  }
}
"#;

#[test]
fn views_read_what_the_mesh_needs() {
    let j = job(MESH_JOB);
    assert_eq!(
        (j.id(), j.name().as_str(), j.job_type()),
        ("shop", "shop", Some("service"))
    );
    assert_eq!((j.namespace(), j.region()), (Some("prod"), Some("eu")));
    assert_eq!(j.datacenters(), ["dc1", "dc2"]);
    let g = j.group("web").unwrap();
    assert_eq!(g.count(), Some(2));
    let net = g.networks()[0];
    assert_eq!(net.mode(), "bridge");
    let http = net.ports()[0];
    assert_eq!(
        (
            http.label(),
            http.static_port(),
            http.to(),
            http.host_network()
        ),
        ("http", Some(8080), Some(80), Some("public"))
    );
    assert_eq!(g.port_labels(), ["http", "health"]);
    let svc = g.services()[0];
    assert_eq!(
        (svc.name(), svc.port().as_deref(), svc.tags()),
        (Some("web"), Some("http"), vec!["a".to_owned()])
    );
    assert_eq!(svc.meta(), [("version", &Value::from("1"))]);
    let check = svc.checks()[0];
    assert_eq!(
        (
            check.check_type(),
            check.path(),
            check.port().as_deref(),
            check.interval()
        ),
        (Some("http"), Some("/health"), Some("health"), Some("10s"))
    );
    let connect = svc.connect().unwrap();
    assert!(!connect.native());
    let sc = connect.sidecar_service().unwrap();
    assert_eq!(
        (
            sc.port().as_deref(),
            sc.tags(),
            sc.disable_default_tcp_check()
        ),
        (Some("http"), vec!["proxy".to_owned()], true)
    );
    let proxy = sc.proxy().unwrap();
    assert_eq!(proxy.local_service_port(), Some(80));
    let up = proxy.upstreams()[0];
    assert_eq!(
        (
            up.destination_name(),
            up.destination_namespace(),
            up.local_bind_port()
        ),
        (Some("db"), Some("data"), Some(5432))
    );
    assert_eq!(
        (up.datacenter(), up.mesh_gateway_mode()),
        (Some("dc2"), Some("local"))
    );
    assert_eq!(up.config(), [("connect_timeout_ms", &Value::int(500))]);
    let path = proxy.expose_paths()[0];
    assert_eq!(
        (
            path.path(),
            path.protocol(),
            path.local_path_port(),
            path.listener_port()
        ),
        (Some("/metrics"), Some("http"), Some(9102), Some("health"))
    );
    let st = connect.sidecar_task().unwrap();
    assert_eq!(
        (st.name(), st.driver(), st.setting("kill_timeout")),
        (Some("envoy"), Some("docker"), Some("5s"))
    );
    let t = g.task("app").unwrap();
    assert_eq!(
        (t.driver(), t.resources(), t.lifecycle()),
        (
            Some("docker"),
            (Some(500), Some(256)),
            Some((Some("poststart"), false))
        )
    );
    assert_eq!(
        t.env(),
        [("DB_ADDR", &Value::from("${NOMAD_UPSTREAM_ADDR_db}"))]
    );
    assert_eq!((t.identities().len(), t.templates().len()), (2, 1));
    j.validate().unwrap();
}

#[test]
fn api_json_uses_nomads_field_names() {
    let api = job(MESH_JOB).to_api_json();
    let j = &api["Job"];
    assert_eq!(
        (
            j["ID"].as_str(),
            j["Name"].as_str(),
            j["Namespace"].as_str()
        ),
        (Some("shop"), Some("shop"), Some("prod"))
    );
    let g = &j["TaskGroups"][0];
    assert_eq!(g["Count"], 2);
    let n = &g["Networks"][0];
    assert_eq!(n["Mode"], "bridge");
    assert_eq!(
        n["ReservedPorts"][0],
        serde_json::json!({"Label": "http", "Value": 8080, "To": 80, "HostNetwork": "public"})
    );
    assert_eq!(
        n["DynamicPorts"][0],
        serde_json::json!({"Label": "health", "Value": 0})
    );
    let s = &g["Services"][0];
    assert_eq!(
        (s["Name"].as_str(), s["PortLabel"].as_str()),
        (Some("web"), Some("http"))
    );
    assert_eq!(s["Meta"], serde_json::json!({"version": "1"}));
    assert_eq!(s["Checks"][0]["Interval"], 10_000_000_000u64);
    assert_eq!(s["Checks"][0]["PortLabel"], "health");
    let c = &s["Connect"];
    assert_eq!(c["SidecarService"]["DisableDefaultTCPCheck"], true);
    let p = &c["SidecarService"]["Proxy"];
    assert_eq!(p["LocalServicePort"], 80);
    assert_eq!(p["Upstreams"][0]["DestinationName"], "db");
    assert_eq!(p["Upstreams"][0]["LocalBindPort"], 5432);
    assert_eq!(p["Upstreams"][0]["MeshGateway"]["Mode"], "local");
    assert_eq!(p["Upstreams"][0]["Config"]["connect_timeout_ms"], 500);
    assert_eq!(p["Expose"]["Paths"][0]["ListenerPort"], "health");
    assert_eq!(c["SidecarTask"]["KillTimeout"], 5_000_000_000u64);
    assert_eq!(
        c["SidecarTask"]["Resources"],
        serde_json::json!({"CPU": 100, "MemoryMB": 64})
    );
    let t = &g["Tasks"][0];
    assert_eq!(
        t["Config"],
        serde_json::json!({"image": "shop:1", "ports": ["http"]})
    );
    assert_eq!(t["Env"]["DB_ADDR"], "${NOMAD_UPSTREAM_ADDR_db}");
    assert_eq!(
        t["Lifecycle"],
        serde_json::json!({"Hook": "poststart", "Sidecar": false})
    );
    assert_eq!(t["Identity"], serde_json::json!({"Env": true}));
    assert_eq!(
        t["Identities"][0]["Audience"],
        serde_json::json!(["vault.io"])
    );
    assert_eq!(
        t["Templates"][0],
        serde_json::json!({"EmbeddedTmpl": "x", "DestPath": "local/x"})
    );
}

#[test]
fn gateways_and_native() {
    let j = job(
        "job \"g\" {\n  group \"gw\" {\n    network { mode = \"bridge\" }\n    service {\n      name = \"ig\"\n      connect {\n        gateway {\n          proxy {}\n          ingress {\n            listener {\n              port = 8080\n              service { name = \"api\" }\n            }\n          }\n        }\n      }\n    }\n    service {\n      name = \"native\"\n      connect { native = true }\n    }\n  }\n}\n",
    );
    let g = j.group("gw").unwrap();
    let gw = g.services()[0].connect().unwrap().gateway().unwrap();
    assert_eq!(gw.kind(), Some(GatewayKind::Ingress));
    assert!(gw.proxy().is_some());
    assert!(g.services()[1].connect().unwrap().native());
    j.validate().unwrap();
    let api = j.to_api_json();
    assert_eq!(
        api["Job"]["TaskGroups"][0]["Services"][0]["Connect"]["Gateway"]["Ingress"]["Listeners"][0]
            ["Services"][0]["Name"],
        "api"
    );
}

#[test]
fn edits_add_replace_and_remove_blocks_and_attributes() {
    let mut j = job(MESH_JOB);
    let g = j.group_mut("web").unwrap();
    // a port and a task for the proxy, env on the app, the sidecar_service gone
    g.block_mut("network")
        .unwrap()
        .push_block(Block::new("port", &["rig_inbound"]).with_attr("to", 15001));
    g.push_block(
        Block::new("task", &["rig-proxy"])
            .with_attr("driver", "docker")
            .with_block(
                Block::new("config", &[])
                    .with_attr("image", "rig:1")
                    .with_attr("args", Value::List(vec!["proxy".into()])),
            )
            .with_block(
                Block::new("lifecycle", &[])
                    .with_attr("hook", "prestart")
                    .with_attr("sidecar", true),
            ),
    );
    let app = g.labeled_mut("task", "app").unwrap();
    app.block_or_insert("env")
        .set("RIG_UPSTREAM_db", "127.0.0.1:5432");
    app.replace_block(Block::new("resources", &[]).with_attr("cpu", 600));
    app.remove_attr("driver");
    let svc = g.blocks_mut("service").next().unwrap();
    let removed = svc
        .block_mut("connect")
        .unwrap()
        .remove_blocks("sidecar_service");
    assert_eq!(removed.len(), 1);
    svc.set("tags", Value::List(vec!["a".into(), "mesh".into()]));

    let g = j.group("web").unwrap();
    assert_eq!(g.port_labels(), ["http", "health", "rig_inbound"]);
    assert_eq!(
        g.tasks().iter().map(|t| t.name()).collect::<Vec<_>>(),
        ["app", "rig-proxy"]
    );
    let app = g.task("app").unwrap();
    assert_eq!(app.env().len(), 2);
    assert_eq!((app.resources(), app.driver()), ((Some(600), None), None));
    assert!(
        g.services()[0]
            .connect()
            .unwrap()
            .sidecar_service()
            .is_none()
    );
    // the edit renders, parses back identically, and reaches the API form
    let hcl = j.to_hcl();
    let again = parse("edited.hcl", &hcl, &Variables::new()).unwrap();
    assert_eq!(again.to_hcl(), hcl);
    let api = j.to_api_json();
    assert_eq!(
        api["Job"]["TaskGroups"][0]["Tasks"][1]["Lifecycle"]["Sidecar"],
        true
    );
    assert_eq!(
        api["Job"]["TaskGroups"][0]["Networks"][0]["DynamicPorts"][1]["To"],
        15001
    );
}
