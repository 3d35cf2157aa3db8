//! Traffic for the mTLS tests: steady HTTP and TCP probes whose every outcome is recorded, a
//! tap in front of an app that counts what reaches it, and a watch on the proxies' certificates.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::Method;
use rigging_tests::request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{Instant, MissedTickBehavior};

use crate::admin::{Identity, identity};

/// How often the certificate watch reads every proxy's `/config_dump`.
const IDENTITY_POLL: Duration = Duration::from_millis(200);

/// One probe: when it started and how it ended.
#[derive(Debug, Clone)]
pub struct Probe {
    pub kind: &'static str,
    pub at: Instant,
    pub took: Duration,
    pub result: Result<(), String>,
}

/// Steady probes, each on a new connection, started on a fixed tick whatever the previous
/// ones do (a slow answer does not lower the rate).
#[derive(Debug)]
pub struct Traffic {
    pub started: Instant,
    probes: Arc<Mutex<Vec<Probe>>>,
    stop: watch::Sender<bool>,
    drivers: Vec<JoinHandle<()>>,
}

/// Everything the probes saw.
#[derive(Debug)]
pub struct Report {
    pub started: Instant,
    pub probes: Vec<Probe>,
}

/// A TCP forwarder in front of an app, counting what reaches the app.
#[derive(Debug)]
pub struct Tap {
    connections: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

/// Every distinct certificate expiry each proxy showed while watched.
#[derive(Debug)]
pub struct CertWatch {
    seen: Arc<Mutex<BTreeMap<String, Vec<Identity>>>>,
    task: JoinHandle<()>,
}

impl Traffic {
    pub fn start() -> Self {
        Self {
            started: Instant::now(),
            probes: Arc::default(),
            stop: watch::channel(false).0,
            drivers: Vec::new(),
        }
    }

    /// Every `every`, a `GET /` to the next of `targets` (address, instance expected to
    /// answer), which must answer 200 from that instance and name `caller` as the caller.
    pub fn http(&mut self, targets: Vec<(SocketAddr, String)>, caller: String, every: Duration) {
        let mut n = 0usize;
        self.drive("http", every, move || {
            let (addr, instance) = targets[n % targets.len()].clone();
            n += 1;
            let caller = caller.clone();
            async move {
                let reply = request(addr, Method::GET, "/", &[], "", false)
                    .await
                    .map_err(|e| format!("{addr}: {e:#}"))?;
                let by = reply.header("x-served-by");
                let ok = reply.status == 200
                    && by == instance
                    && reply.body.contains(&format!("caller {caller}"));
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "{addr}: {} from {by:?}: {}",
                        reply.status,
                        reply.body.trim()
                    ))
                }
            }
        });
    }

    /// Every `every`, a new TCP connection to `target` (a TCP echo behind the mesh): the
    /// banner must be `banner` and a payload must come back whole.
    pub fn tcp(&mut self, target: SocketAddr, banner: String, every: Duration) {
        let mut n = 0u64;
        self.drive("tcp", every, move || {
            n += 1;
            let payload = format!("probe {n} through the mesh");
            let banner = banner.clone();
            async move {
                let (got, echoed) = rigging_examples_apps::tcp_echo(target, payload.as_bytes())
                    .await
                    .map_err(|e| format!("{target}: {e}"))?;
                if got == banner && echoed == payload.as_bytes() {
                    Ok(())
                } else {
                    Err(format!(
                        "{target}: banner {got:?}, echo {:?}",
                        String::from_utf8_lossy(&echoed)
                    ))
                }
            }
        });
    }

    fn drive<F, Fut>(&mut self, kind: &'static str, every: Duration, mut probe: F)
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        let probes = Arc::clone(&self.probes);
        let mut stop = self.stop.subscribe();
        self.drivers.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
            let mut running = JoinSet::new();
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = stop.wait_for(|s| *s) => break,
                }
                let fut = probe();
                let probes = Arc::clone(&probes);
                running.spawn(async move {
                    let at = Instant::now();
                    let result = fut.await;
                    let took = at.elapsed();
                    let probe = Probe {
                        kind,
                        at,
                        took,
                        result,
                    };
                    lock(&probes).push(probe);
                });
                while running.try_join_next().is_some() {}
            }
            while running.join_next().await.is_some() {}
        }));
    }

    /// The probes so far (those finished).
    pub fn so_far(&self) -> Vec<Probe> {
        lock(&self.probes).clone()
    }

    /// Stops starting probes, waits for those under way, and reports them all.
    pub async fn finish(&mut self) -> Report {
        self.stop.send_replace(true);
        for d in self.drivers.drain(..) {
            let _ = d.await;
        }
        let mut probes = lock(&self.probes).clone();
        probes.sort_by_key(|p| p.at);
        Report {
            started: self.started,
            probes,
        }
    }
}

impl Report {
    /// The probes of `kind`.
    pub fn of(&self, kind: &str) -> Vec<&Probe> {
        self.probes.iter().filter(|p| p.kind == kind).collect()
    }

    /// Every failure, one line each, with when it started (seconds since the traffic began).
    pub fn failures(&self) -> Vec<String> {
        self.probes
            .iter()
            .filter_map(|p| {
                p.result.as_ref().err().map(|e| {
                    let at = p.at.duration_since(self.started).as_secs_f64();
                    format!("{} at {at:.1}s (took {:?}): {e}", p.kind, p.took)
                })
            })
            .collect()
    }

    /// `kind`: how many, and the slowest.
    pub fn summary(&self, kind: &str) -> String {
        let probes = self.of(kind);
        let slowest = probes.iter().map(|p| p.took).max().unwrap_or_default();
        let failed = probes.iter().filter(|p| p.result.is_err()).count();
        format!(
            "{kind}: {} probes, {failed} failed, slowest {slowest:?}",
            probes.len()
        )
    }
}

impl Tap {
    /// Listens on 127.0.0.1:`port` and forwards every connection to `app`.
    pub async fn start(port: u16, app: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let connections = Arc::new(AtomicU64::new(0));
        let bytes = Arc::new(AtomicU64::new(0));
        let (c, b) = (Arc::clone(&connections), Arc::clone(&bytes));
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            while let Ok((down, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
                let b = Arc::clone(&b);
                conns.spawn(async move {
                    let Ok(up) = tokio::net::TcpStream::connect(app).await else {
                        return;
                    };
                    let (down_r, down_w) = down.into_split();
                    let (up_r, up_w) = up.into_split();
                    tokio::join!(pump(down_r, up_w, Some(b)), pump(up_r, down_w, None));
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self {
            connections,
            bytes,
            task,
        })
    }

    /// Connections accepted for the app so far.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// Bytes sent to the app so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CertWatch {
    /// Reads every proxy's identity every [`IDENTITY_POLL`] and keeps each new one.
    pub fn start(proxies: Vec<(String, SocketAddr)>) -> Self {
        let seen: Arc<Mutex<BTreeMap<String, Vec<Identity>>>> = Arc::default();
        let s = Arc::clone(&seen);
        let task = tokio::spawn(async move {
            loop {
                for (id, admin) in &proxies {
                    let Ok(now) = identity(*admin).await else {
                        continue;
                    };
                    let mut seen = lock(&s);
                    let list = seen.entry(id.clone()).or_default();
                    if list.last() != Some(&now) {
                        list.push(now);
                    }
                }
                tokio::time::sleep(IDENTITY_POLL).await;
            }
        });
        Self { seen, task }
    }

    /// Every distinct identity seen, by proxy, oldest first.
    pub fn seen(&self) -> BTreeMap<String, Vec<Identity>> {
        lock(&self.seen).clone()
    }

    /// Distinct `not_after` values seen, by proxy.
    pub fn expiries(&self) -> BTreeMap<String, Vec<u64>> {
        self.seen()
            .into_iter()
            .map(|(id, list)| {
                let mut e: Vec<u64> = list.iter().map(|i| i.not_after).collect();
                e.dedup();
                (id, e)
            })
            .collect()
    }
}

impl Drop for CertWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Copies `from` to `to` until either ends, counting the bytes in `counter`.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, counter: Option<Arc<AtomicU64>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(c) = &counter {
            c.fetch_add(n as u64, Ordering::SeqCst);
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
