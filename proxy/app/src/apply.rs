//! Applying configuration: validate the whole candidate (bind new listeners first), then swap
//! the snapshot and start or stop listeners. Serialized by one mutex, off the traffic path.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;
use envoy_types::pb::google::protobuf::Any;
use rigging_mesh_xds::ResourceType;
use rigging_proxy_config::{ListenerKind, ProxyConfig, TlsClients};
use rigging_proxy_sds::Sds;
use rigging_proxy_tls::MeshTls;
use serde::Serialize;

use crate::cluster::ClusterDump;
use crate::error::ApplyError;
use crate::listeners::{self, CertSources, ConnectionTracker, Env, HttpServer, RunningListener};
use crate::metrics::Metrics;
use crate::snapshot::Snapshot;

/// State shared by the traffic path (the snapshot), the admin endpoints and the xDS client.
#[derive(Debug)]
pub(crate) struct Shared {
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    pub metrics: Metrics,
    pub tracker: Arc<ConnectionTracker>,
    /// Set once the xDS client reports that CDS and LDS were acknowledged.
    pub xds_ready: AtomicBool,
    /// Mesh mTLS, when the proxy runs with a workload certificate.
    pub mesh: Option<Arc<MeshTls>>,
    /// The SDS servers public TLS listeners may take certificates from.
    sds: Option<Sds>,
    server: Arc<HttpServer>,
    runtime: tokio::runtime::Handle,
    control: Mutex<Control>,
}

/// The configuration side: what is applied, what runs, what was accepted and rejected.
#[derive(Debug, Default)]
struct Control {
    config: Arc<ProxyConfig>,
    listeners: HashMap<String, RunningListener>,
    versions: BTreeMap<&'static str, String>,
    last_nack: Option<Nack>,
    /// A configuration with at least one listener has been applied.
    served: bool,
    /// Ready once: SDS certificates no longer hold readiness back.
    warmed: bool,
    /// The public TLS listeners and the hosts they route, as last applied.
    public_hosts: PublicHosts,
    shutting_down: bool,
}

/// The last rejected xDS update.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Nack {
    #[serde(rename = "type")]
    ty: &'static str,
    version: String,
    error: String,
}

/// What `/config_dump` shows.
#[derive(Debug, Serialize)]
pub(crate) struct ConfigDump {
    #[serde(serialize_with = "serialize_arc")]
    config: Arc<ProxyConfig>,
    listeners: BTreeMap<String, SocketAddr>,
    versions: BTreeMap<&'static str, String>,
    last_nack: Option<Nack>,
    /// The clusters as they run: endpoints by priority, ejections, breaker counts.
    clusters: BTreeMap<String, ClusterDump>,
    /// The workload certificate, with mesh mTLS.
    identity: Option<IdentityDump>,
}

/// The workload certificate as `/config_dump` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct IdentityDump {
    spiffe_id: Option<String>,
    /// Seconds since the Unix epoch.
    not_after: Option<u64>,
    trust_domain: String,
    /// Roots in the trust bundle (two during a root rotation).
    trust_bundle_roots: usize,
}

impl Shared {
    pub fn new(
        server: HttpServer,
        runtime: tokio::runtime::Handle,
        mesh: Option<Arc<MeshTls>>,
        sds: Option<Sds>,
    ) -> Self {
        Self {
            mesh,
            sds,
            snapshot: Arc::new(ArcSwap::from_pointee(Snapshot::default())),
            metrics: Metrics::new(),
            tracker: Arc::default(),
            xds_ready: AtomicBool::new(false),
            server: Arc::new(server),
            runtime,
            control: Mutex::default(),
        }
    }

    /// Replaces the whole configuration, or changes nothing and says why.
    pub fn apply(&self, next: ProxyConfig) -> Result<(), ApplyError> {
        let mut control = self.lock();
        self.commit(&mut control, next)
    }

    /// Applies one xDS response: the resources of `ty` replace those held (state of the world).
    pub fn apply_xds(
        &self,
        ty: ResourceType,
        version: &str,
        resources: &[Any],
    ) -> Result<(), String> {
        let mut control = self.lock();
        let result = control
            .config
            .with_resources(ty, resources)
            .map_err(ApplyError::from)
            .and_then(|next| {
                for warning in next.check_references() {
                    tracing::debug!(%warning, "configuration references a resource not received yet");
                }
                self.commit(&mut control, next)
            });
        match result {
            Ok(()) => {
                tracing::info!(
                    r#type = ty.short(),
                    version,
                    count = resources.len(),
                    "xds update applied"
                );
                control.versions.insert(ty.short(), version.to_owned());
                self.metrics.xds_update(ty, true);
                Ok(())
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(r#type = ty.short(), version, %error, "xds update rejected");
                control.last_nack = Some(Nack {
                    ty: ty.short(),
                    version: version.to_owned(),
                    error: error.clone(),
                });
                self.metrics.xds_update(ty, false);
                Err(error)
            }
        }
    }

    /// The names to subscribe to for a by-name type (EDS cluster names, RDS route names).
    pub fn names(&self, ty: ResourceType) -> Vec<String> {
        let control = self.lock();
        match ty {
            ResourceType::Endpoint => control.config.eds_names(),
            ResourceType::Route => control.config.rds_names(),
            ResourceType::Cluster | ResourceType::Listener => Vec::new(),
        }
    }

    /// Ready once a configuration with a listener is applied (all its listeners are bound by
    /// then) or the xDS client reports the first CDS and LDS acknowledged, and, with mesh mTLS,
    /// while a valid workload certificate is held, and, the first time, once every
    /// certificate a listener serves from SDS has arrived (or waited its initial fetch
    /// timeout).
    pub fn ready(&self) -> bool {
        let certified = self.mesh.as_ref().is_none_or(|m| m.ready());
        let mut control = self.lock();
        // Only the first readiness waits for SDS certificates (Envoy's initial warming): a
        // listener changed later does not take a serving gateway out of its load balancer.
        let warmed = control.warmed
            || control
                .listeners
                .values()
                .all(RunningListener::certificates_ready);
        let ready =
            certified && warmed && (self.xds_ready.load(Ordering::Acquire) || control.served);
        control.warmed |= ready;
        ready
    }

    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.lock().listeners.get(name).map(|l| l.local_addr)
    }

    pub fn config_dump(&self) -> ConfigDump {
        let control = self.lock();
        ConfigDump {
            config: Arc::clone(&control.config),
            listeners: control
                .listeners
                .iter()
                .map(|(n, l)| (n.clone(), l.local_addr))
                .collect(),
            versions: control.versions.clone(),
            last_nack: control.last_nack.clone(),
            clusters: self
                .snapshot
                .load()
                .clusters
                .iter()
                .map(|(name, c)| (name.clone(), c.dump()))
                .collect(),
            identity: self.mesh.as_ref().map(|m| {
                let svid = m.store().svid();
                IdentityDump {
                    spiffe_id: svid.as_ref().map(|s| s.id.to_string()),
                    not_after: svid.as_ref().map(|s| s.not_after),
                    trust_domain: m.trust_domain().to_string(),
                    trust_bundle_roots: m.store().bundle().load().roots().len(),
                }
            }),
        }
    }

    /// Refuses further updates and stops every listener; their connections drain.
    pub fn shut_down(&self) {
        let mut control = self.lock();
        control.shutting_down = true;
        listeners::drain_all(&mut control.listeners);
    }

    fn commit(&self, control: &mut Control, next: ProxyConfig) -> Result<(), ApplyError> {
        if control.shutting_down {
            return Err(ApplyError::ShuttingDown);
        }
        // Binding registers sockets with the runtime's reactor; the xDS client may call from
        // any thread.
        let _runtime = self.runtime.enter();
        let mesh = self.mesh.as_deref();
        let sources = CertSources {
            mesh,
            sds: self.sds.as_ref(),
        };
        let plan = listeners::plan(&control.listeners, &next.listeners, sources)?;
        let snapshot = Snapshot::build(
            &control.config,
            &self.snapshot.load(),
            &next,
            &self.metrics,
            mesh,
        )?;
        self.snapshot.store(Arc::new(snapshot));
        let env = Env {
            state: Arc::clone(&self.snapshot),
            server: Arc::clone(&self.server),
            tracker: Arc::clone(&self.tracker),
        };
        listeners::commit(plan, &mut control.listeners, &env, &self.metrics);
        control.served |= !next.listeners.is_empty();
        let hosts = public_hosts(&next);
        if hosts != control.public_hosts {
            // Citadel names the hosts of an ingress gateway's TLS listeners in its
            // certificate: a new set needs a new certificate. A Citadel of its own process
            // reads the entries on its own and may see the change a little after Pilot, so
            // the certificate is renewed once more a little later.
            if let Some(mesh) = &self.mesh
                && !hosts.is_empty()
            {
                tracing::info!(listeners = ?hosts, "the hosts of TLS listeners changed; renewing the certificate");
                mesh.renew_now();
                let mesh = Arc::clone(mesh);
                tokio::spawn(async move {
                    tokio::time::sleep(RENEW_AGAIN_AFTER).await;
                    mesh.renew_now();
                });
            }
            control.public_hosts = hosts;
        }
        control.config = Arc::new(next);
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Control> {
        // A panic while holding the lock leaves Control consistent (every change is a whole
        // assignment), so a poisoned lock is still usable.
        self.control.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// When the certificate is renewed a second time after the hosts of TLS listeners changed.
const RENEW_AGAIN_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// Listener name → what decides the names in its certificate: the domains its routes serve
/// (HTTP), or the cluster it forwards to (tcp), and its certificates' sources.
type PublicHosts = BTreeMap<String, Vec<String>>;

fn public_hosts(config: &ProxyConfig) -> PublicHosts {
    config
        .listeners
        .values()
        .filter(|l| {
            l.tls
                .as_ref()
                .is_some_and(|t| matches!(t.clients, TlsClients::Public(_)))
        })
        .map(|l| {
            let domains = match &l.kind {
                ListenerKind::Http { route_config, .. } => config
                    .routes
                    .get(route_config)
                    .map(|r| {
                        r.virtual_hosts
                            .iter()
                            .flat_map(|v| v.domains.iter().cloned())
                            .collect()
                    })
                    .unwrap_or_default(),
                ListenerKind::Tcp { cluster } => vec![cluster.clone()],
                ListenerKind::Sni { .. } => Vec::new(),
            };
            let mut key = domains;
            if let Some(t) = &l.tls {
                key.push(format!("{:?}", t.clients));
            }
            (l.name.clone(), key)
        })
        .collect()
}

fn serialize_arc<S: serde::Serializer>(config: &Arc<ProxyConfig>, s: S) -> Result<S::Ok, S::Error> {
    config.as_ref().serialize(s)
}
