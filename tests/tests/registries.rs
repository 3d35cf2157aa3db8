//! Several registries at once, through real `rig` processes: `api` has one instance in the
//! static file and one in a (fake) Consul; the caller's proxy reaches both, and keeps reaching
//! both while Consul is down (its last snapshot is kept, `rig status` and `/metrics` say it is
//! stale), and Consul's changes apply once it is back; a `service-resolver` stored in Consul
//! (`--consul-config-entries`) selects instances by the registry they came from.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use rigging_mesh_test_util::fake_consul::{FakeConsul, instance};
use rigging_tests::{RigStack, STARTUP, eventually, free_port, loopback, request};

/// Which instance served each of `n` requests to `addr` (the example app's `x-served-by`).
async fn served_by(addr: std::net::SocketAddr, n: usize) -> anyhow::Result<BTreeMap<String, u32>> {
    let mut seen = BTreeMap::new();
    for _ in 0..n {
        let reply = request(addr, Method::GET, "/", &[], "", false).await?;
        anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
        *seen
            .entry(reply.header("x-served-by").to_owned())
            .or_insert(0) += 1;
    }
    Ok(seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_service_in_a_file_and_in_consul_gets_traffic_on_both() -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    let mut stack = RigStack::new("rigging-registries-").await?;
    let (file_app, consul_app) = (free_port(), free_port());
    for (id, port) in [("api-file-1", file_app), ("api-consul-1", consul_app)] {
        stack.spawn_http_app(id, "api", loopback(port))?;
    }
    let consul = FakeConsul::start().await;
    consul.register(instance(
        "node-1",
        "127.0.0.1",
        "api",
        "api-consul-1",
        "127.0.0.1",
        consul_app,
    ));
    let client_api = loopback(free_port());
    let registry = stack.dir().join("registry.hcl");
    std::fs::write(
        &registry,
        format!(
            r#"service "api" {{
  protocol = "http"
  instance "api-file-1" {{
    address = "127.0.0.1"
    port    = {file_app}
  }}
}}

service "client" {{
  protocol = "http"
  instance "client-1" {{
    address = "127.0.0.1"
    port    = {client_port}
    sidecar {{
      port = {sidecar_port}
      upstream "api" {{ local_bind_port = {bind} }}
    }}
  }}
}}
"#,
            client_port = free_port(),
            sidecar_port = free_port(),
            bind = client_api.port(),
        ),
    )?;
    stack.show_on_failure(&registry);
    let (registry_arg, consul_url) = (registry.display().to_string(), consul.url());
    stack.start_control(&[
        "--registry",
        &registry_arg,
        "--consul",
        &consul_url,
        "--consul-wait",
        "2",
        "--consul-config-entries",
    ])?;
    stack.spawn_proxy("client-1")?;
    stack.wait_synced(&[]).await?;

    eventually(
        "both registries' instances serve api",
        STARTUP,
        async || {
            let seen = served_by(client_api, 20).await?;
            anyhow::ensure!(
                seen.get("api-file-1").is_some_and(|&n| n > 0)
                    && seen.get("api-consul-1").is_some_and(|&n| n > 0),
                "served by {seen:?}"
            );
            Ok(())
        },
    )
    .await?;
    eprintln!("both registries serve after {:?}", started.elapsed());
    let catalog = request(stack.debug, Method::GET, "/debug/catalog", &[], "", false).await?;
    assert!(
        catalog.body.contains(r#""registry": "consul""#)
            && catalog.body.contains(r#""registry": "file""#),
        "each endpoint records its registry: {}",
        catalog.body
    );

    // A resolver stored in Consul selects by the registry each endpoint came from: only the
    // file's instance serves while it is in force.
    consul.put_config(serde_json::json!({
        "Kind": "service-resolver",
        "Name": "api",
        "DefaultSubset": "from-file",
        "Subsets": { "from-file": { "Filter": "Service.Meta.registry == file" } },
    }));
    eventually(
        "Consul's service-resolver applies",
        Duration::from_secs(30),
        async || {
            let seen = served_by(client_api, 10).await?;
            anyhow::ensure!(
                seen.keys().eq(["api-file-1"].iter().copied()),
                "served by {seen:?}"
            );
            Ok(())
        },
    )
    .await?;
    eprintln!("consul's resolver applied after {:?}", started.elapsed());
    consul.delete_config("service-resolver", "api");

    // Consul goes away: its instance stays (last snapshot), and the staleness shows.
    consul.stop();
    let debug = stack.debug.to_string();
    eventually("rig status says Consul is stale", STARTUP, async || {
        let out = stack.rig(&["status", "--pilot-debug", &debug]).await?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        anyhow::ensure!(
            text.contains("consul registry consul") && text.contains("last snapshot kept"),
            "rig status printed:\n{text}"
        );
        Ok(())
    })
    .await?;
    eprintln!("stale shown after {:?}", started.elapsed());
    let metrics = request(stack.debug, Method::GET, "/metrics", &[], "", false).await?;
    assert!(
        metrics
            .body
            .contains(r#"pilot_registry_stale{registry="consul",kind="consul"} 1"#),
        "{}",
        metrics.body
    );
    let catalog = request(stack.debug, Method::GET, "/debug/catalog", &[], "", false).await?;
    assert!(
        catalog.body.contains("api-consul-1"),
        "Consul's last snapshot is kept while it is down: {}",
        catalog.body
    );

    // Back, with the instance gone: the registry is current again, without it, and only the
    // file's instance serves.
    consul.deregister("api-consul-1");
    consul.restart().await;
    eventually(
        "Consul current again, without its instance",
        Duration::from_secs(60),
        async || {
            let metrics = request(stack.debug, Method::GET, "/metrics", &[], "", false).await?;
            anyhow::ensure!(
                metrics
                    .body
                    .contains(r#"pilot_registry_stale{registry="consul",kind="consul"} 0"#),
                "still stale"
            );
            let catalog =
                request(stack.debug, Method::GET, "/debug/catalog", &[], "", false).await?;
            anyhow::ensure!(
                !catalog.body.contains("api-consul-1"),
                "api-consul-1 still in the catalog"
            );
            let seen = served_by(client_api, 10).await?;
            anyhow::ensure!(
                seen.keys().eq(["api-file-1"].iter().copied()),
                "served by {seen:?}"
            );
            Ok(())
        },
    )
    .await?;
    eprintln!("deregistration applied after {:?}", started.elapsed());
    stack.pass();
    Ok(())
}
