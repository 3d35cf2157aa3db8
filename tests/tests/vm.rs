//! A VM's sidecar from its Consul service definition, through real `rig` processes: `rig up`
//! reads a (fake) Consul; `rig proxy --service-def web.hcl --register` registers `web` and its
//! sidecar with that Consul's agent API, Pilot maps the registration to the proxy by its ID
//! (`web-1-sidecar-proxy`), the app's upstream `api` (registered in Consul) answers through
//! the sidecar's local bind port, and SIGTERM deregisters both before the proxy exits.

use std::net::SocketAddr;
use std::time::Duration;

use http::Method;
use rigging_mesh_test_util::fake_consul::{FakeConsul, instance};
use rigging_tests::{
    Proc, RigStack, STARTUP, ensure_synced, eventually, free_port, loopback, request, rig_command,
};

/// The sidecar's proxy id: the ID Consul's agent gives the sidecar of `web-1`.
const PROXY_ID: &str = "web-1-sidecar-proxy";

/// The fake agent's `GET /v1/agent/services`.
async fn agent_services(consul: SocketAddr) -> anyhow::Result<serde_json::Value> {
    let reply = request(consul, Method::GET, "/v1/agent/services", &[], "", false).await?;
    anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
    Ok(serde_json::from_str(&reply.body)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vm_sidecar_from_a_service_definition_registers_serves_and_deregisters()
-> anyhow::Result<()> {
    let mut stack = RigStack::new("rigging-vm-").await?;
    let api_port = free_port();
    stack.spawn_http_app("api-1", "api", loopback(api_port))?;
    let consul = FakeConsul::start().await;
    consul.register(instance(
        "node-1",
        "127.0.0.1",
        "api",
        "api-1",
        "127.0.0.1",
        api_port,
    ));
    // The sidecar's port is pinned: 21000, Consul's default pick, may be taken on a CI host.
    let (sidecar_port, bind) = (free_port(), loopback(free_port()));
    let def = stack.dir().join("web.hcl");
    std::fs::write(
        &def,
        format!(
            r#"service {{
  name = "web"
  id   = "web-1"
  port = {web_port}
  connect {{
    sidecar_service {{
      port = {sidecar_port}
      proxy {{
        upstreams = [{{ destination_name = "api", local_bind_port = {bind_port} }}]
      }}
    }}
  }}
}}
"#,
            web_port = free_port(),
            bind_port = bind.port(),
        ),
    )?;
    stack.show_on_failure(&def);
    let url = consul.url();
    stack.start_control(&["--consul", &url, "--consul-wait", "2"])?;

    let admin = loopback(free_port());
    let (pilot, admin_arg, def_arg) = (
        format!("http://{}", stack.xds),
        admin.to_string(),
        def.display().to_string(),
    );
    let args = [
        "proxy",
        "--service-def",
        &def_arg,
        "--register",
        "--consul",
        &url,
        "--pilot",
        &pilot,
        "--admin",
        &admin_arg,
    ];
    let mut proxy = Proc::spawn("web-vm-proxy", stack.dir(), rig_command(&stack.rig, &args))?;
    let outcome = scenario(
        &mut stack,
        &mut proxy,
        consul.addr(),
        admin,
        bind,
        sidecar_port,
    )
    .await;
    if outcome.is_err() {
        eprintln!("===== {} =====\n{}", proxy.name(), proxy.log());
    }
    outcome?;
    stack.pass();
    Ok(())
}

/// Registered, synced, serving; then stopped and deregistered.
async fn scenario(
    stack: &mut RigStack,
    proxy: &mut Proc,
    consul: SocketAddr,
    admin: SocketAddr,
    bind: SocketAddr,
    sidecar_port: u16,
) -> anyhow::Result<()> {
    let started = tokio::time::Instant::now();
    eventually("web and its sidecar registered", STARTUP, async || {
        proxy.check_running()?;
        let services = agent_services(consul).await?;
        let sidecar = &services[PROXY_ID];
        anyhow::ensure!(
            services["web-1"]["Service"] == "web"
                && sidecar["Kind"] == "connect-proxy"
                && sidecar["Port"] == sidecar_port
                && sidecar["Proxy"]["Upstreams"][0]["LocalBindPort"] == bind.port(),
            "agent services: {services}"
        );
        Ok(())
    })
    .await?;
    eventually(
        "the VM sidecar synced and serving api",
        STARTUP,
        async || {
            proxy.check_running()?;
            stack.check_running()?;
            let ready = request(admin, Method::GET, "/ready", &[], "", false).await?;
            anyhow::ensure!(ready.status == 200, "not ready: {}", ready.body);
            ensure_synced(&stack.syncz().await?, PROXY_ID)?;
            let reply = request(bind, Method::GET, "/", &[], "", false).await?;
            anyhow::ensure!(
                reply.status == 200 && reply.header("x-served-by") == "api-1",
                "{} {} (served by {:?})",
                reply.status,
                reply.body,
                reply.header("x-served-by")
            );
            Ok(())
        },
    )
    .await?;
    eprintln!(
        "traffic through the VM sidecar after {:?}",
        started.elapsed()
    );

    proxy.terminate()?;
    let status = proxy.wait_timeout(Duration::from_secs(20)).await?;
    anyhow::ensure!(status.success(), "rig proxy exited with {status}");
    let services = agent_services(consul).await?;
    anyhow::ensure!(
        services.as_object().is_some_and(serde_json::Map::is_empty),
        "still registered after shutdown: {services}"
    );
    let log = proxy.log();
    anyhow::ensure!(
        log.contains("registered with the Consul agent")
            && log.contains("deregistered from the Consul agent"),
        "the proxy logs both: {log}"
    );
    Ok(())
}
