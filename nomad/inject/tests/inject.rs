//! Injection rules one at a time: sidecar_task merge, upstream env, ports, gateways, native
//! services, idempotency and located errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigging_nomad_inject::{Driver, InjectError, Injected, Options, inject};
use rigging_nomad_jobspec::{Job, Value, Variables, parse};

fn job(text: &str) -> Job {
    parse("t.nomad.hcl", text, &Variables::new()).unwrap_or_else(|e| panic!("{e}"))
}

fn injected(text: &str) -> Injected {
    inject(&job(text), &Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

/// A bridge group with one sidecar service `web` and the given connect extras and tasks.
fn sidecar_job(connect_extra: &str, network_extra: &str, tasks: &str) -> String {
    format!(
        r#"job "j" {{
  group "g" {{
    network {{
      mode = "bridge"
      {network_extra}
    }}
    service {{
      name = "web"
      port = "8080"
      connect {{
        sidecar_service {{
          proxy {{
            upstreams {{
              destination_name = "count-api"
              local_bind_port  = 9001
            }}
            upstreams {{
              destination_name = "db"
              local_bind_port  = 5432
            }}
          }}
        }}
        {connect_extra}
      }}
    }}
    task "app" {{
      driver = "docker"
      config {{ image = "app:1" }}
    }}
    {tasks}
  }}
}}
"#
    )
}

fn args(j: &Job, group: &str, task: &str) -> Vec<String> {
    let t = j.group(group).unwrap().task(task).unwrap();
    let config = t.block().block("config").unwrap();
    config.get_strings("args")
}

#[test]
fn sidecar_task_is_merged_like_nomad_then_removed() {
    let out = injected(&sidecar_job(
        r#"sidecar_task {
          name   = "proxy"
          driver = "docker"
          user   = "nobody"
          config {
            image   = "envoyproxy/envoy:v1.29"
            labels  = { team = "a" }
          }
          env { LOG = "debug" }
          meta { owner = "me" }
          resources { memory = 300 }
          logs { max_files = 5 }
          kill_timeout   = "9s"
          shutdown_delay = "1s"
          kill_signal    = "SIGTERM"
        }"#,
        "",
        "",
    ));
    let g = out.job.group("g").unwrap();
    assert!(g.task("connect-proxy-web").is_none());
    let t = g.task("proxy").unwrap();
    let b = t.block();
    assert_eq!(t.driver(), Some("docker"));
    assert_eq!(t.kind(), Some("connect-proxy:web"));
    assert_eq!(t.resources(), (Some(250), Some(300)));
    let logs = b.block("logs").unwrap();
    assert_eq!(
        (logs.get_i64("max_files"), logs.get_i64("max_file_size")),
        (Some(5), Some(2))
    );
    for (k, v) in [
        ("user", "nobody"),
        ("kill_timeout", "9s"),
        ("shutdown_delay", "1s"),
        ("kill_signal", "SIGTERM"),
    ] {
        assert_eq!(b.get_str(k), Some(v), "{k}");
    }
    assert_eq!(t.env(), [("LOG", &Value::from("debug"))]);
    assert_eq!(b.block("meta").unwrap().get_str("owner"), Some("me"));
    // the container runs rig, not the Envoy image; the other config keys are merged
    let config = b.block("config").unwrap();
    assert_eq!(
        config.get_str("image"),
        Some(rigging_nomad_inject::DEFAULT_IMAGE)
    );
    assert!(config.get("labels").is_some());
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].to_string().contains("\"image\""));
    assert!(out.warnings[0].0.location.is_some());
    // the sidecar_task is gone, the sidecar_service stays
    let c = g.services()[0].connect().unwrap();
    assert!(c.sidecar_task().is_none() && c.sidecar_service().is_some());
}

#[test]
fn defaults_match_nomads_envoy_task() {
    let out = injected(&sidecar_job("", "", ""));
    let t = out
        .job
        .group("g")
        .unwrap()
        .task("connect-proxy-web")
        .unwrap();
    assert_eq!(t.driver(), Some("exec"));
    assert_eq!(t.lifecycle(), Some((Some("prestart"), true)));
    assert_eq!(t.resources(), (Some(250), Some(128)));
    assert_eq!(t.block().get_str("shutdown_delay"), Some("5s"));
    let id = &t.identities()[0];
    assert_eq!(id.get_strings("aud"), ["rigging-citadel"]);
    assert_eq!(id.get_bool("file"), Some(true));
    let a = args(&out.job, "g", "connect-proxy-web");
    let flag = |f: &str| a.iter().position(|x| x == f).map(|i| a[i + 1].as_str());
    assert_eq!(a[0], "proxy");
    assert_eq!(
        flag("--id"),
        Some("_nomad-task-${NOMAD_ALLOC_ID}-group-${NOMAD_GROUP_NAME}-web-8080-sidecar-proxy")
    );
    assert_eq!(
        flag("--pilot"),
        Some("http://${attr.unique.network.ip-address}:15010")
    );
    assert_eq!(
        flag("--citadel"),
        Some("${attr.unique.network.ip-address}:15012")
    );
    assert_eq!(
        flag("--nomad-jwt-file"),
        Some("${NOMAD_SECRETS_DIR}/nomad_rigging.jwt")
    );
    let cfg = t.block().block("config").unwrap();
    assert_eq!(cfg.get_str("command"), Some("/usr/local/bin/rig"));
}

#[test]
fn options_choose_driver_image_and_addresses() {
    let mut o = Options::default();
    o.driver = Driver::Docker;
    o.image = "registry/rig:1".into();
    o.pilot = "http://pilot:15010".into();
    let out = inject(&job(&sidecar_job("", "", "")), &o).unwrap();
    let t = out
        .job
        .group("g")
        .unwrap()
        .task("connect-proxy-web")
        .unwrap();
    let cfg = t.block().block("config").unwrap();
    assert_eq!(
        (t.driver(), cfg.get_str("image")),
        (Some("docker"), Some("registry/rig:1"))
    );
    assert!(cfg.get("command").is_none());
    assert!(args(&out.job, "g", "connect-proxy-web").contains(&"http://pilot:15010".to_owned()));
}

#[test]
fn upstream_env_in_both_spellings_never_overwriting() {
    let text = sidecar_job("", "", "").replace(
        r#"config { image = "app:1" }"#,
        r#"config { image = "app:1" }
      env { NOMAD_UPSTREAM_PORT_db = "7777" }"#,
    );
    let out = injected(&text);
    let app = out.job.group("g").unwrap().task("app").unwrap();
    let env: Vec<(&str, Option<&str>)> = app.env().iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(env.contains(&("NOMAD_UPSTREAM_ADDR_count-api", Some("127.0.0.1:9001"))));
    assert!(env.contains(&("NOMAD_UPSTREAM_ADDR_count_api", Some("127.0.0.1:9001"))));
    assert!(env.contains(&("NOMAD_UPSTREAM_IP_count_api", Some("127.0.0.1"))));
    assert!(env.contains(&("NOMAD_UPSTREAM_PORT_db", Some("7777"))));
    assert_eq!(env.len(), 1 + 6 + 2, "{env:?}");
    // the proxy task itself gets none
    let proxy = out
        .job
        .group("g")
        .unwrap()
        .task("connect-proxy-web")
        .unwrap();
    assert!(proxy.env().is_empty());
}

#[test]
fn ports_injected_unless_named_or_present() {
    let out = injected(&sidecar_job("", "", ""));
    let g = out.job.group("g").unwrap();
    assert_eq!(g.port_labels(), ["connect-proxy-web"]);
    assert_eq!(g.networks()[0].ports()[0].to(), Some(-1));

    let named = sidecar_job("", r#"port "mesh" {}"#, "").replace(
        "sidecar_service {",
        "sidecar_service {\n          port = \"mesh\"",
    );
    assert_eq!(
        injected(&named).job.group("g").unwrap().port_labels(),
        ["mesh"]
    );

    let present = sidecar_job("", r#"port "connect-proxy-web" { static = 20000 }"#, "");
    let out = injected(&present);
    let g = out.job.group("g").unwrap();
    assert_eq!(g.port_labels(), ["connect-proxy-web"]);
    assert_eq!(g.networks()[0].ports()[0].static_port(), Some(20000));
}

#[test]
fn native_services_are_left_alone() {
    let text = r#"job "n" {
  group "g" {
    service {
      name = "native"
      task = "app"
      connect { native = true }
    }
    task "app" {
      driver = "docker"
    }
  }
}
"#;
    let j = job(text);
    let out = injected(text);
    assert_eq!(out.job, j);
}

#[test]
fn injecting_twice_changes_nothing() {
    for text in [
        sidecar_job("sidecar_task { name = \"p\" }", "", ""),
        sidecar_job("", "", ""),
    ] {
        let once = injected(&text);
        let twice = inject(&once.job, &Options::default()).unwrap();
        assert_eq!(twice.job, once.job);
        assert_eq!(twice.job.to_hcl(), once.job.to_hcl());
    }
}

#[test]
fn errors_are_located() {
    // no network: Nomad refuses the sidecar
    let text =
        sidecar_job("", "", "").replace("network {\n      mode = \"bridge\"\n      \n    }", "");
    let Err(InjectError::Invalid(errors)) = inject(&job(&text), &Options::default()) else {
        panic!("accepted a sidecar without network")
    };
    let loc = errors[0].location.as_ref().expect("located");
    assert_eq!((loc.line, loc.column), (7, 7), "{}", errors[0]); // the connect block
    assert!(errors[0].to_string().contains("exactly one network"));

    // a task already holds the proxy's name
    let text = sidecar_job(
        "",
        "",
        "task \"connect-proxy-web\" {\n      driver = \"exec\"\n    }",
    );
    let Err(InjectError::Refused(errors)) = inject(&job(&text), &Options::default()) else {
        panic!("accepted a name clash")
    };
    assert!(
        errors[0]
            .to_string()
            .contains("already exists without kind"),
        "{}",
        errors[0]
    );
    assert!(errors[0].location.is_some());

    // an existing proxy task (by kind) is kept as it is
    let text = sidecar_job(
        "",
        "",
        "task \"mine\" {\n      driver = \"exec\"\n      kind = \"connect-proxy:web\"\n    }",
    );
    let out = injected(&text);
    let g = out.job.group("g").unwrap();
    assert_eq!(g.tasks().len(), 2);
    assert!(g.task("mine").unwrap().block().block("config").is_none());
}
