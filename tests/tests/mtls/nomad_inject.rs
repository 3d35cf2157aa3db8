//! What Nomad would launch, launched by the test: a job with `connect { sidecar_service }`
//! stanzas goes through `rig nomad inject`'s injection, and each injected proxy task's
//! command line is run as Nomad's client would run it — Nomad's runtime values filled in,
//! the task identity JWT Nomad writes for the task's `identity` block in its secrets
//! folder — against `rig up` (Pilot and Citadel) watching a Consul that holds the
//! registrations Nomad makes for the job. An "application" then calls its upstream through
//! its injected sidecar, over mTLS to the upstream's injected sidecar, and a health checker
//! from outside the mesh reads the upstream's exposed health path in plaintext.
//!
//! One liberty: every proxy here shares the host's network, where Nomad gives each group its
//! own namespace, so the admin address Nomad's layout puts at `127.0.0.2:19000` in every
//! group is moved to a free port.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use http::Method;
use rigging_mesh_test_util::fake_consul::{FakeConsul, instance, sidecar};
use rigging_nomad_inject::{Options, inject};
use rigging_nomad_jobspec::{Job, Variables, parse};
use rigging_tests::{eventually, free_port, request};

use super::admin::identity;
use super::fixture::{Instance, Mesh, STARTUP, loopback, spiffe_id};
use super::nomad::Nomad;

const NODE: &str = "nomad-client-1";

/// A countdash-like job: `count-api` (its app on `api_port`, `/status/204` exposed as its
/// health check path) and
/// `count-dashboard`, which calls `count-api` through its sidecar on `bind`.
fn job_text(api_port: u16, dashboard_port: u16, bind: u16) -> String {
    format!(
        r#"job "countdash" {{
  group "api" {{
    network {{
      mode = "bridge"

      port "api_expose" {{
        to = -1
      }}
    }}

    service {{
      name = "count-api"
      port = "{api_port}"

      connect {{
        sidecar_service {{
          proxy {{
            expose {{
              path {{
                path            = "/status/204"
                protocol        = "http"
                local_path_port = {api_port}
                listener_port   = "api_expose"
              }}
            }}
          }}
        }}
      }}
    }}

    task "web" {{
      driver = "docker"

      config {{
        image = "hashicorpdev/counter-api:v3"
      }}
    }}
  }}

  group "dashboard" {{
    network {{
      mode = "bridge"

      port "http" {{
        static = {dashboard_port}
        to     = 9002
      }}
    }}

    service {{
      name = "count-dashboard"
      port = "http"

      connect {{
        sidecar_service {{
          proxy {{
            upstreams {{
              destination_name = "count-api"
              local_bind_port  = {bind}
            }}
          }}
        }}
      }}
    }}

    task "dashboard" {{
      driver = "docker"

      env {{
        COUNTING_SERVICE_URL = "http://${{NOMAD_UPSTREAM_ADDR_count_api}}"
      }}

      config {{
        image = "hashicorpdev/counter-dashboard:v3"
      }}
    }}
  }}
}}
"#
    )
}

/// The injected proxy task of `group`: its command and arguments.
fn proxy_command(job: &Job, group: &str) -> anyhow::Result<(String, Vec<String>)> {
    let g = job.group(group).with_context(|| format!("group {group}"))?;
    let task = g
        .tasks()
        .into_iter()
        .find(|t| t.kind().is_some_and(|k| k.starts_with("connect-proxy:")))
        .with_context(|| format!("no injected proxy task in group {group}"))?;
    let config = task.block().block("config").context("the task's config")?;
    let command = config
        .get_str("command")
        .context("config.command")?
        .to_owned();
    Ok((command, config.get_strings("args")))
}

/// `args` with Nomad's runtime values filled in as its client does for this allocation.
fn interpolate(args: &[String], values: &BTreeMap<&str, String>) -> Vec<String> {
    args.iter()
        .map(|a| {
            values
                .iter()
                .fold(a.clone(), |a, (k, v)| a.replace(&format!("${{{k}}}"), v))
        })
        .collect()
}

/// Moves `--admin`'s value to a free loopback port (see the module's note).
fn free_admin(args: &mut [String]) -> anyhow::Result<std::net::SocketAddr> {
    let i = args
        .iter()
        .position(|a| a == "--admin")
        .context("--admin in the injected args")?;
    let admin = loopback(free_port());
    *args.get_mut(i + 1).context("--admin's value")? = admin.to_string();
    Ok(admin)
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_proxy_tasks_carry_traffic() -> anyhow::Result<()> {
    let mut mesh = Mesh::new().await?;
    let nomad = Nomad::start(free_port()).await?;
    let consul = FakeConsul::start().await;
    // count-api's app, and the ports Nomad would allocate
    let api = Instance::new("count-api", "tcp", "count-api-app", &[]);
    let (api_sidecar, dashboard_sidecar, dashboard_port, bind, expose) = (
        free_port(),
        free_port(),
        free_port(),
        free_port(),
        free_port(),
    );

    let text = job_text(api.app, dashboard_port, bind);
    let job = parse("countdash.nomad.hcl", &text, &Variables::new())?;
    let mut options = Options::default();
    options.rig_path = mesh.rig.display().to_string();
    options.pilot = format!("http://{}", mesh.xds);
    options.citadel = mesh.citadel.to_string();
    options.citadel_ca = mesh.bundle.display().to_string();
    let injected = inject(&job, &options)?.job;

    // What Nomad registers in Consul for the allocations of the two groups.
    let allocs = [
        ("api", "5c6328f7-48c5-4d03-bada-91ef2e904d0d"),
        ("dashboard", "8623ac7a-28ba-20c3-24a6-e615a39bbbf3"),
    ];
    let api_id = format!(
        "_nomad-task-{}-group-api-count-api-{}",
        allocs[0].1, api.app
    );
    let dashboard_id = format!(
        "_nomad-task-{}-group-dashboard-count-dashboard-http",
        allocs[1].1
    );
    consul.register(instance(
        NODE,
        "127.0.0.1",
        "count-api",
        &api_id,
        "127.0.0.1",
        api.app,
    ));
    let mut api_side = sidecar(
        NODE,
        "127.0.0.1",
        "count-api",
        &api_id,
        api_sidecar,
        api.app,
        &[],
    );
    // Nomad turns the path's port label into the host port it allocated
    api_side["Service"]["Proxy"]["Expose"] = serde_json::json!({
        "Checks": false,
        "Paths": [{ "ListenerPort": expose, "Path": "/status/204", "LocalPathPort": api.app, "Protocol": "http" }],
    });
    consul.register(api_side);
    consul.register(instance(
        NODE,
        "127.0.0.1",
        "count-dashboard",
        &dashboard_id,
        "127.0.0.1",
        dashboard_port,
    ));
    consul.register(sidecar(
        NODE,
        "127.0.0.1",
        "count-dashboard",
        &dashboard_id,
        dashboard_sidecar,
        dashboard_port,
        &[("count-api", bind)],
    ));

    mesh.write_registry(&[])?;
    let consul_url = consul.url();
    let mut extra = vec!["--consul".to_owned(), consul_url];
    extra.extend(nomad.citadel_args());
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    mesh.up(&extra).await?;
    mesh.spawn_app("http", &api, api.app)?;

    let mut admins = Vec::new();
    for (group, alloc) in allocs {
        let (command, args) = proxy_command(&injected, group)?;
        anyhow::ensure!(
            Path::new(&command) == mesh.rig,
            "the task runs {command}, not rig"
        );
        let secrets = mesh.dir().join(alloc).join("secrets");
        let task = format!(
            "connect-proxy-{}",
            if group == "api" {
                "count-api"
            } else {
                "count-dashboard"
            }
        );
        write(
            &secrets.join("nomad_rigging.jwt"),
            &nomad.task_jwt("countdash", group, &task, alloc)?,
        )?;
        let values = BTreeMap::from([
            ("NOMAD_ALLOC_ID", alloc.to_owned()),
            ("NOMAD_GROUP_NAME", group.to_owned()),
            ("NOMAD_SECRETS_DIR", secrets.display().to_string()),
            ("attr.unique.network.ip-address", "127.0.0.1".to_owned()),
        ]);
        let mut args = interpolate(&args, &values);
        anyhow::ensure!(
            !args.iter().any(|a| a.contains("${")),
            "a runtime value is left: {args:?}"
        );
        admins.push((task.clone(), free_admin(&mut args)?));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        mesh.spawn(&task, &args)?;
    }

    let reply = eventually(
        "the dashboard reaches count-api through the sidecars",
        STARTUP,
        async || {
            mesh.check_running()?;
            let reply = request(loopback(bind), Method::GET, "/", &[], "", false).await?;
            anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
            Ok(reply)
        },
    )
    .await?;
    assert_eq!(reply.header("x-served-by"), "count-api-app");
    // the exposed path answers in plaintext, and only that path
    let health = request(loopback(expose), Method::GET, "/status/204", &[], "", false).await?;
    assert_eq!(health.status, 204, "{}", health.body);
    assert_eq!(health.header("x-served-by"), "count-api-app");
    let other = request(loopback(expose), Method::GET, "/", &[], "", false).await?;
    assert_eq!(other.status, 404, "only the exposed path: {}", other.body);
    for (task, admin) in admins {
        let service = task.trim_start_matches("connect-proxy-");
        assert_eq!(
            identity(admin).await?.spiffe_id,
            spiffe_id(service),
            "{task} proved its service with its task identity"
        );
    }
    mesh.check_running()?;
    mesh.pass();
    Ok(())
}
