//! An ingress gateway end to end with the real `rig` binary: `rig up --config-entries <dir>`
//! with an `ingress-gateway` entry, `rig proxy --gateway ingress --id edge`, and traffic from
//! outside the mesh through the gateway's listeners to the services' sidecars: by host, with
//! the services' split and router applied, to a tcp service, to every HTTP service through
//! the wildcard, and following a live edit of the entry.
//!
//! The test prints every process's log, the registry and the config entries when it fails.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use http::Method;
use rigging_tests::{Reply, RigStack, STARTUP, eventually, free_port, loopback, request_host};

/// Time for an edit of a config entry to reach the gateway.
const PROPAGATION: Duration = Duration::from_secs(10);
/// Requests sent to see a 50/50 split: each side gets 50 ± 25 with near certainty.
const SPLIT_REQUESTS: usize = 100;

const PROXY_DEFAULTS: &str = r#"Kind = "proxy-defaults"
Name = "global"
Config {
  protocol = "http"
}
"#;

const DB_TCP: &str = r#"Kind = "service-defaults"
Name = "db"
Protocol = "tcp"
"#;

const API_RESOLVER: &str = r#"Kind = "service-resolver"
Name = "api"
DefaultSubset = "v1"
Subsets = {
  v1 = { Filter = "Service.Meta.version == v1" }
  v2 = { Filter = "Service.Meta.version == v2" }
}
"#;

const API_SPLITTER: &str = r#"Kind = "service-splitter"
Name = "api"
Splits = [
  { Weight = 50, ServiceSubset = "v1" },
  { Weight = 50, ServiceSubset = "v2" },
]
"#;

const API_ROUTER: &str = r#"Kind = "service-router"
Name = "api"
Routes = [
  {
    Match { HTTP { Header = [{ Name = "x-canary", Exact = "true" }] } }
    Destination { ServiceSubset = "v2" }
  },
]
"#;

/// The gateway's ports.
#[derive(Debug, Clone, Copy)]
struct Ports {
    http: u16,
    tcp: u16,
    wildcard: u16,
}

/// The `ingress-gateway` entry `edge`: `api` by `hosts` on an HTTP listener (with header
/// changes), `db` on a tcp listener, every HTTP service on a wildcard listener.
fn edge(ports: Ports, hosts: &str) -> String {
    format!(
        r#"Kind = "ingress-gateway"
Name = "edge"
Listeners = [
  {{
    Port     = {http}
    Protocol = "http"
    Services = [
      {{
        Name  = "api"
        Hosts = [{hosts}]
        RequestHeaders {{
          Set = {{ "x-via" = "edge" }}
        }}
        ResponseHeaders {{
          Set = {{ "x-gateway" = "edge" }}
        }}
      }},
    ]
  }},
  {{
    Port     = {tcp}
    Protocol = "tcp"
    Services = [ {{ Name = "db" }} ]
  }},
  {{
    Port     = {wildcard}
    Protocol = "http"
    Services = [ {{ Name = "*" }} ]
  }},
]
"#,
        http = ports.http,
        tcp = ports.tcp,
        wildcard = ports.wildcard,
    )
}

/// One example app behind its sidecar: `(service, version, instance, kind)`, its app port
/// and its sidecar port.
struct App {
    service: &'static str,
    version: &'static str,
    id: &'static str,
    kind: &'static str,
    port: u16,
    sidecar: u16,
}

fn app(service: &'static str, version: &'static str, id: &'static str, kind: &'static str) -> App {
    App {
        service,
        version,
        id,
        kind,
        port: free_port(),
        sidecar: free_port(),
    }
}

/// The registry: `api` (HTTP, two versions) and `db` (tcp), each instance behind a sidecar.
fn registry(apps: &[App]) -> String {
    let mut text = String::new();
    for (service, protocol) in [("api", "http"), ("db", "tcp")] {
        text.push_str(&format!(
            "service \"{service}\" {{\n  protocol = \"{protocol}\"\n"
        ));
        for a in apps.iter().filter(|a| a.service == service) {
            text.push_str(&format!(
                "\n  instance \"{}\" {{\n    address = \"127.0.0.1\"\n    port    = {}\n    \
                 meta    = {{ version = \"{}\" }}\n    sidecar {{ port = {} }}\n  }}\n",
                a.id, a.port, a.version, a.sidecar
            ));
        }
        text.push_str("}\n\n");
    }
    text
}

/// `GET path` with `Host: host` at `addr`.
async fn get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Reply> {
    request_host(addr, host, Method::GET, path, headers).await
}

/// Who answered `n` requests for `/` of `host` at `addr`; fails on any status but 200.
async fn served_by(
    addr: SocketAddr,
    host: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let reply = get(addr, host, "/", headers).await?;
        anyhow::ensure!(
            reply.status == 200,
            "{host}: {} {}",
            reply.status,
            reply.body
        );
        out.push(reply.header("x-served-by").to_owned());
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingress_gateway_routes_traffic_into_the_mesh() -> anyhow::Result<()> {
    let mut stack = RigStack::new("rigging-gateway-").await?;
    let entries = stack.dir().join("entries");
    std::fs::create_dir(&entries)?;
    let registry_file = stack.dir().join("registry.hcl");
    stack.show_on_failure(&registry_file);
    stack.show_on_failure(&entries);
    let ports = Ports {
        http: free_port(),
        tcp: free_port(),
        wildcard: free_port(),
    };
    let write_entry = |name: &str, text: &str| -> anyhow::Result<()> {
        let tmp = entries.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, entries.join(name))?;
        Ok(())
    };
    write_entry("proxy-defaults.hcl", PROXY_DEFAULTS)?;
    write_entry("db.hcl", DB_TCP)?;
    write_entry("resolver.hcl", API_RESOLVER)?;
    write_entry("splitter.hcl", API_SPLITTER)?;
    write_entry("router.hcl", API_ROUTER)?;
    write_entry("edge.hcl", &edge(ports, r#""api.example.com""#))?;

    let apps = [
        app("api", "v1", "api-v1-1", "http"),
        app("api", "v2", "api-v2-1", "http"),
        app("db", "v1", "db-1", "tcp"),
    ];
    for a in &apps {
        let listen = loopback(a.port).to_string();
        let args = [
            "example-app",
            "--kind",
            a.kind,
            "--service",
            a.service,
            "--app-version",
            a.version,
            "--instance",
            a.id,
            "--listen",
            &listen,
        ];
        stack.spawn(&format!("{}-app", a.id), &args)?;
        stack.spawn_proxy(a.id)?;
    }
    std::fs::write(&registry_file, registry(&apps))?;
    let (reg, ent) = (
        registry_file.display().to_string(),
        entries.display().to_string(),
    );
    stack.start_control(&["--registry", &reg, "--config-entries", &ent])?;
    stack.spawn_gateway("edge")?;
    stack.wait_synced(&[]).await?;

    let http = loopback(ports.http);
    eventually("api answers through the gateway", STARTUP, async || {
        let reply = get(http, "api.example.com", "/", &[]).await?;
        anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
        Ok(())
    })
    .await?;

    // the 50/50 split of api's chain holds through the gateway
    let answers = served_by(http, "api.example.com", &[], SPLIT_REQUESTS).await?;
    let v2 = answers.iter().filter(|s| *s == "api-v2-1").count();
    let v1 = answers.iter().filter(|s| *s == "api-v1-1").count();
    eprintln!("split through the gateway: v1 {v1}, v2 {v2}");
    assert_eq!(v1 + v2, SPLIT_REQUESTS, "{answers:?}");
    assert!(
        (25..=75).contains(&v2),
        "v2 served {v2} of {SPLIT_REQUESTS}"
    );
    // and so does its router: canaries go to v2 only
    let canaries = served_by(http, "api.example.com", &[("x-canary", "true")], 20).await?;
    assert!(canaries.iter().all(|s| s == "api-v2-1"), "{canaries:?}");

    // the service's header changes, and the port in the Host header
    let reply = get(
        http,
        &format!("api.example.com:{}", ports.http),
        "/headers",
        &[],
    )
    .await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.body.to_ascii_lowercase().contains("x-via: edge"),
        "{}",
        reply.body
    );
    assert_eq!(reply.header("x-gateway"), "edge");

    // a host no service has
    let reply = get(http, "other.example.com", "/", &[]).await?;
    assert_eq!(reply.status, 404, "{}", reply.body);
    let reply = get(http, "api.example.org", "/", &[]).await?;
    assert_eq!(reply.status, 404, "not a host of api yet: {}", reply.body);

    // the tcp listener reaches db's sidecar
    let (banner, echoed) = rigging_examples_apps::tcp_echo(loopback(ports.tcp), b"ping")
        .await
        .context("db through the gateway")?;
    assert!(banner.contains("db-1"), "{banner}");
    assert_eq!(echoed, b"ping");

    // the wildcard exposes every HTTP service on <service>.ingress.*, not tcp ones
    let wildcard = loopback(ports.wildcard);
    let reply = get(wildcard, "api.ingress.example", "/", &[]).await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.header("x-served-by").starts_with("api-"));
    let reply = get(wildcard, "db.ingress.example", "/", &[]).await?;
    assert_eq!(reply.status, 404, "db is tcp: {}", reply.body);

    // a live edit: api gets a second host
    write_entry(
        "edge.hcl",
        &edge(ports, r#""api.example.com", "api.example.org""#),
    )?;
    eventually("the new host reaches api", PROPAGATION, async || {
        let reply = get(http, "api.example.org", "/", &[]).await?;
        anyhow::ensure!(reply.status == 200, "{} {}", reply.status, reply.body);
        Ok(())
    })
    .await?;
    let reply = get(http, "api.example.com", "/", &[]).await?;
    assert_eq!(
        reply.status, 200,
        "the first host still works: {}",
        reply.body
    );

    stack.check_running()?;
    stack.pass();
    Ok(())
}
