//! A whole mesh in one process: Pilot on a catalog `watch`, example apps, their proxies, and a
//! client proxy `client-1` that puts every service on a local port.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rigging_examples_apps::{AppIdentity, HealthReporter};
use rigging_mesh_model::{Catalog, Health, Protocol};
use rigging_mesh_test_util::{catalog, endpoint, proxy, service};
use rigging_pilot_server::{PilotHandle, PilotOptions, ProxyStatus};
use rigging_proxy_app::{Proxy, ProxyHandle, ProxyOptions};
use rigging_tests::{eventually, free_port};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Time for Pilot and the proxies to start and serve the first configuration.
pub const STARTUP: Duration = Duration::from_secs(5);
/// Time for a catalog change to reach the proxies and their traffic.
pub const PROPAGATION: Duration = Duration::from_secs(3);
/// Short drain, so that a test's proxies stop quickly.
const DRAIN: Duration = Duration::from_millis(100);

/// The services of the mesh, each with its protocol; `client-1` has every one as an upstream.
pub const SERVICES: [(&str, Protocol); 4] = [
    ("api", Protocol::Http),
    ("api-h2", Protocol::Http2),
    ("greeter", Protocol::Grpc),
    ("db", Protocol::Tcp),
];
const CLIENT_SERVICE: &str = "client";
pub const CLIENT_ID: &str = "client-1";

/// One instance: an example app on `app` behind its own proxy on `inbound`.
#[derive(Debug)]
struct Instance {
    service: &'static str,
    inbound: u16,
    app: u16,
    /// Whether the catalog lists it (its app and proxy may run before it is registered).
    registered: bool,
    proxy: ProxyHandle,
    server: JoinHandle<std::io::Result<()>>,
    health: Option<HealthReporter>,
}

/// The running mesh; everything stops when it is dropped (or with the test's runtime).
#[derive(Debug)]
pub struct Mesh {
    tx: watch::Sender<Arc<Catalog>>,
    pilot: Option<PilotHandle>,
    xds: SocketAddr,
    instances: BTreeMap<String, Instance>,
    client: ProxyHandle,
    client_inbound: u16,
    client_app: u16,
    upstreams: BTreeMap<String, u16>,
}

impl Mesh {
    /// Starts Pilot, one registered instance per `(service, instance id)`, and `client-1`, and
    /// waits until every proxy is ready and each instance answers through `client-1`.
    pub async fn start(instances: &[(&'static str, &str)]) -> anyhow::Result<Self> {
        let (tx, rx) = watch::channel(Arc::new(Catalog::default()));
        // Outside the ephemeral range, so that no other socket is given the port while
        // `restart_pilot` has it free.
        let pilot = start_pilot(SocketAddr::from(([127, 0, 0, 1], free_port())), rx).await?;
        let xds = pilot.xds_addr();
        let upstreams = SERVICES
            .iter()
            .map(|(s, _)| ((*s).to_owned(), free_port()))
            .collect();
        let client = start_proxy(CLIENT_ID, CLIENT_SERVICE, xds).await?;
        let mut mesh = Self {
            tx,
            pilot: Some(pilot),
            xds,
            instances: BTreeMap::new(),
            client,
            client_inbound: free_port(),
            client_app: free_port(),
            upstreams,
        };
        for (service, id) in instances {
            mesh.start_instance(service, id).await?;
            mesh.register(id);
        }
        mesh.publish();
        mesh.wait_ready().await?;
        Ok(mesh)
    }

    /// Starts an app and its proxy for `id` of `service`, not yet in the catalog.
    pub async fn start_instance(&mut self, service: &'static str, id: &str) -> anyhow::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let app = listener.local_addr()?.port();
        let ident = AppIdentity::new(service, "v1", id);
        let (server, health) = if protocol(service)?.is_http() {
            let (server, reporter) =
                rigging_examples_apps::serve_http_with_health(listener, ident).await;
            (tokio::spawn(server), Some(reporter))
        } else {
            let server = rigging_examples_apps::serve_tcp_echo(listener, ident);
            (tokio::spawn(server), None)
        };
        let proxy = start_proxy(id, service, self.xds).await?;
        let instance = Instance {
            service,
            inbound: free_port(),
            app,
            registered: false,
            proxy,
            server,
            health,
        };
        self.instances.insert(id.to_owned(), instance);
        Ok(())
    }

    /// Lists `id` in the next published catalog.
    pub fn register(&mut self, id: &str) {
        if let Some(i) = self.instances.get_mut(id) {
            i.registered = true;
        }
    }

    /// Leaves `id` out of the next published catalog (its app and proxy keep running).
    pub fn deregister(&mut self, id: &str) {
        if let Some(i) = self.instances.get_mut(id) {
            i.registered = false;
        }
    }

    /// The catalog of the registered instances, plus `client-1` with `extra` upstreams.
    pub fn catalog(&self, extra: &[(&str, u16)]) -> Catalog {
        let mut services = Vec::new();
        for (name, proto) in SERVICES {
            let endpoints = self
                .instances
                .iter()
                .filter(|(_, i)| i.registered && i.service == name)
                .map(|(id, i)| {
                    endpoint(
                        id,
                        &format!("127.0.0.1:{}", i.inbound),
                        Health::Passing,
                        "a",
                    )
                })
                .collect();
            services.push(service(name, proto, endpoints));
        }
        services.push(service(CLIENT_SERVICE, Protocol::Http, Vec::new()));
        let mut proxies: Vec<_> = self
            .instances
            .iter()
            .filter(|(_, i)| i.registered)
            .map(|(id, i)| proxy(id, i.service, i.inbound, i.app, &[]))
            .collect();
        let mut ups: Vec<(&str, u16)> = self
            .upstreams
            .iter()
            .map(|(s, p)| (s.as_str(), *p))
            .collect();
        ups.extend_from_slice(extra);
        proxies.push(proxy(
            CLIENT_ID,
            CLIENT_SERVICE,
            self.client_inbound,
            self.client_app,
            &ups,
        ));
        catalog(services, proxies)
    }

    /// Publishes the catalog of the registered instances.
    pub fn publish(&self) {
        self.publish_catalog(self.catalog(&[]));
    }

    pub fn publish_catalog(&self, catalog: Catalog) {
        self.tx.send_replace(Arc::new(catalog));
    }

    /// Where `client-1` exposes `service`.
    pub fn upstream(&self, service: &str) -> SocketAddr {
        let port = self.upstreams.get(service).copied().unwrap_or_default();
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// The health reporter of an HTTP instance's app.
    pub fn health(&self, id: &str) -> anyhow::Result<&HealthReporter> {
        self.instances
            .get(id)
            .and_then(|i| i.health.as_ref())
            .with_context(|| format!("no HTTP instance {id}"))
    }

    /// Stops the app of `id`; its proxy keeps running.
    pub fn stop_app(&self, id: &str) {
        if let Some(i) = self.instances.get(id) {
            i.server.abort();
        }
    }

    pub fn pilot(&self) -> anyhow::Result<&PilotHandle> {
        self.pilot.as_ref().context("pilot is stopped")
    }

    /// Pilot's view of one proxy.
    pub fn status(&self, id: &str) -> anyhow::Result<ProxyStatus> {
        self.pilot()?
            .status()
            .into_iter()
            .find(|p| p.proxy == id)
            .with_context(|| format!("pilot has no status for {id}"))
    }

    /// Shuts Pilot down; the proxies keep their configuration.
    pub async fn stop_pilot(&mut self) {
        if let Some(p) = self.pilot.take() {
            p.shutdown().await;
        }
    }

    /// Starts a new Pilot on the same xDS port, reading the same catalog channel.
    pub async fn restart_pilot(&mut self) -> anyhow::Result<()> {
        let (xds, rx) = (self.xds, self.tx.subscribe());
        let pilot = eventually("pilot binds its old port", STARTUP, async || {
            start_pilot(xds, rx.clone()).await
        })
        .await?;
        self.pilot = Some(pilot);
        Ok(())
    }

    /// Waits until every registered proxy is ready and answers for its instance.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        eventually("every proxy ready", STARTUP, async || {
            let waiting: Vec<&str> = std::iter::once((CLIENT_ID, &self.client))
                .chain(
                    self.instances
                        .iter()
                        .filter(|(_, i)| i.registered)
                        .map(|(id, i)| (id.as_str(), &i.proxy)),
                )
                .filter(|(_, p)| !p.is_ready())
                .map(|(id, _)| id)
                .collect();
            if let Some(id) = waiting.first() {
                let pilot_view = self.status(id).map(|s| format!("{s:?}"));
                anyhow::bail!("not ready: {waiting:?}; pilot's view of {id}: {pilot_view:?}");
            }
            Ok(())
        })
        .await?;
        for (id, i) in self.instances.iter().filter(|(_, i)| i.registered) {
            let addr = self.upstream(i.service);
            eventually(&format!("{id} answers"), STARTUP, async || {
                let served = if protocol(i.service)?.is_http() {
                    served_by(addr).await?
                } else {
                    rigging_examples_apps::tcp_echo(addr, b"ping").await?.0
                };
                anyhow::ensure!(served.contains(id.as_str()), "served by {served}");
                Ok(())
            })
            .await?;
        }
        Ok(())
    }
}

/// GETs `/` over HTTP/1.1 and returns the `x-served-by` of a 200 answer.
pub async fn served_by(addr: SocketAddr) -> anyhow::Result<String> {
    let (status, headers, body) = rigging_examples_apps::http_get(addr, "/", false).await?;
    anyhow::ensure!(status == 200, "status {status}: {body}");
    let by = headers.get("x-served-by").context("no x-served-by")?;
    Ok(by.to_str()?.to_owned())
}

fn protocol(service: &str) -> anyhow::Result<Protocol> {
    SERVICES
        .iter()
        .find(|(s, _)| *s == service)
        .map(|(_, p)| *p)
        .with_context(|| format!("unknown service {service}"))
}

async fn start_pilot(
    xds_addr: SocketAddr,
    catalog: watch::Receiver<Arc<Catalog>>,
) -> anyhow::Result<PilotHandle> {
    let opts = PilotOptions {
        xds_addr,
        debug_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..PilotOptions::default()
    };
    Ok(rigging_pilot_server::start(opts, catalog, None).await?)
}

async fn start_proxy(id: &str, service: &str, xds: SocketAddr) -> anyhow::Result<ProxyHandle> {
    let mut opts = ProxyOptions::new(id, format!("http://{xds}"));
    opts.node_cluster = service.to_owned();
    opts.admin_addr = SocketAddr::from(([127, 0, 0, 1], 0));
    opts.drain_timeout = DRAIN;
    Ok(Proxy::start(opts).await?)
}
