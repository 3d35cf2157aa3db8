//! Simulated proxies: each a minimal, correct ADS state-of-the-world client on its own
//! HTTP/2 connection to Pilot, recording when its endpoints show the change under test.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::envoy::config::core::v3::address::Address as AddressKind;
use envoy_types::pb::envoy::service::discovery::v3::aggregated_discovery_service_client::AggregatedDiscoveryServiceClient;
use envoy_types::pb::envoy::service::discovery::v3::{DiscoveryRequest, DiscoveryResponse};
use rigging_mesh_xds::{ClusterLoadAssignment, ResourceType, unpack};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Endpoint;

/// The upstream every simulated proxy declares, and so the one EDS resource it subscribes to.
pub(crate) const TARGET: &str = "target";
/// Connections opened at once: more would overflow Pilot's accept backlog (somaxconn) and
/// measure SYN retries instead of Pilot.
const CONNECT_CONCURRENCY: usize = 64;
/// A connection attempt that takes longer than this counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// Bits of the types a simulated proxy must have received (and ACKed) to be synced.
const CDS: u8 = 1;
const EDS: u8 = 2;
const LDS: u8 = 4;
const ALL: u8 = CDS | EDS | LDS;

/// What every simulated proxy reports to, shared across their tasks.
#[derive(Debug)]
pub(crate) struct Board {
    base: Instant,
    /// The port the moving `target` endpoint must show for the current round.
    expected_port: AtomicU32,
    /// Per proxy: nanoseconds since `base` + 1 when it saw the current round; 0 = not yet.
    arrived: Vec<AtomicU64>,
    count: AtomicUsize,
    /// Streams that ended or failed.
    pub failed: AtomicUsize,
    pub last_error: std::sync::Mutex<Option<String>>,
    all_arrived: Notify,
}

impl Board {
    pub(crate) fn new(n: usize, expected_port: u16) -> Arc<Self> {
        Arc::new(Self {
            base: Instant::now(),
            expected_port: AtomicU32::new(u32::from(expected_port)),
            arrived: (0..n).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            last_error: std::sync::Mutex::new(None),
            all_arrived: Notify::new(),
        })
    }

    /// Starts a round: from now on a proxy counts once its endpoints show `port`.
    pub(crate) fn next_round(&self, port: u16) {
        self.expected_port.store(u32::from(port), Ordering::SeqCst);
        for a in &self.arrived {
            a.store(0, Ordering::SeqCst);
        }
        self.count.store(0, Ordering::SeqCst);
    }

    pub(crate) fn arrived_count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until every proxy arrived, or `timeout`; returns how many did.
    pub(crate) async fn wait_all(&self, timeout: Duration) -> usize {
        let n = self.arrived.len();
        let _ = tokio::time::timeout(timeout, async {
            loop {
                let notified = self.all_arrived.notified();
                if self.arrived_count() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await;
        self.arrived_count()
    }

    /// The arrival instants of this round (proxies that have not arrived are left out).
    pub(crate) fn arrivals(&self) -> Vec<Instant> {
        self.arrived
            .iter()
            .filter_map(|a| match a.load(Ordering::SeqCst) {
                0 => None,
                t => Some(self.base + Duration::from_nanos(t - 1)),
            })
            .collect()
    }

    fn arrive(&self, id: usize, port: u32) {
        if port != self.expected_port.load(Ordering::SeqCst) {
            return;
        }
        let nanos = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX - 1) + 1;
        if self.arrived[id]
            .compare_exchange(0, nanos, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
            && self.count.fetch_add(1, Ordering::SeqCst) + 1 == self.arrived.len()
        {
            self.all_arrived.notify_one();
        }
    }

    fn fail(&self, e: &anyhow::Error) {
        self.failed.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(format!("{e:#}"));
        }
    }
}

/// Opens one connection and one ADS stream per name (proxy `i` is `names[i]`), at most
/// [`CONNECT_CONCURRENCY`] connecting at a time; the streams run in the returned set.
pub(crate) async fn connect_all(
    pilot: SocketAddr,
    names: Vec<String>,
    board: &Arc<Board>,
) -> anyhow::Result<JoinSet<()>> {
    let uri = format!("http://{pilot}");
    let endpoint = Endpoint::from_shared(uri)?
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT);
    let permits = Arc::new(tokio::sync::Semaphore::new(CONNECT_CONCURRENCY));
    let mut set = JoinSet::new();
    for (id, name) in names.into_iter().enumerate() {
        let permit = permits.clone().acquire_owned().await?;
        let endpoint = endpoint.clone();
        let board = board.clone();
        set.spawn(async move {
            let result = async {
                let channel = endpoint.connect().await.context("connecting to pilot")?;
                drop(permit);
                stream(id, name, channel, &board).await
            }
            .await;
            if let Err(e) = result {
                board.fail(&e);
            }
        });
    }
    Ok(set)
}

/// One proxy's aggregated stream: subscribe CDS and LDS (wildcard) and EDS for [`TARGET`],
/// ACK every response with its version and nonce.
async fn stream(
    id: usize,
    name: String,
    channel: tonic::transport::Channel,
    board: &Board,
) -> anyhow::Result<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    let node = Node {
        id: name,
        ..Default::default()
    };
    for (i, ty) in [
        ResourceType::Cluster,
        ResourceType::Listener,
        ResourceType::Endpoint,
    ]
    .into_iter()
    .enumerate()
    {
        tx.send(DiscoveryRequest {
            // Pilot needs the node on the first request of a stream only.
            node: (i == 0).then(|| node.clone()),
            type_url: ty.type_url().to_owned(),
            resource_names: names_of(ty),
            ..Default::default()
        })?;
    }
    let mut client = AggregatedDiscoveryServiceClient::new(channel);
    let mut inbound = client
        .stream_aggregated_resources(UnboundedReceiverStream::new(rx))
        .await?
        .into_inner();
    let mut seen = 0u8;
    // The moving endpoint's port in the last EDS response, 0 if absent.
    let mut eds_port = 0u32;
    while let Some(resp) = inbound.message().await? {
        let ty = ResourceType::from_type_url(&resp.type_url)
            .with_context(|| format!("unexpected type {}", resp.type_url))?;
        if ty == ResourceType::Endpoint {
            eds_port = moving_port(&resp, board.expected_port.load(Ordering::SeqCst))?;
        }
        tx.send(DiscoveryRequest {
            version_info: resp.version_info,
            response_nonce: resp.nonce,
            type_url: resp.type_url,
            resource_names: names_of(ty),
            ..Default::default()
        })?;
        seen |= match ty {
            ResourceType::Cluster => CDS,
            ResourceType::Endpoint => EDS,
            ResourceType::Listener => LDS,
            ResourceType::Route => 0,
        };
        if seen == ALL {
            board.arrive(id, eds_port);
        }
    }
    anyhow::bail!("pilot closed the stream")
}

fn names_of(ty: ResourceType) -> Vec<String> {
    if ty == ResourceType::Endpoint {
        vec![TARGET.to_owned()]
    } else {
        Vec::new()
    }
}

/// `expected` if the `target` assignment in `resp` holds an endpoint on that port, else 0.
fn moving_port(resp: &DiscoveryResponse, expected: u32) -> anyhow::Result<u32> {
    for any in &resp.resources {
        let cla: ClusterLoadAssignment = unpack(ResourceType::Endpoint.type_url(), any)?;
        if cla.cluster_name != TARGET {
            continue;
        }
        let found = cla
            .endpoints
            .iter()
            .flat_map(|l| &l.lb_endpoints)
            .filter_map(|e| match &e.host_identifier {
                Some(envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(ep)) => ep.address.as_ref(),
                _ => None,
            })
            .filter_map(|a| match &a.address {
                Some(AddressKind::SocketAddress(s)) => s.port_specifier.as_ref(),
                _ => None,
            })
            .any(|p| {
                matches!(p, envoy_types::pb::envoy::config::core::v3::socket_address::PortSpecifier::PortValue(v) if *v == expected)
            });
        if found {
            return Ok(expected);
        }
    }
    Ok(0)
}
